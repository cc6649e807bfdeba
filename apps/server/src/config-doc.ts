import { describeConfig } from './config.js';

/** Markdown table of every setting, as embedded in README.md (`pnpm --filter @chat/server config:doc`). */
export function configTable(): string {
  const rows = describeConfig().map(
    (v) =>
      `| \`${v.name}\` | ${v.default === '' ? '(empty)' : `\`${String(v.default)}\``} | ${v.description} |`,
  );
  return ['| variable | default | meaning |', '|---|---|---|', ...rows].join('\n');
}

if (process.argv[1]?.endsWith('config-doc.ts')) process.stdout.write(`${configTable()}\n`);

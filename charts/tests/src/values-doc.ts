import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isMap, isNode, isScalar, type Pair, parseDocument, type YAMLMap } from 'yaml';
import { chartDir } from './helm.js';

/**
 * The README values table, generated from values.yaml: a `# -- text` comment (helm-docs style,
 * continued by the comment lines after it) documents the key below it. A documented map is one
 * row; an undocumented map is descended into.
 */
export interface ValueDoc {
  key: string;
  type: string;
  default: unknown;
  description: string;
}

export const START = '<!-- values-table:start -->';
export const END = '<!-- values-table:end -->';

function docComment(comment: string | null | undefined): string | undefined {
  if (!comment) return undefined;
  const lines = comment.split('\n').map((l) => l.replace(/^ ?/, ''));
  const start = lines.findLastIndex((l) => l.startsWith('-- '));
  if (start < 0) return undefined;
  return lines
    .slice(start)
    .map((l, i) => (i === 0 ? l.slice(3) : l).trim())
    .filter((l) => l.length > 0)
    .join(' ');
}

function typeOf(v: unknown): string {
  if (Array.isArray(v)) return 'list';
  if (v === null) return 'null';
  if (typeof v === 'object') return 'object';
  if (typeof v === 'number') return Number.isInteger(v) ? 'int' : 'float';
  return typeof v;
}

/** Rows for every documented key, plus the keys (leaves) that nothing documents. */
export function collect(yamlText: string): { rows: ValueDoc[]; undocumented: string[] } {
  const doc = parseDocument(yamlText);
  const rows: ValueDoc[] = [];
  const undocumented: string[] = [];
  const walk = (map: YAMLMap, prefix: string, firstComment: string | null | undefined) => {
    map.items.forEach((pair: Pair, index) => {
      const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
      const path = prefix ? `${prefix}.${key}` : key;
      const keyComment = isScalar(pair.key) ? pair.key.commentBefore : undefined;
      const text = docComment(keyComment ?? (index === 0 ? firstComment : undefined));
      if (text !== undefined) {
        const js: unknown = isNode(pair.value) ? pair.value.toJSON() : pair.value;
        rows.push({ key: path, type: typeOf(js), default: js, description: text });
      } else if (isMap(pair.value)) {
        walk(pair.value as YAMLMap, path, pair.value.commentBefore);
      } else {
        undocumented.push(path);
      }
    });
  };
  if (!isMap(doc.contents)) throw new Error('values.yaml is not a map');
  walk(doc.contents as YAMLMap, '', doc.contents.commentBefore ?? doc.commentBefore);
  return { rows, undocumented };
}

const cell = (s: string) => s.replace(/\|/g, '\\|');

export function valuesTable(yamlText: string): string {
  const { rows } = collect(yamlText);
  const lines = ['| Key | Type | Default | Description |', '|-----|------|---------|-------------|'];
  for (const r of rows) {
    const def = JSON.stringify(r.default);
    lines.push(`| \`${r.key}\` | ${r.type} | \`${cell(def)}\` | ${cell(r.description)} |`);
  }
  return lines.join('\n');
}

export const valuesPath = join(chartDir, 'values.yaml');
export const readmePath = join(chartDir, 'README.md');

/** README.md with the table between the markers replaced by the current one. */
export function withTable(readme: string, table: string): string {
  const a = readme.indexOf(START);
  const b = readme.indexOf(END);
  if (a < 0 || b < a) throw new Error(`README.md needs ${START} and ${END}`);
  return `${readme.slice(0, a + START.length)}\n${table}\n${readme.slice(b)}`;
}

if (process.argv[1]?.endsWith('values-doc.ts') && process.argv.includes('--write')) {
  const readme = readFileSync(readmePath, 'utf8');
  writeFileSync(readmePath, withTable(readme, valuesTable(readFileSync(valuesPath, 'utf8'))));
  process.stdout.write(`updated ${readmePath}\n`);
}

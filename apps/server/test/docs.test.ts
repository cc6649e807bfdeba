import { readFileSync } from 'node:fs';
import { CLOSE_CODES, type CloseAction, ERROR_CODE_INFO, ERROR_CODES } from '@chat/protocol';
import { describe, expect, it } from 'vitest';
import { configTable } from '../src/config-doc.js';

const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');
const section = (name: string) => {
  const m = new RegExp(`<!-- ${name}:start -->\\n([\\s\\S]*?)\\n<!-- ${name}:end -->`).exec(readme);
  if (!m?.[1]) throw new Error(`README.md has no ${name} section`);
  return m[1];
};

const ACTION_TEXT: Record<CloseAction, string> = {
  'stay-closed': 'stay closed',
  'reconnect-soon': 'reconnect soon, jittered, resume',
  'reconnect-backoff': 'reconnect with backoff, resume',
  'reconnect-slow': 'reconnect with a longer backoff',
  'refresh-token': 'get a new token, then reconnect',
  'reconnect-after-hint': 'reconnect after the hinted delay',
};

describe('README stays in sync with the code', () => {
  it('documents every setting exactly as config.ts declares it', () => {
    expect(section('config')).toBe(configTable());
  });

  it('lists every error code with its meaning from packages/protocol', () => {
    const rows = section('error-codes').split('\n').slice(2);
    expect(rows.map((r) => r.split('|')[1]?.trim().replaceAll('`', ''))).toEqual([...ERROR_CODES]);
    for (const code of ERROR_CODES) {
      const { meaning, retry } = ERROR_CODE_INFO[code];
      expect(rows).toContain(`| \`${code}\` | ${meaning} | ${retry ? 'yes' : 'no'} |`);
    }
  });

  it('lists every close code with its action from packages/protocol', () => {
    const rows = section('close-codes').split('\n').slice(2);
    expect(rows.map((r) => Number(r.split('|')[1]))).toEqual(CLOSE_CODES.map((c) => c.code));
    for (const c of CLOSE_CODES) {
      const row = rows.find((r) => r.startsWith(`| ${c.code} |`));
      expect(row, String(c.code)).toContain(c.meaning);
      expect(row, String(c.code)).toContain(ACTION_TEXT[c.action]);
    }
  });
});

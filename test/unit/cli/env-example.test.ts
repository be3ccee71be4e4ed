import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { envSchema } from '../../../src/config.js';

/** Active (uncommented) KEY=value lines of .env.example. */
function exampleKeys(): string[] {
  const text = readFileSync(new URL('../../../.env.example', import.meta.url), 'utf8');
  return text
    .split(/\r?\n/)
    .map((l) => /^([A-Z][A-Z0-9_]*)=/.exec(l.trim())?.[1])
    .filter((k): k is string => k !== undefined);
}

describe('.env.example', () => {
  it('lists exactly the variables src/config.ts reads, each once', () => {
    const keys = exampleKeys();
    expect(new Set(keys).size).toBe(keys.length);
    expect([...keys].sort()).toEqual(Object.keys(envSchema.shape).sort());
  });

  it('every value it shows validates (so copying it to .env works)', () => {
    const text = readFileSync(new URL('../../../.env.example', import.meta.url), 'utf8');
    const env: Record<string, string> = {};
    for (const l of text.split(/\r?\n/)) {
      const m = /^([A-Z][A-Z0-9_]*)=(.*)$/.exec(l.trim());
      if (m && m[2] !== '') env[m[1]] = m[2];
    }
    expect(envSchema.safeParse(env).success).toBe(true);
  });
});

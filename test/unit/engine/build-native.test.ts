/**
 * scripts/build-native.mjs (npm's postinstall) without a compiler: a clear message, exit 0 so that
 * `npm install` still succeeds and onnxruntime scores, or exit 1 where GENSEMBLE_NATIVE=require.
 * (The successful build is what every native-scorer test runs on; CI builds it with =require.)
 */
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const script = join(root, 'scripts', 'build-native.mjs');

function build(env: Record<string, string>): { status: number | null; out: string } {
  const r = spawnSync(process.execPath, [script], {
    encoding: 'utf8',
    env: { ...process.env, GENSEMBLE_NATIVE: '', ...env },
    timeout: 60_000,
  });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

describe('build-native.mjs', () => {
  it('without a compiler: says why and exits 0 (onnxruntime scores)', () => {
    const r = build({ CXX: 'no-such-compiler-gensemble' });
    expect(r.status).toBe(0);
    expect(r.out).toMatch(
      /native scorer not built \(no C\+\+ compiler \(no-such-compiler-gensemble\).*scoring uses onnxruntime/,
    );
  });
  it('GENSEMBLE_NATIVE=require makes that an error', () => {
    const r = build({ CXX: 'no-such-compiler-gensemble', GENSEMBLE_NATIVE: 'require' });
    expect(r.status).toBe(1);
    expect(r.out).toMatch(/could not be built: no C\+\+ compiler/);
  });
  it('GENSEMBLE_NATIVE=off skips the build', () => {
    const r = build({ GENSEMBLE_NATIVE: 'off', CXX: 'no-such-compiler-gensemble' });
    expect(r.status).toBe(0);
    expect(r.out).toMatch(/GENSEMBLE_NATIVE=off, native scorer not built/);
  });
});

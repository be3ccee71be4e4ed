/**
 * `gensemble train` after a SIGKILL (or a TERM, which says what it kept): the same command trains only
 * the members the killed run had not finished (kept in <out>.partial), and writes the checkpoint an
 * uninterrupted run writes.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli, cliBin, creditCsv as csv, repoRoot } from '../../helpers/cli.js';
import type { CheckpointManifest } from '../../../src/engine/checkpoint.js';
import { DirectoryMemberStore } from '../../../src/engine/member-store.js';
import { duration } from '../../../src/commands/train.js';

const args = (out: string): string[] => [
  'train',
  '--kind',
  'transactions',
  '--data',
  csv,
  '--out',
  out,
  '--members',
  '3',
  '--steps',
  '200',
  '--limit',
  '4000',
];

const memberFiles = (dir: string): Promise<string[]> => new DirectoryMemberStore(dir).files();

/**
 * Starts `gensemble train`, sends `signal` as soon as a finished member is on disk; the member files on
 * disk afterwards, the exit code and stderr.
 */
async function stopAfterFirstMember(
  out: string,
  signal: NodeJS.Signals,
): Promise<{ files: string[]; code: number | null; stderr: string }> {
  const child = spawn(process.execPath, [cliBin, ...args(out)], {
    cwd: repoRoot,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  const deadline = Date.now() + 90_000;
  let done = false;
  void exited.then(() => (done = true));
  while (!done && Date.now() < deadline) {
    if ((await memberFiles(`${out}.partial`)).length > 0) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  child.kill(signal);
  const code = await exited;
  return { files: await memberFiles(`${out}.partial`), code, stderr };
}

describe('duration (the pace in train log lines)', () => {
  it('writes seconds, minutes and hours', () => {
    expect([0, 0.4, 59.4, 60, 185, 3599, 3600, 3725, 90_000].map(duration)).toEqual([
      '0s',
      '0s',
      '59s',
      '1m00s',
      '3m05s',
      '59m59s',
      '1h00m',
      '1h02m',
      '25h00m',
    ]);
  });
});

describe('gensemble train resumes a killed run', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'gensemble-resume-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reuses the finished members, trains the rest, and equals an uninterrupted run', async () => {
    const out = join(dir, 'tx');
    const kept = (await stopAfterFirstMember(out, 'SIGKILL')).files;
    expect(kept.length).toBeGreaterThanOrEqual(1);
    expect(kept.length).toBeLessThan(3); // killed before the end: something is left to train
    expect(existsSync(join(out, 'manifest.json'))).toBe(false);
    const keptMembers = kept.map((f) => Number(/^train-worker-(\d+)-/.exec(f)?.[1])).sort();

    const again = await cli(args(out), 180_000);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toMatch(/^resuming: \d+ finished member file\(s\) in .*tx\.partial/m);
    for (const m of keptMembers)
      expect(again.stderr).toMatch(
        new RegExp(`^member ${m}: reused, finished by an earlier run at \\S+ on wasm`, 'm'),
      );
    const trainedAgain = [0, 1, 2].filter((m) => !keptMembers.includes(m));
    for (const m of trainedAgain) expect(again.stderr).toMatch(new RegExp(`^member ${m} step 200/200`, 'm'));
    for (const m of keptMembers) expect(again.stderr).not.toMatch(new RegExp(`^member ${m} step`, 'm'));
    expect(again.stdout).toContain(`${keptMembers.length} reused from an earlier run`);
    expect(again.stderr.match(/^tfjs backend: wasm/gm)).toHaveLength(1); // said once, member 0 reused or not
    expect(existsSync(`${out}.partial`)).toBe(false); // removed once the checkpoint is saved
    const resumed = JSON.parse(await readFile(join(out, 'manifest.json'), 'utf8')) as CheckpointManifest;
    expect(resumed.trainingConfig.resumedMembers).toEqual({ vae: keptMembers, critic: [] });

    const fresh = join(dir, 'tx-fresh');
    const whole = await cli([...args(fresh), '--no-resume', '--no-progress'], 180_000);
    expect(whole.code, whole.stderr).toBe(0);
    expect(whole.stderr).not.toContain('reused');
    const m = JSON.parse(await readFile(join(fresh, 'manifest.json'), 'utf8')) as CheckpointManifest;
    expect(m.trainingConfig.resumedMembers).toBeUndefined();
    // same members bit for bit, so the same weights, graph, calibration and thresholds
    expect(resumed.weights.sha256).toBe(m.weights.sha256);
    expect(resumed.onnx.sha256).toBe(m.onnx.sha256);
    expect(resumed.thresholds).toEqual(m.thresholds);
  }, 300_000);

  it('a TERM says what is kept; --no-resume trains everything again; --workers 1 trains one at a time', async () => {
    const out = join(dir, 'tx2');
    // a TERM (or Ctrl-C) says what is kept and how to resume
    const stopped = await stopAfterFirstMember(out, 'SIGTERM');
    expect(stopped.files.length).toBeGreaterThanOrEqual(1);
    expect(stopped.code).toBe(143);
    expect(stopped.stderr).toContain(
      `SIGTERM: stopped; ${stopped.files.length} finished member(s) kept in ${out}.partial; the same command resumes`,
    );
    // --workers 1: one member at a time, so each member's last step comes before the next one's first
    const r = await cli([...args(out), '--no-resume', '--workers', '1'], 180_000);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).not.toMatch(/resuming|reused/);
    expect(existsSync(`${out}.partial`)).toBe(false);
    const lines = r.stderr.split('\n');
    const at = (re: RegExp): number => lines.findIndex((l) => re.test(l));
    for (const m of [0, 1]) {
      expect(at(new RegExp(`^member ${m} step 200/200`))).toBeGreaterThan(-1);
      expect(at(new RegExp(`^member ${m} step 200/200`))).toBeLessThan(
        at(new RegExp(`^member ${m + 1} step`)),
      );
    }
    // each log line carries the member's time so far and, at its pace, the time to its last step
    expect(r.stderr).toMatch(/^member 0 step 100\/200 loss \S+ val \S+ \(\d+s, \d+s to go\)$/m);
    expect(r.stderr).toMatch(/^member 0 step 200\/200 loss \S+ val \S+ \(\d+s\)$/m);
    const bad = await cli([...args(join(dir, 'x')), '--workers', '0']);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/--workers/);
  }, 300_000);
});

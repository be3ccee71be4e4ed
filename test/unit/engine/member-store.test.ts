/**
 * Finished members kept on disk so that an interrupted ensemble training resumes
 * (src/engine/member-store.ts): the codec, the job key, the directory store's verification; and, with
 * real worker threads, that a resumed ensemble is bit-identical to one trained in a single run.
 */
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  decodeMemberResult,
  DirectoryMemberStore,
  encodeMemberResult,
  memberJobKey,
} from '../../../src/engine/member-store.js';
import { trainEnsemble, type ReusedMember } from '../../../src/engine/ensemble-train.js';
import { Rng } from '../../../src/engine/random.js';
import type { MemberSpec } from '../../../src/engine/spec.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'gensemble-members-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const sample = () => ({
  params: {
    'enc.0.w': {
      shape: [3, 5],
      data: new Float32Array([1.5, -2, 3e-8, 0, -0, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]),
    },
    odd: { shape: [3], data: new Float32Array([0.1, 0.2, 0.3]) },
  },
  ints: new Int32Array([-1, 2, 2 ** 31 - 1]),
  bytes: new Uint8Array([255, 0, 7]),
  f64: new Float64Array([Math.PI, Number.MIN_VALUE]),
  history: [
    { step: 1, loss: Number.NaN, bestValIwae: undefined },
    { step: 2, loss: Number.POSITIVE_INFINITY, val: Number.NEGATIVE_INFINITY },
  ],
  bestValIwae: null,
  stoppedEarly: false,
  name: 'member "zero" ✓',
});

describe('member result codec', () => {
  it('round-trips typed arrays bit for bit, non-finite numbers, nulls, strings and nesting', () => {
    const v = sample();
    const back = decodeMemberResult(encodeMemberResult(v)) as ReturnType<typeof sample>;
    expect(back.params['enc.0.w'].shape).toEqual([3, 5]);
    expect(back.params['enc.0.w'].data).toBeInstanceOf(Float32Array);
    expect(
      Buffer.from(back.params['enc.0.w'].data.buffer).equals(Buffer.from(v.params['enc.0.w'].data.buffer)),
    ).toBe(true);
    expect(Object.is(back.params['enc.0.w'].data[4], -0)).toBe(true);
    expect(Array.from(back.params.odd.data)).toEqual(Array.from(v.params.odd.data));
    expect(back.ints).toBeInstanceOf(Int32Array);
    expect(Array.from(back.ints)).toEqual([-1, 2, 2 ** 31 - 1]);
    expect(Array.from(back.bytes)).toEqual([255, 0, 7]);
    expect(Array.from(back.f64)).toEqual([Math.PI, Number.MIN_VALUE]);
    expect(Number.isNaN(back.history[0].loss)).toBe(true);
    expect('bestValIwae' in back.history[0]).toBe(false);
    expect(back.history[1].loss).toBe(Number.POSITIVE_INFINITY);
    expect(back.history[1].val).toBe(Number.NEGATIVE_INFINITY);
    expect(back.bestValIwae).toBeNull();
    expect(back.stoppedEarly).toBe(false);
    expect(back.name).toBe(v.name);
    // each decoded array owns its buffer, so a worker transfer or a later write touches nothing else
    expect(back.params.odd.data.byteOffset).toBe(0);
    expect(back.params.odd.data.buffer.byteLength).toBe(12);
  });

  it('refuses what it cannot keep, and a truncated body', () => {
    expect(() => encodeMemberResult({ $t: 'x' })).toThrow(/\$t/);
    expect(() => encodeMemberResult({ f: () => 1 })).toThrow(/function/);
    const body = encodeMemberResult(sample());
    expect(() => decodeMemberResult(body.subarray(0, body.byteLength - 8))).toThrow(/truncated/);
  });
});

describe('memberJobKey', () => {
  const job = (data: Float32Array, extra: Record<string, unknown> = {}) => {
    const sab = new SharedArrayBuffer(data.byteLength);
    new Float32Array(sab).set(data);
    return { member: 1, seed: 1000, data: sab, n: 4, options: { steps: 30, batchSize: 2 }, ...extra };
  };
  const x = new Float32Array([0, 0.25, 0.5, 1]);

  it('depends on every input of the job, not on object identity or key order', () => {
    const k = memberJobKey('train-worker', job(x));
    expect(k).toMatch(/^[0-9a-f]{64}$/);
    expect(memberJobKey('train-worker', job(new Float32Array(x)))).toBe(k);
    const reordered = {
      options: { batchSize: 2, steps: 30 },
      n: 4,
      seed: 1000,
      data: job(x).data,
      member: 1,
    };
    expect(memberJobKey('train-worker', reordered)).toBe(k);
    expect(memberJobKey('train-worker', job(x, { ignored: undefined }))).toBe(k);
    const y = new Float32Array(x);
    y[3] = Math.fround(1 + 2 ** -23); // one bit of one value
    expect(memberJobKey('train-worker', job(y))).not.toBe(k);
    expect(memberJobKey('train-worker', job(x, { member: 2 }))).not.toBe(k);
    expect(memberJobKey('train-worker', job(x, { options: { steps: 31, batchSize: 2 } }))).not.toBe(k);
    expect(memberJobKey('train-worker', job(x, { bootstrap: true }))).not.toBe(k);
    expect(memberJobKey('wgan-worker', job(x))).not.toBe(k);
  });

  it('tells a typed array from the same bytes in another type, and -0 from 0', () => {
    const a = { w: new Float32Array([1, 2]) };
    const b = { w: new Int32Array(new Float32Array([1, 2]).buffer) };
    expect(memberJobKey('e', a)).not.toBe(memberJobKey('e', b));
    expect(memberJobKey('e', { lr: 0 })).not.toBe(memberJobKey('e', { lr: -0 }));
  });
});

describe('DirectoryMemberStore', () => {
  const job = { member: 0, seed: 7, options: { steps: 3 } };

  it('gives back what it saved for the same job only, with when and on what it trained', async () => {
    const store = new DirectoryMemberStore(path.join(dir, 'out.partial'));
    expect(await store.load('train-worker', 0, job)).toBeUndefined(); // no directory yet
    await store.save('train-worker', 0, job, sample(), 'wasm (SIMD, 1 thread)');
    const files = await store.files();
    expect(files).toHaveLength(1);
    expect(files[0]).toMatch(/^train-worker-0-[0-9a-f]{16}\.member$/);
    const kept = await store.load<ReturnType<typeof sample>>('train-worker', 0, job);
    expect(kept).toBeDefined();
    expect(kept?.backend).toBe('wasm (SIMD, 1 thread)');
    expect(Date.parse(kept?.savedAt ?? '')).toBeGreaterThan(Date.now() - 60_000);
    expect(Array.from(kept?.result.params.odd.data ?? [])).toEqual(Array.from(sample().params.odd.data));
    expect(await store.load('train-worker', 0, { ...job, seed: 8 })).toBeUndefined();
    expect(await store.load('train-worker', 1, job)).toBeUndefined();
    expect(await store.load('wgan-worker', 0, job)).toBeUndefined();
    await store.clear();
    expect(await store.files()).toEqual([]);
  });

  it('reports and skips a file whose body was changed or cut, and leaves no temporary file', async () => {
    const warnings: string[] = [];
    const store = new DirectoryMemberStore(path.join(dir, 'p'), (w) => warnings.push(w));
    await store.save('train-worker', 0, job, sample(), null);
    const file = path.join(store.dir, (await store.files())[0]);
    const bytes = await readFile(file);
    expect((await readdir(store.dir)).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    const flipped = Buffer.from(bytes);
    flipped[flipped.length - 3] ^= 1;
    await writeFile(file, flipped);
    expect(await store.load('train-worker', 0, job)).toBeUndefined();
    expect(warnings.at(-1)).toMatch(
      /not a usable member \(SHA-256 of its body does not match\); member 0 trains again/,
    );
    await writeFile(file, bytes.subarray(0, bytes.length - 100));
    expect(await store.load('train-worker', 0, job)).toBeUndefined();
    expect(warnings.at(-1)).toMatch(/header says/);
    await writeFile(file, 'not a member');
    expect(await store.load('train-worker', 0, job)).toBeUndefined();
    expect(warnings.at(-1)).toMatch(/no header line/);
    await writeFile(file, bytes);
    expect(await store.load('train-worker', 0, job)).toBeDefined();
    expect(warnings).toHaveLength(3);
  });

  it('a member that cannot be saved is a warning, not a failure', async () => {
    const blocker = path.join(dir, 'a-file');
    await writeFile(blocker, 'x');
    const warnings: string[] = [];
    const store = new DirectoryMemberStore(path.join(blocker, 'partial'), (w) => warnings.push(w));
    await store.save('train-worker', 2, job, sample(), null);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/member 2 not saved .*not resumable/);
  });
});

describe('trainEnsemble with a member store (real worker threads)', () => {
  const spec: MemberSpec = {
    arch: { kind: 'mlp', inputDim: 6, encoderHidden: [8], decoderHidden: [8], latentDim: 2 },
    likelihood: 'bernoulli',
    prior: { kind: 'standard' },
  };
  const rng = new Rng(11);
  const data = new Float32Array(200 * 6).map(() => (rng.uniform() < 0.3 ? 1 : 0));
  const options = { members: 3, seed: 4, k: 16, concurrency: 2, train: { steps: 30, batchSize: 20 } };
  const same = (a: Float32Array, b: Float32Array): boolean =>
    Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(
      Buffer.from(b.buffer, b.byteOffset, b.byteLength),
    );

  it('trains only the members an earlier run did not finish, and the result is the single run’s bit for bit', async () => {
    const store = new DirectoryMemberStore(path.join(dir, 'm.partial'));
    const whole = await trainEnsemble(spec, data, 200, { ...options, store });
    expect(await store.files()).toHaveLength(3);

    // the run "stopped" after members 0 and 2: member 1's file is gone
    await rm(path.join(store.dir, (await store.files()).find((f) => f.startsWith('train-worker-1-')) ?? 'x'));
    const trained = new Set<number>();
    const reused: ReusedMember[] = [];
    const resumed = await trainEnsemble(spec, data, 200, {
      ...options,
      store,
      onProgress: (m) => trained.add(m),
      onReused: (r) => reused.push(r),
    });
    expect([...trained]).toEqual([1]);
    expect(reused.map((r) => r.member).sort()).toEqual([0, 2]);
    expect(reused[0].backend).toMatch(/wasm/);
    for (let m = 0; m < 3; m++) {
      expect(resumed.members[m].seed).toBe(whole.members[m].seed);
      expect(same(resumed.members[m].eps, whole.members[m].eps)).toBe(true);
      for (const name of Object.keys(whole.members[m].params))
        expect(same(resumed.members[m].params[name].data, whole.members[m].params[name].data)).toBe(true);
      expect(resumed.histories[m].bestStep).toBe(whole.histories[m].bestStep);
      expect(resumed.histories[m].history.length).toBe(whole.histories[m].history.length);
    }

    // another seed or step count is another job: nothing is reused
    const other: ReusedMember[] = [];
    await trainEnsemble(spec, data, 200, {
      ...options,
      members: 1,
      train: { steps: 31, batchSize: 20 },
      store,
      onReused: (r) => other.push(r),
    });
    expect(other).toEqual([]);
  }, 120_000);
});

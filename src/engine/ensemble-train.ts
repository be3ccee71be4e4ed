/**
 * Trains M ensemble members independently (different seeds, optionally bootstrap-resampled data)
 * in parallel with worker_threads: tfjs-wasm uses one thread per process in Node, so a pool of
 * min(M, cores) workers keeps every core busy. Each worker returns its MemberParams (buffers
 * transferred) and its training history; progress events are forwarded per member.
 */
import os from 'node:os';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { BackendName } from './backend.js';
import { makeEps } from './random.js';
import { dataDim, type MemberSpec, type TrainedMember } from './spec.js';
import type { TrainOptions, TrainProgress, TrainResult } from './train.js';
import type { TrainJob } from './train-worker.js';
import { GensembleError } from '../errors.js';
import type { MemberStore, StoredMember } from './member-store.js';

export class EnsembleTrainError extends GensembleError {
  declare readonly code: 'E_ENSEMBLE_OPTIONS' | 'E_ENSEMBLE_MEMBER';
  readonly member: number | null;
  constructor(
    code: 'E_ENSEMBLE_OPTIONS' | 'E_ENSEMBLE_MEMBER',
    message: string,
    member: number | null = null,
  ) {
    super(code, message);
    this.member = member;
  }
}

export interface EnsembleTrainOptions {
  /** Number of members M. Default 5. */
  members?: number;
  /** Base seed; member m trains with seed baseSeed + 1000·m. Default 0. */
  seed?: number;
  /** Importance samples of the stored fixed eps per member. Default 16. */
  k?: number;
  /** Worker pool size. Default min(M, os.availableParallelism()). */
  concurrency?: number;
  /** Train each member on its own bootstrap resample of the data. Default false. */
  bootstrap?: boolean;
  /** Per-member training options (seed is set per member). */
  train?: Omit<TrainOptions, 'onProgress' | 'signal' | 'validation' | 'seed' | 'initialParams'>;
  validation?: { data: Float32Array; n: number };
  /** tfjs backend inside the workers. Default 'auto'. */
  backend?: BackendName | 'auto';
  onProgress?: (member: number, event: TrainProgress) => void;
  /** Called once per worker start with the backend it trains on. */
  onBackend?: (member: number, detail: string, warnings: string[]) => void;
  /** Keeps finished members so that a run that stopped resumes (see {@link runMemberWorkers}). */
  store?: MemberStore;
  /** A member taken from `store` instead of trained. */
  onReused?: (reused: ReusedMember) => void;
}

export interface EnsembleTrainResult {
  members: TrainedMember[];
  histories: TrainResult[];
  elapsedMs: number;
}

/** Seed of member m. */
export function memberSeed(baseSeed: number, m: number): number {
  return (baseSeed + 1000 * m) >>> 0;
}

/** Offset between a member's training seed and the seed of its stored eps. */
export const EPS_SEED_OFFSET = 0x9e37;

/**
 * Starts a worker thread running the engine module `entry` (its base name beside this file, e.g.
 * 'train-worker' or 'wgan-worker'). From TypeScript sources (tsx, vitest) the worker is a tiny eval'd
 * bootstrap that registers tsx's ESM hooks and then imports `${entry}.ts` (`--import tsx` in a
 * worker's execArgv does not take effect under Node 20); from compiled JavaScript it is
 * `${entry}.js` itself. A bootstrap that fails logs 'gensemble <entry with spaces> failed to start'
 * (e.g. 'gensemble train worker failed to start') and exits with code 70.
 */
export function startWorker(entry: string): Worker {
  const self = import.meta.url;
  if (!self.endsWith('.ts')) return new Worker(new URL(`./${entry}.js`, self));
  const workerUrl = new URL(`./${entry}.ts`, self).href;
  const tsxDir = path.dirname(createRequire(self).resolve('tsx/package.json'));
  const tsxApi = pathToFileURL(path.join(tsxDir, 'dist', 'esm', 'api', 'index.mjs')).href;
  const label = `gensemble ${entry.replace(/-/g, ' ')} failed to start:`;
  const boot =
    `import(${JSON.stringify(tsxApi)}).then((m) => { m.register(); return import(${JSON.stringify(workerUrl)}); })` +
    `.catch((e) => { console.error(${JSON.stringify(label)}, e); process.exit(70); });`;
  return new Worker(boot, { eval: true });
}

/** A copy of `a` in a SharedArrayBuffer (handed to every worker without a copy per worker). */
export function toShared(a: Float32Array): SharedArrayBuffer {
  const sab = new SharedArrayBuffer(a.length * 4);
  new Float32Array(sab).set(a);
  return sab;
}

export { memberErrorMessage, serveMemberJobs, type MemberWorkerMessage } from './member-worker.js';
import type { MemberWorkerMessage } from './member-worker.js';

/** A member that an earlier run finished and this one took from its {@link MemberStore}. */
export type ReusedMember = Omit<StoredMember<unknown>, 'result'> & { member: number };

/**
 * Runs `members` jobs in a pool of `concurrency` worker threads of the engine module `entry` (see
 * {@link startWorker}), one worker per member: posts job(member) to it, forwards its progress and
 * backend messages, and returns the results in member order. When a member fails (an error message,
 * a worker error, or an exit without a result) no further member starts, the other workers are
 * terminated and the first failure is thrown as an {@link EnsembleTrainError} (E_ENSEMBLE_MEMBER).
 *
 * With a `store`, a member whose very job an earlier run finished is read back instead of trained
 * (`onReused` hears of it), and each member is saved there as soon as its worker returns it, so the
 * members finished before a failure or a kill are not trained again by the next run.
 */
export async function runMemberWorkers<E, R>(opts: {
  entry: string;
  members: number;
  concurrency: number;
  job: (member: number) => unknown;
  onProgress?: (member: number, event: E) => void;
  onBackend?: (member: number, detail: string, warnings: string[]) => void;
  store?: MemberStore;
  onReused?: (reused: ReusedMember) => void;
}): Promise<R[]> {
  const m = opts.members;
  const results: R[] = new Array<R>(m);
  let next = 0;
  let failed: EnsembleTrainError | null = null;
  const workers = new Set<Worker>();

  const backends = new Map<number, string>();
  const runOne = (member: number, job: unknown): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      const worker = startWorker(opts.entry);
      workers.add(worker);
      let settled = false;
      const finish = (err: EnsembleTrainError | null): void => {
        if (settled) return;
        settled = true;
        workers.delete(worker);
        void worker.terminate();
        if (err) reject(err);
        else resolve();
      };
      worker.on('message', (msg: MemberWorkerMessage<E, R>) => {
        if (msg.type === 'progress') opts.onProgress?.(msg.member, msg.event);
        else if (msg.type === 'backend') {
          backends.set(member, msg.detail);
          opts.onBackend?.(msg.member, msg.detail, msg.warnings);
        } else if (msg.type === 'result') {
          results[member] = msg.result;
          finish(null);
        } else if (msg.type === 'error') {
          finish(new EnsembleTrainError('E_ENSEMBLE_MEMBER', `member ${member}: ${msg.message}`, member));
        }
      });
      worker.on('error', (e) =>
        finish(
          new EnsembleTrainError(
            'E_ENSEMBLE_MEMBER',
            `member ${member}: worker failed: ${e.message}`,
            member,
          ),
        ),
      );
      worker.on('exit', (code) =>
        finish(
          new EnsembleTrainError(
            'E_ENSEMBLE_MEMBER',
            `member ${member}: worker exited (code ${code}) without a result`,
            member,
          ),
        ),
      );
      worker.postMessage(job);
    });

  const lane = async (): Promise<void> => {
    while (failed === null && next < m) {
      const member = next++;
      const job = opts.job(member);
      try {
        const kept = await opts.store?.load<R>(opts.entry, member, job);
        if (kept !== undefined) {
          const { result, ...info } = kept;
          results[member] = result;
          opts.onReused?.({ member, ...info });
          continue;
        }
        await runOne(member, job);
        await opts.store?.save(opts.entry, member, job, results[member], backends.get(member) ?? null);
      } catch (e) {
        failed = e as EnsembleTrainError;
        for (const w of workers) void w.terminate();
      }
    }
  };
  await Promise.all(Array.from({ length: opts.concurrency }, () => lane()));
  if (failed !== null) throw failed;
  return results;
}

export async function trainEnsemble(
  spec: MemberSpec,
  data: Float32Array,
  n: number,
  options: EnsembleTrainOptions = {},
): Promise<EnsembleTrainResult> {
  const m = options.members ?? 5;
  const k = options.k ?? 16;
  if (!Number.isInteger(m) || m < 1)
    throw new EnsembleTrainError('E_ENSEMBLE_OPTIONS', `members must be ≥ 1, got ${m}`);
  if (!Number.isInteger(k) || k < 1)
    throw new EnsembleTrainError('E_ENSEMBLE_OPTIONS', `k must be ≥ 1, got ${k}`);
  const d = dataDim(spec.arch);
  if (data.length !== n * d) {
    throw new EnsembleTrainError(
      'E_ENSEMBLE_OPTIONS',
      `training data holds ${data.length} values, expected ${n}×${d}`,
    );
  }
  const conc = Math.max(1, Math.min(m, options.concurrency ?? os.availableParallelism()));
  const t0 = performance.now();
  const shared = toShared(data);
  const sharedVal =
    options.validation !== undefined
      ? { data: toShared(options.validation.data), n: options.validation.n }
      : undefined;
  const baseSeed = options.seed ?? 0;
  const results = await runMemberWorkers<TrainProgress, TrainResult>({
    entry: 'train-worker',
    members: m,
    concurrency: conc,
    job: (member): TrainJob => ({
      member,
      seed: memberSeed(baseSeed, member),
      spec,
      data: shared,
      n,
      ...(sharedVal !== undefined ? { validation: sharedVal } : {}),
      bootstrap: options.bootstrap ?? false,
      options: options.train ?? {},
      backend: options.backend ?? 'auto',
    }),
    onProgress: (member, event) => options.onProgress?.(member, event),
    onBackend: (member, detail, warnings) => options.onBackend?.(member, detail, warnings),
    ...(options.store ? { store: options.store } : {}),
    ...(options.onReused ? { onReused: options.onReused } : {}),
  });
  const dz = spec.arch.latentDim;
  const members: TrainedMember[] = results.map((r, i) => {
    const seed = memberSeed(baseSeed, i);
    return { seed, params: r.params, eps: makeEps((seed + EPS_SEED_OFFSET) >>> 0, k, dz) };
  });
  return { members, histories: results, elapsedMs: performance.now() - t0 };
}

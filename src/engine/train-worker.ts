/**
 * worker_threads entry that trains one ensemble member (see ensemble-train.ts).
 * Receives a {@link TrainJob}, posts {@link WorkerMessage}s: progress events, then one result
 * (parameter buffers transferred, not copied) or an error.
 */
import { initBackend, type BackendName } from './backend.js';
import { trainMember, type TrainOptions, type TrainProgress, type TrainResult } from './train.js';
import { bootstrapIndices, takeRows } from '../data/splits.js';
import { dataDim, type MemberSpec } from './spec.js';
import { memberErrorMessage, serveMemberJobs, type MemberWorkerMessage } from './member-worker.js';

export interface TrainJob {
  member: number;
  seed: number;
  spec: MemberSpec;
  /** Shared training data [n, D]. */
  data: SharedArrayBuffer | ArrayBuffer;
  n: number;
  validation?: { data: SharedArrayBuffer | ArrayBuffer; n: number };
  /** Train on a bootstrap resample (n draws with replacement, seeded) of the data. */
  bootstrap: boolean;
  options: Omit<TrainOptions, 'onProgress' | 'signal' | 'validation' | 'seed' | 'initialParams'>;
  backend: BackendName | 'auto';
}

export type WorkerMessage = MemberWorkerMessage<TrainProgress, TrainResult>;

export async function runJob(
  job: TrainJob,
  post: (m: WorkerMessage, transfer?: ArrayBuffer[]) => void,
): Promise<void> {
  try {
    const info = await initBackend(job.backend);
    post({ type: 'backend', member: job.member, detail: info.detail, warnings: info.warnings });
    const d = dataDim(job.spec.arch);
    let data = new Float32Array(job.data, 0, job.n * d);
    if (job.bootstrap) {
      // the member's seed is salted so the resample is independent of its initialisation
      data = takeRows(data, d, bootstrapIndices(job.n, (job.seed ^ 0xb0075) >>> 0));
    }
    const validation =
      job.validation !== undefined
        ? { data: new Float32Array(job.validation.data, 0, job.validation.n * d), n: job.validation.n }
        : undefined;
    const result = trainMember(job.spec, data, job.n, {
      ...job.options,
      seed: job.seed,
      ...(validation !== undefined ? { validation } : {}),
      onProgress: (event) => post({ type: 'progress', member: job.member, event }),
    });
    const transfer = Object.values(result.params).map((p) => p.data.buffer as ArrayBuffer);
    post({ type: 'result', member: job.member, result }, transfer);
  } catch (e) {
    post(memberErrorMessage(job.member, e));
  }
}

serveMemberJobs(runJob);

/**
 * worker_threads entry that trains one WGAN member (see wgan-train.ts trainWganEnsemble).
 * Receives a {@link WganJob}, posts {@link WganWorkerMessage}s: the backend, progress events, then one
 * result (parameter buffers transferred, not copied) or an error.
 */
import { initBackend } from './backend.js';
import { memberErrorMessage, serveMemberJobs } from './member-worker.js';
import { dataDim } from './spec.js';
import { trainWganMember, type WganJob, type WganWorkerMessage } from './wgan-train.js';
import { bootstrapIndices, takeRows } from '../data/splits.js';

export async function runWganJob(
  job: WganJob,
  post: (m: WganWorkerMessage, transfer?: ArrayBuffer[]) => void,
): Promise<void> {
  try {
    const info = await initBackend(job.backend);
    post({ type: 'backend', member: job.member, detail: info.detail, warnings: info.warnings });
    const d = dataDim(job.spec.arch);
    let data = new Float32Array(job.data, 0, job.n * d);
    if (job.bootstrap) {
      // salted like the VAE members' resample, so it is independent of the initialisation
      data = takeRows(data, d, bootstrapIndices(job.n, (job.seed ^ 0xb0075) >>> 0));
    }
    const result = trainWganMember(job.spec, data, job.n, {
      ...job.options,
      seed: job.seed,
      onProgress: (event) => post({ type: 'progress', member: job.member, event }),
    });
    const transfer = [...Object.values(result.critic), ...Object.values(result.generator ?? {})].map(
      (p) => p.data.buffer as ArrayBuffer,
    );
    post({ type: 'result', member: job.member, result }, transfer);
  } catch (e) {
    post(memberErrorMessage(job.member, e));
  }
}

serveMemberJobs(runWganJob);

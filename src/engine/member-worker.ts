/**
 * The worker side of ensemble training (train-worker.ts, wgan-worker.ts): the message a member's
 * worker posts and its job loop. Its own module so that the workers do not import ensemble-train.ts,
 * which names them (no import cycle).
 */
import { parentPort } from 'node:worker_threads';

/** What a member's worker posts (train-worker.ts, wgan-worker.ts): its backend, progress, then a result or an error. */
export type MemberWorkerMessage<E, R> =
  | { type: 'backend'; member: number; detail: string; warnings: string[] }
  | { type: 'progress'; member: number; event: E }
  | { type: 'result'; member: number; result: R }
  | { type: 'error'; member: number; message: string; code?: string };

/** The 'error' message of a member whose job threw `e` (its message, and its code when it has one). */
export function memberErrorMessage<E, R>(member: number, e: unknown): MemberWorkerMessage<E, R> {
  const err = e as { message?: string; code?: string };
  return {
    type: 'error',
    member,
    message: String(err.message ?? e),
    ...(err.code ? { code: err.code } : {}),
  };
}

/**
 * A member worker's entry (train-worker.ts, wgan-worker.ts): runs `run` on each job the parent posts,
 * posting its messages back (transfer lists passed through). Does nothing outside a worker thread.
 */
export function serveMemberJobs<J, E, R>(
  run: (job: J, post: (m: MemberWorkerMessage<E, R>, transfer?: ArrayBuffer[]) => void) => Promise<void>,
): void {
  if (parentPort !== null) {
    const port = parentPort;
    port.on('message', (job: J) => {
      void run(job, (m, transfer) => port.postMessage(m, transfer ?? []));
    });
  }
}

/**
 * `--rejects <file>` of `gensemble score` and `train`: the offline counterpart of the stream's
 * dead-letter topic. Records of the input file that cannot be read are skipped and listed, one JSON
 * object per line (`{"file","line","reason"}`), so that one bad line does not stop a batch job and
 * nothing is dropped without a trace. Without the option the first such record stops the command with
 * its one-line error, as before.
 */
import { createWriteStream, openSync, type WriteStream } from 'node:fs';
import { once } from 'node:events';
import { resolve } from 'node:path';
import { InputError } from '../errors.js';
import type { RejectedRecord } from '../kinds/types.js';

export interface RejectsSink {
  onReject(r: RejectedRecord): void;
  /** Records rejected so far. */
  readonly count: number;
  /** The first rejected record, for the summary line. */
  readonly first: RejectedRecord | undefined;
  /** Flushes and closes the file. */
  close(): Promise<void>;
}

/**
 * Opens `path` for the rejects of `input`. Refuses a path that is also one of `others` (the input file,
 * the output): the rejects file must never overwrite data.
 */
export function openRejects(path: string, input: string, others: string[] = []): RejectsSink {
  for (const o of [input, ...others]) {
    if (resolve(o) === resolve(path))
      throw new InputError('REJECTS_PATH', `--rejects ${path}: the same file as ${o}; choose another path`);
  }
  // opened now, so that a path that cannot be written is refused before any work
  let fd: number;
  try {
    fd = openSync(path, 'w');
  } catch (e) {
    throw new InputError('REJECTS_PATH', `--rejects ${path}: cannot write: ${(e as Error).message}`);
  }
  const out: WriteStream = createWriteStream(path, { fd });
  let failed: Error | null = null;
  out.on('error', (e) => (failed ??= e));
  let count = 0;
  let first: RejectedRecord | undefined;
  return {
    onReject(r) {
      count++;
      first ??= r;
      out.write(JSON.stringify({ file: input, line: r.line, reason: r.reason }) + '\n');
    },
    get count() {
      return count;
    },
    get first() {
      return first;
    },
    async close() {
      if (!failed && !out.writableFinished && !out.destroyed) {
        const done = Promise.race([once(out, 'finish'), once(out, 'error')]).catch(() => undefined);
        out.end();
        await done;
      }
      if (failed) throw new InputError('REJECTS_WRITE', `--rejects ${path}: cannot write: ${failed.message}`);
    },
  };
}

/** `, 3 records rejected (line 7: …; all in rejects.jsonl)` or ''. */
export function rejectsSummary(sink: RejectsSink | undefined, path: string | undefined): string {
  if (!sink || sink.count === 0) return '';
  const f = sink.first!;
  return `; ${sink.count} record${sink.count === 1 ? '' : 's'} rejected (first: line ${f.line}: ${f.reason}; all in ${path})`;
}

/**
 * The CLI as a user runs it: `node bin/gensemble.js ARGS` in a child process (the built entry point,
 * no in-process shortcut), with the exit code and both output streams; the local data sets' paths.
 */
import { execFile } from 'node:child_process';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
export const repoRoot = resolve(import.meta.dirname, '../..');
export const cliBin = join(repoRoot, 'bin/gensemble.js');
export const cliDataDir = process.env.GENSEMBLE_DATA_DIR ?? resolve(repoRoot, '../shared/datasets');
export const creditCsv = join(cliDataDir, 'creditcard/creditcard-subset.csv.gz');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the CLI; a non-zero exit is returned as its code, not thrown. */
export async function cli(args: string[], timeoutMs = 120_000): Promise<CliResult> {
  try {
    const r = await run(process.execPath, [cliBin, ...args], { cwd: repoRoot, timeout: timeoutMs });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const err = e as { code?: number; stdout?: string; stderr?: string };
    return {
      code: typeof err.code === 'number' ? err.code : -1,
      stdout: err.stdout ?? '',
      stderr: err.stderr ?? '',
    };
  }
}

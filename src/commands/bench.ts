/**
 * `gensemble bench image-ood | credit-fraud | toy-2d [options]`: the offline benchmarks (paper Tables 2 and 3)
 * over the same build/scoring path as the stream. The benchmarks live in benchmarks/ (above src/ in
 * the layout: they import the product, never the reverse), so this command runs the benchmark's own
 * script in a child process with the options given (see `gensemble bench image-ood --help`) and
 * passes its exit code on.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { InputError } from '../errors.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

const BENCHMARKS: Record<string, string> = {
  'image-ood': 'Table 2: MNIST / Fashion-MNIST OoD detection',
  'credit-fraud': 'Table 3: credit-card fraud detection',
  'toy-2d': "Figure 2: a 2-D Gaussian; a VAE's density, four WGAN critics, their variance (about a minute)",
};

/** Runs benchmarks/<name>/run.ts under tsx with `args`; resolves to its exit code. */
export function runBenchmark(name: string, args: readonly string[]): Promise<number> {
  const script = join(ROOT, 'benchmarks', name, 'run.ts');
  if (!existsSync(script))
    throw new InputError(
      'BENCH_MISSING',
      `${script} not found: the benchmarks ship with the source tree, not with an installed package`,
    );
  return new Promise((resolveCode, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], {
      stdio: 'inherit',
      cwd: process.cwd(),
    });
    child.on('error', reject);
    child.on('close', (code, signal) => resolveCode(code ?? (signal ? 1 : 0)));
  });
}

export function register(program: Command): void {
  const bench = program
    .command('bench')
    .description('rerun the paper benchmarks (image OoD, credit fraud) and write reports');
  for (const [name, description] of Object.entries(BENCHMARKS)) {
    bench
      .command(name)
      .description(`${description} (options: gensemble bench ${name} --help)`)
      .helpOption(false)
      .allowUnknownOption()
      .allowExcessArguments()
      .argument('[options...]', "the benchmark's options, passed through")
      .action(async (args: string[]) => {
        const code = await runBenchmark(name, args);
        if (code !== 0) process.exitCode = code;
      });
  }
}

import { Command, CommanderError } from 'commander';
import { GensembleError, UsageError } from './errors.js';

/**
 * The one `gensemble` CLI. Each sub-command lives in src/commands/<name>.ts and registers itself
 * here; this file only owns argument parsing and the error → exit-code policy:
 * bad arguments and expected failures print ONE clear line on stderr and exit non-zero (2 for usage,
 * 1 for everything else), never a stack trace (set GENSEMBLE_DEBUG=1 to see one).
 */

export { parseFloatArg, parseIntArg, parseIntList, parseKindName } from './commands/args.js';

type Register = (program: Command) => void;

/**
 * Command modules, imported lazily: `gensemble flags` should not pay for loading tfjs and
 * onnxruntime. A run of one sub-command imports only that module; `--help` imports all of them.
 */
const COMMANDS: Record<string, () => Promise<{ register: Register }>> = {
  train: () => import('./commands/train.js'),
  score: () => import('./commands/score.js'),
  serve: () => import('./commands/serve.js'),
  replay: () => import('./commands/replay.js'),
  flags: () => import('./commands/flags.js'),
  models: () => import('./commands/models.js'),
  bench: () => import('./commands/bench.js'),
  datasets: () => import('./commands/datasets.js'),
  schemas: () => import('./commands/schemas.js'),
  kinds: () => import('./commands/kinds.js'),
};

async function commandModules(only?: string): Promise<Register[]> {
  const names = only !== undefined && only in COMMANDS ? [only] : Object.keys(COMMANDS);
  const mods = await Promise.all(names.map((n) => COMMANDS[n]()));
  return mods.map((m) => m.register);
}

export async function buildProgram(only?: string): Promise<Command> {
  const program = new Command('gensemble')
    .description('Fraud and anomaly detection on Kafka streams with a Generative Ensemble of VAEs')
    .version('0.1.0')
    .exitOverride()
    .configureOutput({ outputError: (str, write) => write(str) })
    .showHelpAfterError('(run with --help for usage)');
  for (const register of await commandModules(only)) register(program);
  const override = (cmds: readonly Command[]): void => {
    for (const cmd of cmds) {
      cmd.exitOverride();
      override(cmd.commands);
    }
  };
  override(program.commands);
  return program;
}

export async function main(argv: string[]): Promise<number> {
  // argv = [node, script, command, ...]: load just that command when it names one.
  const program = await buildProgram(argv[2]);
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // help and version exit with code 0; commander already printed what it had to.
      return err.exitCode === 0 ? 0 : 2;
    }
    if (process.env.GENSEMBLE_DEBUG) console.error(err);
    process.stderr.write(`gensemble: error: ${formatCliError(err)}\n`);
    return err instanceof UsageError ? 2 : 1;
  }
}

/**
 * The one line the CLI prints for a failure: the message and, in brackets, the error's code — every
 * project error is a GensembleError with one; an error from elsewhere that carries a string `code`
 * (Node's ENOENT, a pg error's SQLSTATE) prints it too.
 */
export function formatCliError(err: unknown): string {
  if (err instanceof GensembleError) return `${err.message} [${err.code}]`;
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return typeof code === 'string' && code !== '' ? `${err.message} [${code}]` : err.message;
  }
  return String(err);
}

/**
 * Every error class of the project is a GensembleError with a code, and the CLI prints that code
 * (`gensemble: error: <message> [<code>]`). Before issue 12 the engine's own classes (TrainError,
 * VaeError, ...) extended Error and printed without their code.
 */
import { describe, expect, it } from 'vitest';
import { GensembleError } from '../../../src/errors.js';
import { formatCliError } from '../../../src/cli.js';
import { TrainError } from '../../../src/engine/train.js';
import { VaeError } from '../../../src/engine/vae.js';
import { BackendError } from '../../../src/engine/backend.js';
import { EnsembleTrainError } from '../../../src/engine/ensemble-train.js';
import { FgsmError } from '../../../src/engine/fgsm.js';
import { DemoDataError } from '../../../scripts/demo-data.js';
import { ClassifierError } from '../../../benchmarks/credit-fraud/classifier.js';

const cases: [string, Error, string][] = [
  ['TrainError', new TrainError('E_TRAIN_DATA', 'need at least one training record'), 'E_TRAIN_DATA'],
  ['VaeError', new VaeError('E_VAE_INPUT', 'bad input'), 'E_VAE_INPUT'],
  ['BackendError', new BackendError('no backend'), 'E_BACKEND'],
  [
    'EnsembleTrainError',
    new EnsembleTrainError('E_ENSEMBLE_MEMBER', 'member 1 died', 1),
    'E_ENSEMBLE_MEMBER',
  ],
  ['FgsmError', new FgsmError('bad epsilon'), 'E_FGSM_INPUT'],
  ['DemoDataError', new DemoDataError('E_DEMO_DATA', 'no data'), 'E_DEMO_DATA'],
  ['ClassifierError', new ClassifierError('bad rows'), 'E_CLASSIFIER_INPUT'],
];

describe('error classes carry a code the CLI prints', () => {
  it.each(cases)('%s is a GensembleError and prints with its code', (name, err, code) => {
    expect(err).toBeInstanceOf(GensembleError);
    expect(err.name).toBe(name);
    expect((err as GensembleError).code).toBe(code);
    expect((err as GensembleError).retriable).toBe(false);
    expect(formatCliError(err)).toBe(`${err.message} [${code}]`);
  });

  it('an error from outside with a string code (Node ENOENT) prints it too; a plain Error prints its message', () => {
    const enoent = Object.assign(new Error("ENOENT: no such file or directory, open 'x'"), {
      code: 'ENOENT',
    });
    expect(formatCliError(enoent)).toBe(`${enoent.message} [ENOENT]`);
    expect(formatCliError(new Error('plain'))).toBe('plain');
    expect(formatCliError('a string')).toBe('a string');
  });
});

/**
 * The benchmarks' command-line flags: the image benchmarks' shared options (sets.ts, used by the VAE
 * columns in run.ts and the WGAN columns in wgan.ts) and the credit benchmark's representation flags.
 */
import { Command, type OptionValues } from 'commander';
import { describe, expect, it } from 'vitest';
import { imageOodCommand, optionsFromFlags, type ImageOodFlags } from '../../../benchmarks/image-ood/run.js';
import { wganCommand, wganOptionsFromFlags, type WganFlags } from '../../../benchmarks/image-ood/wgan.js';
import { intFlag, parseTrainSets } from '../../../benchmarks/image-ood/sets.js';
import {
  creditCommand,
  creditOptionsFromFlags,
  type CreditFlags,
} from '../../../benchmarks/credit-fraud/run.js';

const parse = <T extends OptionValues>(cmd: Command, args: string[]): T =>
  cmd.parse(args, { from: 'user' }).opts<T>();

describe('image benchmark flags (shared by the VAE and WGAN columns)', () => {
  it('parses --train and integer flags, with clear errors', () => {
    expect(parseTrainSets('both')).toEqual(['mnist', 'fashion']);
    expect(parseTrainSets('fashion')).toEqual(['fashion']);
    expect(() => parseTrainSets('cifar')).toThrow(/--train must be mnist, fashion or both, got cifar/);
    expect(intFlag('--steps', undefined)).toBeUndefined();
    expect(intFlag('--steps', '500')).toBe(500);
    expect(() => intFlag('--steps', 'abc')).toThrow(/--steps must be a non-negative integer, got abc/);
    expect(() => intFlag('--members', '-1')).toThrow(/--members/);
    expect(() => intFlag('--max-eval', '2.5')).toThrow(/--max-eval/);
  });

  it('both commands take the same common options and their own', () => {
    const vae = optionsFromFlags(
      parse<ImageOodFlags>(imageOodCommand(new Command('x')), [
        '--train',
        'mnist',
        '--steps',
        '100',
        '--members',
        '2',
        '--max-eval',
        '50',
        '--arch',
        'conv',
        '--base',
        '8',
        '--train-samples',
        '16',
      ]),
    );
    expect(vae).toMatchObject({
      train: ['mnist'],
      steps: 100,
      members: 2,
      maxEval: 50,
      arch: 'conv',
      base: 8,
      trainSamples: 16,
    });
    const wgan = wganOptionsFromFlags(
      parse<WganFlags>(wganCommand(new Command('y')), [
        '--train',
        'fashion',
        '--steps',
        '100',
        '--members',
        '3',
        '--finetune-steps',
        '40',
        '--finetune-losses',
        'wasserstein,logistic',
      ]),
    );
    expect(wgan).toMatchObject({
      train: ['fashion'],
      steps: 100,
      members: 3,
      fineTuneSteps: 40,
      fineTuneLosses: ['wasserstein', 'logistic'],
    });
    // the default is the engine's objective; unknown or repeated objectives are refused
    expect(wganOptionsFromFlags(parse<WganFlags>(wganCommand(new Command('y')), [])).fineTuneLosses).toEqual([
      'logistic',
    ]);
    expect(
      wganOptionsFromFlags(parse<WganFlags>(wganCommand(new Command('y')), ['--lipschitz', 'gp'])).lipschitz,
    ).toBe('gp');
    expect(() =>
      wganOptionsFromFlags(parse<WganFlags>(wganCommand(new Command('y')), ['--lipschitz', 'spectral'])),
    ).toThrow(/--lipschitz must be clip or gp/);
    for (const bad of ['hinge', 'logistic,logistic', 'wasserstein,'])
      expect(() =>
        wganOptionsFromFlags(parse<WganFlags>(wganCommand(new Command('y')), ['--finetune-losses', bad])),
      ).toThrow(/--finetune-losses/);
    // a malformed number is an error in both (the VAE columns used to turn it into NaN)
    expect(() =>
      optionsFromFlags(parse<ImageOodFlags>(imageOodCommand(new Command('x')), ['--steps', 'many'])),
    ).toThrow(/--steps must be a non-negative integer/);
    expect(() =>
      wganOptionsFromFlags(parse<WganFlags>(wganCommand(new Command('y')), ['--members', 'x'])),
    ).toThrow(/--members must be a non-negative integer/);
  });
});

describe('credit benchmark flags', () => {
  it('--representations and --raw-time', () => {
    const o = creditOptionsFromFlags(
      parse<CreditFlags>(creditCommand(new Command('c')), [
        '--representations',
        'bernoulli-minmax,student-standard',
        '--raw-time',
      ]),
    );
    expect(o.representations).toEqual(['bernoulli-minmax', 'student-standard']);
    expect(o.rawTime).toBe(true);
    const d = creditOptionsFromFlags(parse<CreditFlags>(creditCommand(new Command('c')), []));
    expect(d.representations).toBeUndefined();
    expect(d.rawTime).toBeUndefined();
    expect(() =>
      creditOptionsFromFlags(
        parse<CreditFlags>(creditCommand(new Command('c')), ['--representations', 'laplace']),
      ),
    ).toThrow(/--representations: unknown "laplace"/);
  });

  it('--arch enc/dec/z', () => {
    const flags = (a: string[]): CreditFlags => parse<CreditFlags>(creditCommand(new Command('c')), a);
    expect(creditOptionsFromFlags(flags(['--arch', '64,64/64,64/8'])).arch).toEqual({
      encoderHidden: [64, 64],
      decoderHidden: [64, 64],
      latentDim: 8,
    });
    expect(creditOptionsFromFlags(flags([])).arch).toBeUndefined();
    for (const bad of ['64/64', '64,x/64/8', '64/64/0', '64/-1/8'])
      expect(() => creditOptionsFromFlags(flags(['--arch', bad]))).toThrow(/--arch must/);
  });
});

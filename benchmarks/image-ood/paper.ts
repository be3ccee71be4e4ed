/** The paper's Table 2 values (AUROC %, Choi & Jang 2018) for the VAE columns we rerun, and the goals. */
export type TrainSet = 'mnist' | 'fashion';
export type OodName =
  'omniglot' | 'notmnist' | 'other' | 'uniform' | 'gaussian' | 'hflip' | 'vflip' | 'adversarial';
export const OOD_NAMES: readonly OodName[] = [
  'omniglot',
  'notmnist',
  'other',
  'uniform',
  'gaussian',
  'hflip',
  'vflip',
  'adversarial',
];

export interface PaperRow {
  rate: number;
  logp: number;
  waic: number;
  /** The goal for gensemble's default score (the paper's best value of the row). */
  goal: number;
}

export const PAPER_TABLE2: Record<TrainSet, Record<OodName, PaperRow>> = {
  mnist: {
    omniglot: { rate: 99.1, logp: 98.2, waic: 100, goal: 100 },
    notmnist: { rate: 99.9, logp: 100, waic: 100, goal: 100 },
    other: { rate: 94.7, logp: 100, waic: 100, goal: 100 },
    uniform: { rate: 99.3, logp: 100, waic: 100, goal: 100 },
    gaussian: { rate: 100, logp: 100, waic: 100, goal: 100 },
    hflip: { rate: 90.0, logp: 84.9, waic: 86.1, goal: 90.0 },
    vflip: { rate: 89.3, logp: 81.9, waic: 80.7, goal: 89.3 },
    adversarial: { rate: 100, logp: 0, waic: 100, goal: 100 },
  },
  fashion: {
    omniglot: { rate: 97.7, logp: 55.0, waic: 46.5, goal: 97.7 },
    notmnist: { rate: 99.7, logp: 95.3, waic: 80.9, goal: 99.7 },
    other: { rate: 97.1, logp: 40.4, waic: 14.2, goal: 97.1 },
    uniform: { rate: 95.6, logp: 100, waic: 0, goal: 100 },
    gaussian: { rate: 89.2, logp: 100, waic: 0, goal: 100 },
    hflip: { rate: 72.4, logp: 59.0, waic: 53.5, goal: 72.4 },
    vflip: { rate: 87.1, logp: 68.9, waic: 57.5, goal: 90.2 },
    adversarial: { rate: 100, logp: 0, waic: 99.3, goal: 100 },
  },
};

export function oodLabel(train: TrainSet, o: OodName): string {
  const names: Record<OodName, string> = {
    omniglot: 'Omniglot',
    notmnist: 'notMNIST',
    other: train === 'mnist' ? 'Fashion-MNIST' : 'MNIST',
    uniform: 'Uniform',
    gaussian: 'Gaussian',
    hflip: 'HFlip',
    vflip: 'VFlip',
    adversarial: 'Adversarial',
  };
  return names[o];
}

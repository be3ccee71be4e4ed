/**
 * The scorer of a 'vae+wgan' model: one raw batch through the VAE ensemble's graph (OnnxScorer: log p,
 * rate, Var, WAIC …) and through the WGAN critic ensemble's graph (CriticScorer: each D(x), mean,
 * Var), returned as ONE {@link ScoreBatch} with `critic` set, so every rule (the critic scores, a dose
 * rule over both families' statistics) reads one batch. The two graphs run one after the other on the
 * same onnxruntime thread pool settings: scoring costs the sum of both.
 */
import type { CriticScorer } from './critic-scorer.js';
import { ScorerRuntimeError } from './errors.js';
import type { ScoreBatch, Scorer } from './types.js';

export class VaeWganScorer implements Scorer {
  constructor(
    private readonly vae: Scorer,
    private readonly critics: CriticScorer,
  ) {
    if (vae.inputDim !== critics.inputDim)
      throw new ScorerRuntimeError(
        `the critic graph reads ${critics.inputDim} values per record, the VAE graph ${vae.inputDim}`,
      );
  }

  get inputDim(): number {
    return this.vae.inputDim;
  }

  /** VAE members (the critic count is ScoreBatch.critic.members). */
  get members(): number {
    return this.vae.members;
  }

  get criticMembers(): number {
    return this.critics.members;
  }

  get executionProvider(): string {
    return this.vae.executionProvider;
  }

  async scoreBatch(x: Float32Array, n: number): Promise<ScoreBatch> {
    const batch = await this.vae.scoreBatch(x, n);
    batch.critic = await this.critics.scoreBatch(x, n);
    return batch;
  }

  async close(): Promise<void> {
    await Promise.all([this.vae.close(), this.critics.close()]);
  }
}

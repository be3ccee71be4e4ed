/**
 * The rules buildModel stores: both kinds flag on 'dose' (densities fitted on the model's own
 * validation normals; frames add −log p − L(x)); frames get a threshold for every score, the 'combined'
 * option keeps its input-complexity components; transactions get no complexity-based score.
 * Built through the production pipeline (test/helpers/models.ts, cached between test files).
 */
import { describe, expect, it } from 'vitest';
import { testModel } from '../../helpers/models.js';
import { FRAMES_COMBINED_COMPONENTS } from '../../../src/engine/score-rules.js';

describe('buildModel default rules', () => {
  it('frames: dose over log p, rate, Var, −log p − L; combined option; thresholds for every score', async () => {
    const { manifest } = await testModel('frames');
    expect(manifest.scoreRule.score).toBe('dose');
    const dose = manifest.scoreRule.dose!;
    expect(dose.densities.map((d) => d.stat)).toEqual([
      'neg_logp',
      'rate',
      'logp_var',
      'neg_logp_ic',
      'feature_maha',
      'member_typicality',
    ]);
    // fitted on the validation split, not on the calibration records the thresholds come from
    expect(dose.fittedOn).toBe(manifest.trainingConfig.nValidation);
    expect(manifest.trainingConfig.doseFittedOn).toBe('validation');
    const comps = manifest.scoreRule.combined!.components;
    expect(comps.map(({ score, weight }) => ({ score, weight }))).toEqual(
      FRAMES_COMBINED_COMPONENTS.map(({ score, weight }) => ({ score, weight })),
    );
    for (const c of comps) expect(c.std).toBeGreaterThan(0);
    // L(x) of MNIST digits is hundreds of nats, so −log p − L differs from −log p on the calibration data
    const ic = comps.find((c) => c.score === 'neg_logp_ic')!;
    const lp = comps.find((c) => c.score === 'neg_logp')!;
    expect(lp.mean - ic.mean).toBeGreaterThan(300);
    expect(manifest.thresholds.map((t) => t.score).sort()).toEqual(
      [
        'combined',
        'dose',
        'feature_maha',
        'logp_var',
        'neg_logp',
        'neg_logp_ic',
        'neg_logp_single',
        'neg_waic',
        'rate',
        'typicality',
      ].sort(),
    );
    expect(manifest.scoreRule.typicality?.members).toBe(manifest.members.length);
  }, 300_000);

  it('transactions: dose over log p, rate, Var; no complexity-based score or component', async () => {
    const { manifest } = await testModel('transactions');
    expect(manifest.scoreRule.score).toBe('dose');
    expect(manifest.scoreRule.dose!.densities.map((d) => d.stat)).toEqual([
      'neg_logp',
      'rate',
      'logp_var',
      'feature_maha',
      'member_typicality',
    ]);
    expect(manifest.thresholds.map((t) => t.score)).toContain('dose');
    expect(manifest.scoreRule.combined!.components.map((c) => c.score)).toEqual([
      'neg_logp',
      'logp_var',
      'rate',
    ]);
    expect(manifest.thresholds.map((t) => t.score)).not.toContain('neg_logp_ic');
    expect(manifest.thresholds.map((t) => t.score)).toContain('typicality');
  }, 300_000);
});

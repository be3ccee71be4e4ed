/**
 * Scoring helpers shared by the benchmarks: anomaly scores from a {@link ScoreBatch} (the engine's
 * own score rules), the three threshold-free metrics with OoD/fraud as the positive class, and ROC
 * points downsampled for plots.
 */
import {
  anomalyScores,
  fitCombinedRule,
  fitTypicalityRule,
  type CombinedComponentSpec,
  type CombinedRule,
  type FittedRules,
  type TypicalityFitOptions,
  type TypicalityRule,
} from '../../src/engine/score-rules.js';
import type { ScoreBatch, ScoreName } from '../../src/engine/types.js';
import { doseScores, fitDoseRule, type DoseRule, type DoseTails } from '../../src/engine/dose.js';
import { auroc, averagePrecision, fprAtTpr, rocCurve, type RocPoint } from '../../src/metrics/index.js';

export interface Metrics {
  auroc: number;
  ap: number;
  fpr95: number;
  /**
   * FPR@95%TPR with the NORMAL (in-distribution) class as positive, ranked by −score: the fraction of
   * anomalies that still pass at the threshold that passes 95 % of the normals (the miss rate at a 5 %
   * false-alarm rate). This is the convention of the paper's authors' code for its log p and WAIC
   * columns (hschoi1/rich_latent `tools/statistics.py: plot_analysis`). Absent in results written
   * before 2026-12-07.
   */
  fpr95Normal?: number;
  /** Average precision with the normal class as positive, ranked by −score (same convention). */
  apNormal?: number;
}

/** Scores of the benchmark tables: the paper's columns plus gensemble's rules. */
export const BENCH_SCORES = [
  'neg_logp_single',
  'rate',
  'logp_var',
  'neg_waic',
  'neg_logp',
  'combined',
  'neg_logp_ic',
  'dose',
] as const satisfies readonly ScoreName[];
export type BenchScore = (typeof BENCH_SCORES)[number];

export const SCORE_LABELS: Record<ScoreName, string> = {
  neg_logp_single: 'log p (single)',
  rate: 'Rate',
  logp_var: 'Var log p',
  neg_waic: 'WAIC',
  neg_logp: 'log p (mean)',
  neg_logp_ic: '−log p − L(x)',
  combined: 'combined z',
  typicality: 'typicality (Mahalanobis)',
  dose: 'DoSE (KDE over log p, rate, Var[, −log p − L][, input distance])',
  feature_maha: 'input distance (Mahalanobis under the input Gaussian)',
  feature_knn: 'nearest training record (squared distance)',
  dose_or_known: 'DoSE OR supervised head (labels)',
  neg_critic: '−mean D(x) (WGAN critics)',
  neg_critic_single: '−D(x) (one WGAN critic)',
  critic_var: 'Var D(x) (WGAN critics)',
};

/** Which per-member log p estimate a score reads: the IWAE-K bound or the K-sample ELBO. */
export type LogpEstimate = 'iwae' | 'elbo';

function estimates(b: ScoreBatch, est: LogpEstimate): Float32Array {
  if (est === 'iwae') return b.logp;
  if (!b.memberElbo) throw new Error('this ScoreBatch has no memberElbo (a scorer other than OnnxScorer)');
  return b.memberElbo;
}

/** Anomaly score of member m under one estimate: minus its log p (IWAE) or minus its ELBO. */
export function negMemberEstimate(b: ScoreBatch, m: number, est: LogpEstimate): Float64Array {
  const v = estimates(b, est);
  const out = new Float64Array(b.n);
  for (let i = 0; i < b.n; i++) out[i] = -v[i * b.members + m];
  return out;
}

/** −WAIC over all members of one estimate: −(mean − population variance over members). */
export function negWaicOf(b: ScoreBatch, est: LogpEstimate): Float64Array {
  const v = estimates(b, est);
  const M = b.members;
  const out = new Float64Array(b.n);
  for (let i = 0; i < b.n; i++) {
    let s = 0;
    for (let m = 0; m < M; m++) s += v[i * M + m];
    const mean = s / M;
    let q = 0;
    for (let m = 0; m < M; m++) q += (v[i * M + m] - mean) ** 2;
    out[i] = -(mean - q / M);
  }
  return out;
}

/**
 * The paper's log p (single) and WAIC columns as its authors' code computes them, from the K-sample
 * ELBO instead of the IWAE bound (hschoi1/rich_latent `tools/analysis.py: fetch`); empty when the
 * batch has no memberElbo.
 */
export function elboColumns(b: ScoreBatch): Record<string, Float64Array> {
  if (!b.memberElbo) return {};
  return { neg_elbo_single: negMemberEstimate(b, 0, 'elbo'), neg_waic_elbo: negWaicOf(b, 'elbo') };
}

/** NaN scores (a numerically broken record) count as maximally anomalous; returns how many there were. */
export function sanitize(s: Float64Array): number {
  let bad = 0;
  for (let i = 0; i < s.length; i++)
    if (Number.isNaN(s[i])) {
      s[i] = Infinity;
      bad++;
    }
  return bad;
}

export function scoresOf(batch: ScoreBatch, name: ScoreName, rules?: FittedRules): Float64Array {
  const s = anomalyScores(batch, name, rules);
  sanitize(s);
  return s;
}

/** Concatenates negatives then positives with labels 0 then 1. */
export function labelled(neg: ArrayLike<number>, pos: ArrayLike<number>): { s: Float64Array; y: Uint8Array } {
  const s = new Float64Array(neg.length + pos.length);
  s.set(neg as ArrayLike<number>, 0);
  s.set(pos as ArrayLike<number>, neg.length);
  const y = new Uint8Array(s.length);
  y.fill(1, neg.length);
  return { s, y };
}

export function metrics(neg: ArrayLike<number>, pos: ArrayLike<number>): Metrics {
  const { s, y } = labelled(neg, pos);
  const sNormal = s.map((v) => -v);
  const yNormal = y.map((v) => 1 - v);
  return {
    auroc: auroc(s, y),
    ap: averagePrecision(s, y),
    fpr95: fprAtTpr(s, y, 0.95),
    fpr95Normal: fprAtTpr(sNormal, yNormal, 0.95),
    apNormal: averagePrecision(sNormal, yNormal),
  };
}

export function roc(
  neg: ArrayLike<number>,
  pos: ArrayLike<number>,
  maxPoints = 120,
): Array<{ fpr: number; tpr: number }> {
  const { s, y } = labelled(neg, pos);
  return rocCurve(s, y, { maxPoints }).map((p: RocPoint) => ({ fpr: round4(p.fpr), tpr: round4(p.tpr) }));
}

export const round4 = (v: number): number => Math.round(v * 1e4) / 1e4;
export const pct = (v: number): string => (Number.isFinite(v) ? (100 * v).toFixed(1) : 'n/a');

export function meanStd(v: number[]): { mean: number; std: number } {
  const m = v.reduce((a, b) => a + b, 0) / v.length;
  const s = v.length > 1 ? Math.sqrt(v.reduce((a, b) => a + (b - m) ** 2, 0) / (v.length - 1)) : 0;
  return { mean: m, std: s };
}

/** Every k-th value (at most max values) for histograms in the JSON/plots. */
export function thin(a: ArrayLike<number>, max = 2000): number[] {
  const step = Math.max(1, Math.ceil(a.length / max));
  const out: number[] = [];
  for (let i = 0; i < a.length; i += step) out.push(Math.round(a[i] * 100) / 100);
  return out;
}

/** GitHub-flavoured Markdown table. */
export function mdTable(header: string[], rows: string[][]): string {
  const line = (cells: string[]): string => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

// ------------------------------------------------------------------ candidate default rules

/**
 * Extra candidates for the default rule: z-normalised combinations (the engine's 'combined' hook
 * with other components/weights), their statistics fitted on held-out NORMAL validation data.
 * A negative weight on rate says "a posterior close to the prior (low rate) is anomalous".
 */
export const EXTRA_RULES = {
  combined_lp_mrate: [
    { score: 'neg_logp', weight: 1 },
    { score: 'rate', weight: -1 },
  ],
  combined_lp_var_mrate: [
    { score: 'neg_logp', weight: 1 },
    { score: 'logp_var', weight: 1 },
    { score: 'rate', weight: -1 },
  ],
  // two-sided "typicality" terms (transform 'abs': |s − mean|/std): an input whose log p or rate is
  // unusually HIGH is as suspicious as one whose value is unusually low.
  combined_alp: [{ score: 'neg_logp', weight: 1, transform: 'abs' }],
  combined_alp_mrate: [
    { score: 'neg_logp', weight: 1, transform: 'abs' },
    { score: 'rate', weight: -1 },
  ],
  combined_alp_arate: [
    { score: 'neg_logp', weight: 1, transform: 'abs' },
    { score: 'rate', weight: 1, transform: 'abs' },
  ],
  combined_alp_var: [
    { score: 'neg_logp', weight: 1, transform: 'abs' },
    { score: 'logp_var', weight: 1 },
  ],
  combined_alp_var_mrate: [
    { score: 'neg_logp', weight: 1, transform: 'abs' },
    { score: 'logp_var', weight: 1 },
    { score: 'rate', weight: -1 },
  ],
  combined_lp_var_arate: [
    { score: 'neg_logp', weight: 1 },
    { score: 'logp_var', weight: 1 },
    { score: 'rate', weight: 1, transform: 'abs' },
  ],
  combined_alp_var_arate: [
    { score: 'neg_logp', weight: 1, transform: 'abs' },
    { score: 'logp_var', weight: 1 },
    { score: 'rate', weight: 1, transform: 'abs' },
  ],
  // input-complexity-corrected likelihood (−log p − L(x), Serrà et al. 2020; images only)
  combined_ic_var: [
    { score: 'neg_logp_ic', weight: 1 },
    { score: 'logp_var', weight: 1 },
  ],
  combined_ic_var_mrate: [
    { score: 'neg_logp_ic', weight: 1 },
    { score: 'logp_var', weight: 1 },
    { score: 'rate', weight: -1 },
  ],
  combined_ic_lp_var: [
    { score: 'neg_logp_ic', weight: 1 },
    { score: 'neg_logp', weight: 1 },
    { score: 'logp_var', weight: 1 },
  ],
  combined_ic_lp_var_mrate: [
    { score: 'neg_logp_ic', weight: 1 },
    { score: 'neg_logp', weight: 1 },
    { score: 'logp_var', weight: 1 },
    { score: 'rate', weight: -1 },
  ],
} as const satisfies Record<string, ReadonlyArray<CombinedComponentSpec>>;
export type ExtraRule = keyof typeof EXTRA_RULES;

/**
 * Typicality candidates: the engine's 'typicality' score (squared Mahalanobis distance of the
 * per-member score vector) with different feature sets / shrinkage, fitted on validation normals.
 */
export const TYPICALITY_RULES = {
  typ_logp: { features: 'logp', shrinkage: 0.01 },
  typ_logp_rate: { features: 'logp_rate', shrinkage: 0.01 },
  typ_logp_rate_s10: { features: 'logp_rate', shrinkage: 0.1 },
} as const satisfies Record<string, TypicalityFitOptions>;
export type TypicalityRuleId = keyof typeof TYPICALITY_RULES;

/**
 * Variants of the checkpoint's own dose rule: the same densities (build.ts's fit on the model's
 * validation normals) with another tail model; nothing is refitted.
 */
export const DOSE_VARIANTS = {
  dose_ev: { tails: 'exponential' },
} as const satisfies Record<string, { tails: DoseTails }>;
export type DoseVariantId = keyof typeof DOSE_VARIANTS;

const doseVariantCache = new WeakMap<DoseRule, Map<DoseVariantId, DoseRule>>();
/** The checkpoint's dose rule with a variant's tail model (one object per rule, so it compiles once). */
export function doseVariant(rule: DoseRule, id: DoseVariantId): DoseRule {
  let m = doseVariantCache.get(rule);
  if (!m) doseVariantCache.set(rule, (m = new Map()));
  let v = m.get(id);
  if (!v) m.set(id, (v = { ...rule, tails: DOSE_VARIANTS[id].tails }));
  return v;
}

export type RuleId = BenchScore | DoseVariantId | ExtraRule | TypicalityRuleId;
export const RULE_IDS: readonly RuleId[] = [
  ...BENCH_SCORES,
  ...(Object.keys(DOSE_VARIANTS) as DoseVariantId[]),
  ...(Object.keys(EXTRA_RULES) as ExtraRule[]),
  ...(Object.keys(TYPICALITY_RULES) as TypicalityRuleId[]),
];
export const RULE_LABELS: Record<RuleId, string> = {
  ...(SCORE_LABELS as Record<BenchScore, string>),
  dose_ev: 'DoSE with exponential tails',
  combined_lp_mrate: 'z(−log p) − z(rate)',
  combined_lp_var_mrate: 'z(−log p) + z(Var) − z(rate)',
  combined_alp: '|z(−log p)|',
  combined_alp_mrate: '|z(−log p)| − z(rate)',
  combined_alp_arate: '|z(−log p)| + |z(rate)|',
  combined_alp_var: '|z(−log p)| + z(Var)',
  combined_alp_var_mrate: '|z(−log p)| + z(Var) − z(rate)',
  combined_lp_var_arate: 'z(−log p) + z(Var) + |z(rate)|',
  combined_alp_var_arate: '|z(−log p)| + z(Var) + |z(rate)|',
  combined_ic_var: 'z(−log p − L) + z(Var)',
  combined_ic_var_mrate: 'z(−log p − L) + z(Var) − z(rate)',
  combined_ic_lp_var: 'z(−log p − L) + z(−log p) + z(Var)',
  combined_ic_lp_var_mrate: 'z(−log p − L) + z(−log p) + z(Var) − z(rate)',
  typ_logp: 'Mahalanobis(member log p)',
  typ_logp_rate: 'Mahalanobis(member log p, rate)',
  typ_logp_rate_s10: 'Mahalanobis(member log p, rate), α=0.1',
};

/** Whether a rule needs the input complexity (8-bit images only; not the credit benchmark). */
export function ruleNeedsComplexity(id: RuleId, ctx?: RuleContext): boolean {
  if (id === 'neg_logp_ic') return true;
  if (id === 'dose' || id in DOSE_VARIANTS)
    return (ctx?.dose?.densities ?? []).some((d) => d.stat === 'neg_logp_ic');
  if (id in EXTRA_RULES)
    return (EXTRA_RULES[id as ExtraRule] as ReadonlyArray<CombinedComponentSpec>).some(
      (c) => c.score === 'neg_logp_ic',
    );
  return false;
}

/**
 * The benchmark rule id that reproduces a checkpoint's own scoreRule.score: the engine's 'typicality'
 * is typ_logp_rate (same features and shrinkage as build.ts, fitted on the same calibration normals).
 */
export function ruleIdOfEngineScore(score: ScoreName): RuleId {
  // 'dose_or_known' needs labels, which the unsupervised candidate rules never see
  if (score === 'dose_or_known') throw new Error("'dose_or_known' is not an unsupervised benchmark rule");
  if (score === 'neg_critic' || score === 'neg_critic_single' || score === 'critic_var')
    throw new Error(`'${score}' needs a critic ensemble, which the VAE benchmark rules do not score`);
  if (score === 'feature_maha' || score === 'feature_knn')
    throw new Error(`'${score}' is not one of the benchmark's candidate rules`);
  return score === 'typicality' ? 'typ_logp_rate' : score;
}

export interface RuleContext {
  /** The checkpoint's combined rule (engine default components, fitted on calibration normals). */
  combined?: CombinedRule;
  /** The checkpoint's dose rule (fitted by build.ts on the model's validation normals). */
  dose?: DoseRule;
  /** EXTRA_RULES fitted on validation normals. */
  extra: Partial<Record<ExtraRule, CombinedRule>>;
  /** TYPICALITY_RULES fitted on validation normals. */
  typicality: Record<TypicalityRuleId, TypicalityRule>;
}

export function fitTypicalityRules(validationNormals: ScoreBatch): Record<TypicalityRuleId, TypicalityRule> {
  return Object.fromEntries(
    (Object.keys(TYPICALITY_RULES) as TypicalityRuleId[]).map((k) => [
      k,
      fitTypicalityRule(validationNormals, TYPICALITY_RULES[k]),
    ]),
  ) as Record<TypicalityRuleId, TypicalityRule>;
}

/**
 * EXTRA_RULES fitted on the given normals; rules that need the input complexity are left out when
 * the batch has none (tabular records), and scoring them then is an error.
 */
export function fitExtraRules(validationNormals: ScoreBatch): Partial<Record<ExtraRule, CombinedRule>> {
  return Object.fromEntries(
    (Object.keys(EXTRA_RULES) as ExtraRule[])
      .filter((k) => validationNormals.complexity !== undefined || !ruleNeedsComplexity(k))
      .map((k) => [k, fitCombinedRule(validationNormals, EXTRA_RULES[k])]),
  ) as Partial<Record<ExtraRule, CombinedRule>>;
}

export function ruleScores(batch: ScoreBatch, id: RuleId, ctx: RuleContext): Float64Array {
  if (id in DOSE_VARIANTS) {
    if (!ctx.dose) throw new Error(`rule ${id} needs the checkpoint's dose rule`);
    return scoresOf(batch, 'dose', { dose: doseVariant(ctx.dose, id as DoseVariantId) });
  }
  if (id in EXTRA_RULES) {
    const rule = ctx.extra[id as ExtraRule];
    if (!rule) throw new Error(`rule ${id} was not fitted (it needs the input complexity)`);
    return scoresOf(batch, 'combined', { combined: rule });
  }
  if (id in TYPICALITY_RULES)
    return scoresOf(batch, 'typicality', { typicality: ctx.typicality[id as TypicalityRuleId] });
  return scoresOf(batch, id as ScoreName, { combined: ctx.combined, dose: ctx.dose });
}

/**
 * −log f of one statistic, f a kernel density fitted on `fit` as the dose rule's densities are
 * (fitDoseRule: Silverman bandwidth, ≤ 1,024 support points, the given tails): the values ride in a
 * batch's rate field, the one statistic such a rule reads. For studies of a candidate dose statistic.
 */
export function densityTerm(
  fit: ArrayLike<number>,
  tails?: DoseRule['tails'],
): (values: ArrayLike<number>) => Float64Array {
  const carry = (v: ArrayLike<number>): ScoreBatch =>
    ({ n: v.length, members: 1, rate: Float32Array.from(v) }) as unknown as ScoreBatch;
  const rule = fitDoseRule(carry(fit), ['rate'], tails ? { tails } : {});
  return (v) => doseScores(carry(v), rule);
}

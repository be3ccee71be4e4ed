/**
 * Detector, serve side: a trained model opened for scoring, with ONE version name and ONE flag
 * decision, used by the stream (through ModelSource's hot reload), `gensemble score`, `models
 * register` and the benchmarks alike (the shape alibi-detect's detectors share: fit → infer a
 * threshold → score/predict → save/load through a validated config).
 *
 *   const d = await Detector.open('models/transactions');          // or a registry row
 *   const p = await d.predict(rows, n);                            // statistics, score, decisions
 *   p.decisions[i] === FLAGGED
 *
 * open() reads and verifies the checkpoint once (manifest, weights, graph; sha256 of each) and opens
 * the onnxruntime session on the verified bytes: model.onnx is read once per load.
 */
import { resolve } from 'node:path';
import {
  loadCheckpoint,
  modelFamily,
  type CheckpointManifest,
  type ModelFamily,
  type ModelKind,
} from '../engine/checkpoint.js';
import { CriticScorer } from '../engine/critic-scorer.js';
import { VaeWganScorer } from '../engine/family-scorer.js';
import { carriedInputStatistics, InputStatisticsScorer } from '../engine/feature-scorer.js';
import type { ScorerOptions } from '../engine/scorer.js';
import { createEnsembleScorer } from '../engine/ensemble-scorer.js';
import {
  anomalyScores,
  missingRule,
  needsComplexity,
  needsCritics,
  type FittedRules,
} from '../engine/score-rules.js';
import type { ScoreBatch, ScoreName, Scorer } from '../engine/types.js';
import { GensembleError } from '../errors.js';

/** A checkpoint to open, with what a registry row may override. */
export interface DetectorSource {
  dir: string;
  /** Version name recorded in flags (default: {@link versionName} of the manifest). */
  version?: string;
  /** Flag threshold (default: the manifest's calibrated threshold of the score). */
  threshold?: number;
  /** The score compared with the threshold (default: the manifest's rule). */
  score?: ScoreName;
}

/** The fields of a `model_versions` row that open a detector (structural: no store import). */
export interface RegistryRowLike {
  checkpointPath: string;
  version: string;
  threshold: number;
  scoreName: ScoreName;
}

export interface DetectorOpenOptions {
  /** Refuse a model of another kind. */
  kind?: ModelKind;
  scorer?: ScorerOptions;
  /** Further checks of the manifest (e.g. the kind's binding); throw to refuse the model. */
  accept?: (manifest: CheckpointManifest) => void;
}

export class DetectorError extends GensembleError {
  constructor(
    readonly dir: string,
    message: string,
    cause?: unknown,
  ) {
    super('DETECTOR_INVALID', `${dir}: ${message}`, { cause });
  }
}

/** What the flag rule says about one record. */
export const NOT_FLAGGED = 0;
export const FLAGGED = 1;
/** NaN or ±Infinity: the model could not score it. Never "not flagged". */
export const NON_FINITE = 2;
export type FlagDecision = typeof NOT_FLAGGED | typeof FLAGGED | typeof NON_FINITE;

/**
 * The flag decision, in one place: a score above the threshold is flagged; a NaN or ±Infinity score
 * is NON_FINITE — never "not flagged" (`NaN > t` is false, so a plain comparison would let a record
 * the model could not score pass silently). The stream dead-letters such a record
 * (NON_FINITE_SCORE); `gensemble score` counts it as flagged, as the benchmarks count a NaN score as
 * anomalous.
 */
export function flagDecision(score: number, threshold: number): FlagDecision {
  if (!Number.isFinite(score)) return NON_FINITE;
  return score > threshold ? FLAGGED : NOT_FLAGGED;
}

export interface Prediction {
  /** The ensemble's statistics per record (member log p and rate, mean, Var, WAIC, …). */
  batch: ScoreBatch;
  /** The detector's score per record. */
  score: Float64Array;
  /** {@link flagDecision} per record. */
  decisions: Uint8Array;
  flagged: number;
  nonFinite: number;
}

/**
 * The ONE version name of a checkpoint, whoever loads it: `<kind>-<createdAt as
 * yyyymmddThhmmssZ>-<first 12 hex of the ONNX sha256>` (stable and unique per build; readable).
 */
export function versionName(m: Pick<CheckpointManifest, 'kind' | 'createdAt' | 'onnx'>): string {
  const t = m.createdAt.replace(/[-:]/g, '').replace(/\.\d+/, '');
  return `${m.kind}-${t}-${m.onnx.sha256.slice(0, 12)}`;
}

export class Detector {
  private constructor(
    readonly dir: string,
    readonly manifest: CheckpointManifest,
    readonly scorer: Scorer,
    /** Recorded in every flag this detector produces. */
    readonly version: string,
    /** The score compared with the threshold. */
    readonly score: ScoreName,
    /** The manifest's fitted rules. */
    readonly rules: FittedRules,
    /** Flag when score > threshold. */
    readonly threshold: number,
  ) {}

  get kind(): ModelKind {
    return this.manifest.kind;
  }

  get inputDim(): number {
    return this.manifest.inputDim;
  }

  /** 'vae', or 'vae+wgan' when the checkpoint also holds a WGAN critic ensemble. */
  get family(): ModelFamily {
    return modelFamily(this.manifest);
  }

  /** Opens a checkpoint directory or a registry row. Throws DetectorError / CheckpointError. */
  static async open(
    source: string | DetectorSource | RegistryRowLike,
    o: DetectorOpenOptions = {},
  ): Promise<Detector> {
    const src: DetectorSource =
      typeof source === 'string'
        ? { dir: source }
        : 'checkpointPath' in source
          ? {
              dir: source.checkpointPath,
              version: source.version,
              threshold: source.threshold,
              score: source.scoreName,
            }
          : source;
    const dir = resolve(src.dir);
    const loaded = await loadCheckpoint(dir);
    const { manifest, spec, onnxBytes, critics } = loaded;
    if (o.kind !== undefined && manifest.kind !== o.kind)
      throw new DetectorError(dir, `holds a ${manifest.kind} model, not a ${o.kind} model`);
    if (o.accept) {
      try {
        o.accept(manifest);
      } catch (e) {
        throw new DetectorError(dir, (e as Error).message, e);
      }
    }
    const score = src.score ?? manifest.scoreRule.score;
    let threshold = src.threshold;
    if (threshold === undefined) {
      const t = manifest.thresholds.find((x) => x.score === score);
      if (!t) throw new DetectorError(dir, `the manifest has no calibrated threshold for score ${score}`);
      threshold = t.value;
    }
    const rules: FittedRules = {
      combined: manifest.scoreRule.combined,
      typicality: manifest.scoreRule.typicality,
      dose: manifest.scoreRule.dose,
      labelled: manifest.scoreRule.labelled,
    };
    const missing = missingRule(score, rules);
    if (missing) throw new DetectorError(dir, `score '${score}' needs manifest.scoreRule.${missing}`);
    if (!critics && needsCritics(score, rules))
      throw new DetectorError(
        dir,
        `score '${score}' needs a WGAN critic ensemble; this is a '${modelFamily(manifest)}' model (train with --family vae+wgan)`,
      );
    const vae = await createEnsembleScorer(spec, onnxBytes, {
      ...(o.scorer ?? {}),
      inputComplexity: (o.scorer?.inputComplexity ?? false) || needsComplexity(score, rules),
    });
    let scorer: Scorer = vae;
    if (critics) {
      try {
        const { inputComplexity: _ic, ...criticOptions } = o.scorer ?? {};
        scorer = new VaeWganScorer(vae, await CriticScorer.create(critics.onnxBytes, criticOptions));
      } catch (e) {
        await vae.close();
        throw e;
      }
    }
    // the input statistics (the Gaussian's distance, the nearest reference record's), for the scores
    // that read them (the dose rule of models built since detection protocols v5 and v7) and for the
    // benchmarks, which report every column
    const inputStatistics = carriedInputStatistics(loaded);
    if (inputStatistics) {
      const { inputComplexity: _ic, chunkSize: _cs, engine: _en, ...featureOptions } = o.scorer ?? {};
      scorer = await InputStatisticsScorer.create(scorer, inputStatistics, spec.transform, featureOptions);
    }
    return new Detector(dir, manifest, scorer, src.version ?? versionName(manifest), score, rules, threshold);
  }

  /** The flag decision of one score under this detector's threshold. */
  decide(score: number): FlagDecision {
    return flagDecision(score, this.threshold);
  }

  /** Any score of the manifest's rules (benchmarks report several) from a scored batch. */
  scoresOf(batch: ScoreBatch, name: ScoreName = this.score): Float64Array {
    return anomalyScores(batch, name, this.rules);
  }

  /** Scores n raw rows (row-major [n, inputDim]) and decides each. */
  async predict(raw: Float32Array, n: number): Promise<Prediction> {
    const batch = await this.scorer.scoreBatch(raw, n);
    const score = anomalyScores(batch, this.score, this.rules);
    const decisions = new Uint8Array(n);
    let flagged = 0;
    let nonFinite = 0;
    const th = this.threshold;
    for (let i = 0; i < n; i++) {
      const d = flagDecision(score[i], th);
      decisions[i] = d;
      if (d === FLAGGED) flagged++;
      else if (d === NON_FINITE) nonFinite++;
    }
    return { batch, score, decisions, flagged, nonFinite };
  }

  /**
   * The `model_versions` row of this checkpoint: its version name, score, threshold and the manifest
   * minus the per-tensor weight table (large; only the checkpoint loader needs it).
   */
  registration(version?: string): {
    version: string;
    kind: ModelKind;
    family: ModelFamily;
    checkpointPath: string;
    threshold: number;
    scoreName: ScoreName;
    manifest: Record<string, unknown>;
  } {
    const { weights, ...rest } = this.manifest;
    const summary = {
      ...rest,
      weights: { file: weights.file, byteLength: weights.byteLength, sha256: weights.sha256 },
    };
    return {
      version: version ?? this.version,
      kind: this.kind,
      family: this.family,
      checkpointPath: this.dir,
      threshold: this.threshold,
      scoreName: this.score,
      manifest: JSON.parse(JSON.stringify(summary)) as Record<string, unknown>,
    };
  }

  close(): Promise<void> {
    return this.scorer.close();
  }
}

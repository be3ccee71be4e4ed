/**
 * The model a consumer scores with, and its hot reload.
 *
 * A {@link ModelSource} holds the current {@link ActiveModel} (scorer + calibrated threshold +
 * version). `poll()` (run every MODEL_RELOAD_MS by `start()`) looks for a new version:
 *   - with a {@link ModelRegistry}: the kind's active `model_versions` row (its checkpoint path,
 *     version name, threshold and score name win over the manifest's);
 *   - otherwise (or while no row is active): the checkpoint directory's manifest.json.
 * A new version is loaded and validated in the background (loadCheckpoint checks sha256 of the
 * weights and graph, so a half-written directory is rejected and retried at the next poll) and
 * becomes current only between batches: a batch `acquire()`s the model it scores with and
 * `release()`s it; a replaced scorer is closed once no batch uses it.
 */
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Logger } from 'pino';
import { MANIFEST_FILE, type CheckpointManifest, type ModelKind } from '../engine/checkpoint.js';
import type { ScorerOptions } from '../engine/scorer.js';
import type { ScoreName } from '../engine/types.js';
import { Detector } from '../detector/detector.js';
import type { ModelRegistry } from '../store/model-registry.js';
import { StreamConfigError, describeError } from './errors.js';
import type { StreamMetrics } from './metrics.js';

/** The model a batch scores with: a {@link Detector} (scorer, rule, threshold, ONE version name). */
export type ActiveModel = Detector;

export interface ModelSourceOptions {
  kind: ModelKind;
  /** Checkpoint directory (used when no registry row is active). */
  dir?: string;
  registry?: ModelRegistry;
  scorer?: ScorerOptions;
  /** Poll interval of `start()` (ms). */
  reloadMs?: number;
  logger?: Logger;
  metrics?: StreamMetrics;
  /** Further checks of a model before it is used (the kind's binding); throw to refuse it. */
  accept?: (manifest: CheckpointManifest) => void;
}

interface Candidate {
  dir: string;
  version?: string;
  threshold?: number;
  score?: ScoreName;
}

export class ModelSource {
  private cur: ActiveModel;
  private pending: ActiveModel | null = null;
  private readonly refs = new Map<ActiveModel, number>();
  private readonly retired = new Set<ActiveModel>();
  private timer: NodeJS.Timeout | null = null;
  private polling: Promise<boolean> | null = null;
  private lastManifestText = '';
  private lastFailure = '';
  private closed = false;

  private constructor(
    private readonly o: ModelSourceOptions,
    first: ActiveModel,
    manifestText: string,
  ) {
    this.cur = first;
    this.lastManifestText = manifestText;
    this.publish(first);
  }

  /** Loads the first model (registry row if active, else the directory). Throws StreamConfigError. */
  static async open(o: ModelSourceOptions): Promise<ModelSource> {
    const cand = await ModelSource.candidate(o, true);
    if (!cand)
      throw new StreamConfigError(
        `no ${o.kind} model: give a checkpoint directory or activate a registered version`,
      );
    const text = await readFile(join(cand.dir, MANIFEST_FILE), 'utf8').catch(() => '');
    let m: ActiveModel;
    try {
      m = await ModelSource.load(o, cand);
    } catch (e) {
      if (e instanceof StreamConfigError) throw e;
      throw new StreamConfigError(
        `cannot load the ${o.kind} model from ${cand.dir}: ${describeError(e).message}`,
        e,
      );
    }
    o.logger?.info(
      {
        kind: o.kind,
        version: m.version,
        dir: m.dir,
        score: m.score,
        threshold: m.threshold,
        executionProvider: m.scorer.executionProvider,
      },
      'model loaded',
    );
    return new ModelSource(o, m, text);
  }

  private static async candidate(
    o: ModelSourceOptions,
    throwOnRegistryError: boolean,
  ): Promise<Candidate | null> {
    if (o.registry) {
      try {
        const row = await o.registry.getActive(o.kind);
        if (row)
          return {
            dir: resolve(row.checkpointPath),
            version: row.version,
            threshold: row.threshold,
            score: row.scoreName,
          };
      } catch (e) {
        if (throwOnRegistryError && !o.dir)
          throw new StreamConfigError(
            `cannot read the active ${o.kind} model from the registry: ${describeError(e).message}`,
            e,
          );
        if (!o.dir) return null;
      }
    }
    return o.dir ? { dir: resolve(o.dir) } : null;
  }

  private static async load(o: ModelSourceOptions, c: Candidate): Promise<ActiveModel> {
    return Detector.open(c, {
      kind: o.kind,
      ...(o.scorer ? { scorer: o.scorer } : {}),
      ...(o.accept ? { accept: o.accept } : {}),
    });
  }

  /** The model new batches get (after a pending swap). */
  get current(): ActiveModel {
    return this.cur;
  }

  /** Version loaded by a poll and waiting for the next batch, or null. */
  get pendingVersion(): string | null {
    return this.pending?.version ?? null;
  }

  /** Called at the start of a batch: swaps in a pending model, then pins the current one. */
  acquire(): ActiveModel {
    if (this.pending) {
      const old = this.cur;
      this.cur = this.pending;
      this.pending = null;
      this.retired.add(old);
      this.publish(this.cur, old);
      this.o.logger?.info(
        { kind: this.o.kind, from: old.version, to: this.cur.version, dir: this.cur.dir },
        'model swapped',
      );
      this.o.metrics?.modelReloads.inc({ kind: this.o.kind, result: 'swapped' });
      void this.reap();
    }
    this.refs.set(this.cur, (this.refs.get(this.cur) ?? 0) + 1);
    return this.cur;
  }

  release(m: ActiveModel): void {
    const n = (this.refs.get(m) ?? 1) - 1;
    if (n <= 0) this.refs.delete(m);
    else this.refs.set(m, n);
    void this.reap();
  }

  private async reap(): Promise<void> {
    for (const m of [...this.retired]) {
      if ((this.refs.get(m) ?? 0) > 0) continue;
      this.retired.delete(m);
      await m.scorer
        .close()
        .catch((e: unknown) =>
          this.o.logger?.warn({ err: describeError(e) }, 'closing a replaced scorer failed'),
        );
    }
  }

  private publish(m: ActiveModel, old?: ActiveModel): void {
    const g = this.o.metrics?.modelInfo;
    if (!g) return;
    if (old)
      g.remove({
        kind: old.kind,
        version: old.version,
        execution_provider: old.scorer.executionProvider,
        score: old.score,
      });
    g.set(
      { kind: m.kind, version: m.version, execution_provider: m.scorer.executionProvider, score: m.score },
      1,
    );
  }

  /**
   * Looks for a new model version now. Resolves true when one was loaded (it becomes current at the
   * next `acquire()`). Never throws: failures are logged and retried at the next poll.
   */
  poll(): Promise<boolean> {
    if (this.closed) return Promise.resolve(false);
    this.polling ??= this.pollOnce().finally(() => (this.polling = null));
    return this.polling;
  }

  private async pollOnce(): Promise<boolean> {
    const cand = await ModelSource.candidate(this.o, false).catch(() => null);
    if (!cand) return false;
    const target = this.pending ?? this.cur;
    let text = '';
    if (cand.version === undefined) {
      // Directory mode: cheap check first; unchanged manifest text = unchanged model.
      text = await readFile(join(cand.dir, MANIFEST_FILE), 'utf8').catch(() => '');
      if (text === '' || (text === this.lastManifestText && cand.dir === target.dir)) return false;
    } else if (
      cand.version === target.version &&
      cand.threshold === target.threshold &&
      cand.score === target.score
    ) {
      return false;
    }
    let next: ActiveModel;
    try {
      next = await ModelSource.load(this.o, cand);
    } catch (e) {
      const msg = describeError(e).message;
      if (msg !== this.lastFailure) {
        this.o.logger?.warn(
          { kind: this.o.kind, dir: cand.dir, err: msg },
          'new model not loaded; keeping the current one (will retry)',
        );
        this.o.metrics?.modelReloads.inc({ kind: this.o.kind, result: 'failed' });
      }
      this.lastFailure = msg;
      return false;
    }
    this.lastFailure = '';
    if (text !== '') this.lastManifestText = text;
    if (
      next.version === target.version &&
      next.threshold === target.threshold &&
      next.score === target.score
    ) {
      await next.scorer.close();
      return false;
    }
    if (this.closed) {
      await next.scorer.close();
      return false;
    }
    if (this.pending) this.retired.add(this.pending);
    this.pending = next;
    this.o.logger?.info(
      { kind: this.o.kind, version: next.version, dir: next.dir },
      'new model loaded; it scores from the next batch',
    );
    void this.reap();
    return true;
  }

  /** Starts polling every `reloadMs` (no-op when reloadMs is 0 or unset). */
  start(): void {
    const ms = this.o.reloadMs ?? 0;
    if (ms <= 0 || this.timer) return;
    this.timer = setInterval(() => void this.poll(), ms);
    this.timer.unref();
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.polling?.catch(() => undefined);
    const all = new Set<ActiveModel>([this.cur, ...this.retired, ...(this.pending ? [this.pending] : [])]);
    this.pending = null;
    this.retired.clear();
    for (const m of all) await m.scorer.close().catch(() => undefined);
  }
}

/**
 * model_versions: every trained model that may score a stream, and which one is active per kind.
 * Activation runs in one transaction that takes a per-kind advisory lock, so concurrent activations
 * serialise and exactly one version per kind is active afterwards (the partial unique index
 * model_versions_one_active_per_kind is the last line of defence).
 */
import type { Knex } from 'knex';
import { z } from 'zod';
import { ModelExistsError, ModelNotFoundError, StoreInputError } from './errors.js';
import { kindName, type InputKind } from './flag-store.js';
import { SCORE_NAMES } from '../engine/score-rules.js';
import { MODEL_FAMILIES, type ModelFamily } from '../engine/checkpoint.js';
import type { ScoreName } from '../engine/types.js';

export { SCORE_NAMES } from '../engine/score-rules.js';

export interface ModelVersion {
  id: number;
  version: string;
  kind: InputKind;
  /** Detector families of the checkpoint ('vae' or 'vae+wgan'). */
  family: ModelFamily;
  checkpointPath: string;
  manifest: Record<string, unknown>;
  threshold: number;
  scoreName: ScoreName;
  active: boolean;
  createdAt: Date;
}

const versionName = z
  .string()
  .min(1)
  .max(200)
  .regex(/^[\w.:+@-]+$/, 'may contain only letters, digits and _ . : + @ -');

export const registerModelSchema = z
  .object({
    version: versionName,
    kind: kindName,
    family: z.enum(MODEL_FAMILIES).default('vae'),
    checkpointPath: z.string().min(1).max(4096),
    threshold: z.number().finite(),
    scoreName: z.enum(SCORE_NAMES),
    manifest: z.record(z.string(), z.unknown()).default({}),
    /** Make it the active version of its kind right away. */
    activate: z.boolean().default(false),
  })
  .strict();
export type RegisterModelInput = z.input<typeof registerModelSchema>;

interface ModelDbRow {
  id: number;
  version: string;
  kind: InputKind;
  family: ModelFamily;
  checkpoint_path: string;
  manifest: Record<string, unknown>;
  threshold: number;
  score_name: ScoreName;
  active: boolean;
  created_at: Date;
}

function fromDb(r: ModelDbRow): ModelVersion {
  return {
    id: r.id,
    version: r.version,
    kind: r.kind,
    family: r.family,
    checkpointPath: r.checkpoint_path,
    manifest: r.manifest,
    threshold: r.threshold,
    scoreName: r.score_name,
    active: r.active,
    createdAt: r.created_at,
  };
}

function parse<S extends z.ZodType>(schema: S, v: unknown, what: string): z.output<S> {
  const r = schema.safeParse(v);
  if (!r.success) {
    const i = r.error.issues[0];
    throw new StoreInputError(
      `${what}: ${r.error.issues.map((x) => `${x.path.join('.') || what}: ${x.message}`).join('; ')}`,
      i.path.join('.') || what,
    );
  }
  return r.data;
}

export class ModelRegistry {
  constructor(private readonly db: Knex) {}

  async register(input: RegisterModelInput): Promise<ModelVersion> {
    const m = parse(registerModelSchema, input, 'model');
    return this.db.transaction(async (trx) => {
      let row: ModelDbRow;
      try {
        [row] = await trx('model_versions')
          .insert({
            version: m.version,
            kind: m.kind,
            family: m.family,
            checkpoint_path: m.checkpointPath,
            manifest: JSON.stringify(m.manifest),
            threshold: m.threshold,
            score_name: m.scoreName,
          })
          .returning('*');
      } catch (e) {
        if ((e as { code?: string }).code === '23505') throw new ModelExistsError(m.version, e);
        throw e;
      }
      if (m.activate) return this.activateIn(trx, m.version);
      return fromDb(row);
    });
  }

  /** All versions (of one kind when given), newest first. */
  async list(kind?: InputKind): Promise<ModelVersion[]> {
    const k = kind === undefined ? undefined : parse(kindName, kind, 'kind');
    const q = this.db('model_versions').select<ModelDbRow[]>('*');
    if (k) q.where('kind', k);
    const rows = await q.orderBy([
      { column: 'created_at', order: 'desc' },
      { column: 'id', order: 'desc' },
    ]);
    return rows.map(fromDb);
  }

  /** One version, or undefined. */
  async get(version: string): Promise<ModelVersion | undefined> {
    const v = parse(versionName, version, 'version');
    const row = await this.db('model_versions').select<ModelDbRow[]>('*').where('version', v).first();
    return row ? fromDb(row as ModelDbRow) : undefined;
  }

  /** One version; throws ModelNotFoundError. */
  async show(version: string): Promise<ModelVersion> {
    const m = await this.get(version);
    if (!m) throw new ModelNotFoundError(version);
    return m;
  }

  /** Makes `version` the only active version of its kind. */
  async activate(version: string): Promise<ModelVersion> {
    const v = parse(versionName, version, 'version');
    return this.db.transaction((trx) => this.activateIn(trx, v));
  }

  private async activateIn(trx: Knex.Transaction, version: string): Promise<ModelVersion> {
    const target = await trx('model_versions').select<ModelDbRow[]>('*').where('version', version).first();
    if (!target) throw new ModelNotFoundError(version);
    const kind = (target as ModelDbRow).kind;
    // Serialise activations of this kind with a transaction-scoped advisory lock on the kind.
    // (Locking the kind's rows with SELECT … FOR UPDATE instead deadlocked now and then under
    // concurrent activations: rows re-checked after an update can be locked in different orders.)
    await trx.raw('select pg_advisory_xact_lock(hashtext(?))', [`gensemble.model_versions.${kind}`]);
    await trx('model_versions')
      .update({ active: false })
      .where({ kind, active: true })
      .whereNot('version', version);
    const [row] = await trx('model_versions')
      .update({ active: true })
      .where('version', version)
      .returning('*');
    return fromDb(row as ModelDbRow);
  }

  /** The active version of a kind, or undefined. */
  async getActive(kind: InputKind): Promise<ModelVersion | undefined> {
    const k = parse(kindName, kind, 'kind');
    const row = await this.db('model_versions')
      .select<ModelDbRow[]>('*')
      .where({ kind: k, active: true })
      .first();
    return row ? fromDb(row as ModelDbRow) : undefined;
  }
}

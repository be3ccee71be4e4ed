import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ModelExistsError,
  ModelNotFoundError,
  ModelRegistry,
  StoreInputError,
  type RegisterModelInput,
} from '../../../src/store/index.js';
import { createIsolatedSchema, type IsolatedSchema } from '../../helpers/pg.js';

let t: IsolatedSchema;
beforeAll(async () => {
  t = await createIsolatedSchema({ prefix: 'store_models' });
}, 60_000);
afterAll(async () => {
  await t?.drop();
});

const model = (
  version: string,
  kind: 'transactions' | 'frames',
  over: Partial<RegisterModelInput> = {},
): RegisterModelInput => ({
  version,
  kind,
  checkpointPath: `models/${version}`,
  threshold: 42.5,
  scoreName: 'neg_waic',
  manifest: { members: 5 },
  ...over,
});

async function activeVersions(kind: string): Promise<string[]> {
  const rows = await t.db('model_versions').select('version').where({ kind, active: true });
  return rows.map((r: { version: string }) => r.version).sort();
}

describe('ModelRegistry', () => {
  it('registers, lists, shows', async () => {
    const reg = new ModelRegistry(t.db);
    const a = await reg.register(model('tx-1', 'transactions'));
    expect(a).toMatchObject({
      version: 'tx-1',
      kind: 'transactions',
      checkpointPath: 'models/tx-1',
      threshold: 42.5,
      scoreName: 'neg_waic',
      active: false,
      manifest: { members: 5 },
      family: 'vae',
    });
    await reg.register(model('tx-2', 'transactions', { scoreName: 'rate', threshold: -1 }));
    // a model with a WGAN critic ensemble: the registry records its family and flag score
    const w = await reg.register(
      model('tx-w', 'transactions', { family: 'vae+wgan', scoreName: 'critic_var', threshold: 0.5 }),
    );
    expect((await reg.show('tx-w')).family).toBe('vae+wgan');
    expect(w.scoreName).toBe('critic_var');
    // only the known families (schema and the table's check constraint)
    await expect(reg.register(model('tx-bad', 'transactions', { family: 'gan' as never }))).rejects.toThrow(
      /family/,
    );
    await expect(
      t.db('model_versions').insert({
        version: 'raw-bad',
        kind: 'transactions',
        family: 'gan',
        checkpoint_path: 'x',
        manifest: '{}',
        threshold: 1,
        score_name: 'dose',
      }),
    ).rejects.toThrow(/model_versions_family_check/);
    await t.db('model_versions').where('version', 'tx-w').delete();
    await reg.register(model('fr-1', 'frames'));
    expect((await reg.list('transactions')).map((m) => m.version)).toEqual(['tx-2', 'tx-1']);
    expect((await reg.list()).length).toBe(3);
    expect((await reg.show('tx-2')).scoreName).toBe('rate');
    expect(await reg.get('nope')).toBeUndefined();
    await expect(reg.show('nope')).rejects.toBeInstanceOf(ModelNotFoundError);
    await expect(reg.register(model('tx-1', 'transactions'))).rejects.toBeInstanceOf(ModelExistsError);
  });

  it('activation is exclusive per kind and leaves other kinds alone', async () => {
    const reg = new ModelRegistry(t.db);
    await reg.activate('fr-1');
    await reg.activate('tx-1');
    expect(await activeVersions('transactions')).toEqual(['tx-1']);
    const b = await reg.activate('tx-2');
    expect(b.active).toBe(true);
    expect(await activeVersions('transactions')).toEqual(['tx-2']);
    expect(await activeVersions('frames')).toEqual(['fr-1']);
    expect((await reg.getActive('transactions'))?.version).toBe('tx-2');
    expect((await reg.getActive('frames'))?.version).toBe('fr-1');
    // activating the active one is a no-op
    await reg.activate('tx-2');
    expect(await activeVersions('transactions')).toEqual(['tx-2']);
    await expect(reg.activate('missing')).rejects.toBeInstanceOf(ModelNotFoundError);
    expect(await activeVersions('transactions')).toEqual(['tx-2']);
  });

  it('register with activate: true switches atomically', async () => {
    const reg = new ModelRegistry(t.db);
    const c = await reg.register(model('tx-3', 'transactions', { activate: true }));
    expect(c.active).toBe(true);
    expect(await activeVersions('transactions')).toEqual(['tx-3']);
  });

  it('concurrent activations serialise: exactly one active afterwards, no errors', async () => {
    const reg = new ModelRegistry(t.db);
    for (const v of ['c-a', 'c-b', 'c-c']) await reg.register(model(v, 'frames'));
    // 30 rounds of 8 concurrent activations (the old row-locking version deadlocked now and then)
    for (let round = 0; round < 30; round++) {
      await Promise.all(
        ['c-a', 'c-b', 'c-c', 'fr-1', 'c-c', 'c-b', 'c-a', 'fr-1'].map((v) => reg.activate(v)),
      );
      expect((await activeVersions('frames')).length).toBe(1);
    }
  });

  it('the database refuses two active versions of a kind even past the registry', async () => {
    await expect(
      t.db('model_versions').update({ active: true }).where('kind', 'transactions'),
    ).rejects.toThrow(/model_versions_one_active_per_kind/);
  });

  it('bad and hostile input is a StoreInputError', async () => {
    const reg = new ModelRegistry(t.db);
    for (const v of ["x'; DROP TABLE model_versions; --", '', 'a b', '1 OR 1=1']) {
      await expect(reg.activate(v)).rejects.toBeInstanceOf(StoreInputError);
      await expect(reg.show(v)).rejects.toBeInstanceOf(StoreInputError);
    }
    await expect(reg.getActive("' OR 1=1 --" as 'frames')).rejects.toBeInstanceOf(StoreInputError);
    await expect(
      reg.register(model('ok-name', 'transactions', { threshold: Number.NaN })),
    ).rejects.toBeInstanceOf(StoreInputError);
    await expect(
      reg.register(model('ok-name', 'transactions', { scoreName: 'waic' as 'rate' })),
    ).rejects.toBeInstanceOf(StoreInputError);
    expect(await t.db.schema.hasTable('model_versions')).toBe(true);
  });
});

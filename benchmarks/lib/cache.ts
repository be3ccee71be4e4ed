/**
 * Trained checkpoints cached by config hash under benchmarks/.cache/ (gitignored): the same
 * build options and data give the same directory, so a rerun scores without retraining.
 * Building goes through {@link buildModel}, the path the CLI and the stream use.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildModel, type BuildModelOptions } from '../../src/detector/build.js';
import { KindRegistry } from '../../src/kinds/registry.js';
import { loadCheckpoint, MANIFEST_FILE, type LoadedCheckpoint } from '../../src/engine/checkpoint.js';
import { dataFingerprint } from '../../src/data/fingerprint.js';
import { DirectoryMemberStore } from '../../src/engine/member-store.js';

export const BENCH_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const CACHE_DIR = process.env.GENSEMBLE_BENCH_CACHE ?? join(BENCH_ROOT, '.cache');

/**
 * Bump when the training code changes in a way that must invalidate cached models.
 * 2: models carry the input Gaussian and 'feature_maha' in their dose rule (detection protocol v5).
 * 3: and 'member_typicality' (detection protocol v6).
 */
export const CACHE_VERSION = 3;

/** Build options; the profile defaults to the built-in kind's (`kind`). */
export type CachedBuildOptions = Omit<
  BuildModelOptions,
  'outDir' | 'onProgress' | 'onBackend' | 'scorer' | 'profile' | 'memberStore' | 'onReused'
> & { profile?: BuildModelOptions['profile'] };

export function configHash(name: string, o: CachedBuildOptions): string {
  // the profile is the kind's (named by `kind`): not part of the key, so caches survive refactors
  const { raw, profile: _profile, ...rest } = o;
  void _profile;
  const key = JSON.stringify({ v: CACHE_VERSION, name, data: dataFingerprint(raw), ...rest });
  return createHash('sha256').update(key).digest('hex').slice(0, 16);
}

export interface CachedModel {
  dir: string;
  checkpoint: LoadedCheckpoint;
  cached: boolean;
  trainMs: number | null;
}

export async function buildOrLoad(
  name: string,
  o: CachedBuildOptions,
  hooks: Pick<BuildModelOptions, 'onProgress' | 'onBackend'> & {
    noCache?: boolean;
    log?: (s: string) => void;
  } = {},
): Promise<CachedModel> {
  const dir = join(CACHE_DIR, `${name}-${configHash(name, o)}`);
  if (!hooks.noCache && existsSync(join(dir, MANIFEST_FILE))) {
    try {
      const checkpoint = await loadCheckpoint(dir);
      hooks.log?.(`${name}: cached checkpoint ${dir}`);
      return { dir, checkpoint, cached: true, trainMs: null };
    } catch (e) {
      hooks.log?.(`${name}: cached checkpoint unreadable (${(e as Error).message}); retraining`);
    }
  }
  await rm(dir, { recursive: true, force: true });
  // finished members of an interrupted build of this very config are reused (engine/member-store.ts)
  const store = new DirectoryMemberStore(`${dir}.partial`, (w) => hooks.log?.(`${name}: warning: ${w}`));
  if (hooks.noCache) await store.clear();
  hooks.log?.(
    `${name}: training ${o.members ?? 5} members × ${o.steps ?? 2000} steps on ${o.n} records → ${dir}`,
  );
  const res = await buildModel({
    ...o,
    profile: o.profile ?? KindRegistry.builtins().get(o.kind).profile,
    outDir: dir,
    ...(hooks.onProgress ? { onProgress: hooks.onProgress } : {}),
    ...(hooks.onBackend ? { onBackend: hooks.onBackend } : {}),
    memberStore: store,
    onReused: (family, r) =>
      hooks.log?.(
        `${name}: ${family} member ${r.member} reused (finished by an interrupted run at ${r.savedAt})`,
      ),
  });
  await store.clear();
  const checkpoint = await loadCheckpoint(dir);
  return { dir, checkpoint, cached: false, trainMs: res.trainMs };
}

/** Data directory for loader tests: $GENSEMBLE_DATA_DIR, else <repo>/../shared/datasets (CI layout). */
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
export const testDataDir: string =
  process.env.GENSEMBLE_DATA_DIR !== undefined && process.env.GENSEMBLE_DATA_DIR !== ''
    ? resolve(process.env.GENSEMBLE_DATA_DIR)
    : resolve(repoRoot, '../shared/datasets');

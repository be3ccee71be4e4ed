/**
 * Labels of offline files (a tabular kind's label column, the Kaggle `Class`). A file may be labelled
 * only in part: an analyst's export holds confirmed frauds, confirmed normals and records nobody has
 * reviewed yet. The last are {@link UNLABELLED}:
 *
 * - `gensemble train --data`: trained on as normal, as every record of an unlabelled file is (the
 *   unsupervised assumption: most records are normal); only label 1 is left out;
 * - `gensemble train --labels`: left out of the supervised head's records;
 * - `gensemble replay`: sent without a "label" header.
 */

/** A record whose label is unknown: a blank cell, null, or the review state "unsure". */
export const UNLABELLED = 255;

export type Label = 0 | 1 | typeof UNLABELLED;

/**
 * A label from a file's cell or JSON value: 1 / true / "fraud" → 1; 0 / false / "not_fraud" → 0 (the
 * console's review states, any case); "" / null / "unsure" → {@link UNLABELLED}; anything else null.
 */
export function parseLabel(v: unknown): Label | null {
  if (v === 0 || v === false) return 0;
  if (v === 1 || v === true) return 1;
  if (v === null) return UNLABELLED;
  if (typeof v !== 'string') return null;
  switch (v.trim().toLowerCase()) {
    case '1':
    case 'true':
    case 'fraud':
      return 1;
    case '0':
    case 'false':
    case 'not_fraud':
      return 0;
    case '':
    case 'unsure':
      return UNLABELLED;
    default:
      return null;
  }
}

/** Counts of a label array: frauds (1), normals (0) and unlabelled. */
export function labelCounts(labels: ArrayLike<number>): {
  frauds: number;
  normals: number;
  unlabelled: number;
} {
  let frauds = 0;
  let normals = 0;
  let unlabelled = 0;
  for (let i = 0; i < labels.length; i++) {
    if (labels[i] === 1) frauds++;
    else if (labels[i] === 0) normals++;
    else unlabelled++;
  }
  return { frauds, normals, unlabelled };
}

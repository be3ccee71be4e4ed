/**
 * Errors of user-defined kinds. Both carry a one-line message (newlines in a cause's text are folded
 * into spaces) that names the file it is about, so a CLI can print `err.message` as is.
 */
import { GensembleError } from '../errors.js';

/** Folds any line breaks (and the indentation after them) into single spaces. */
function oneLine(s: string): string {
  return s.replace(/\s*[\r\n]+\s*/g, ' ').trim();
}

/**
 * A kind declaration (kinds/<name>.json) that does not validate, or a stored encoder that does not
 * match its declaration. Message: `<source>: <path>: <problem>`, e.g.
 * `kinds/card_tx.json: features.mcc: no field "mcc" in the schema (fields: tx_id, amount, ...)`;
 * the path part is left out when the problem is about the whole file.
 */
export class KindSpecError extends GensembleError {
  /** The declaration file (or other origin) the problem is in. */
  readonly source: string;
  /** Where in the declaration, dotted with [i] for array elements (e.g. `features.amount.scale`); '' for the whole file. */
  readonly path: string;
  constructor(source: string, path: string, problem: string, cause?: unknown) {
    super('KIND_SPEC_INVALID', oneLine(path ? `${source}: ${path}: ${problem}` : `${source}: ${problem}`), {
      cause,
    });
    this.source = source;
    this.path = path;
  }
}

/**
 * A data file of a user-defined kind (CSV / JSONL) that cannot be read: a missing column, a value that
 * does not fit its field (the message names file, line and field), an unreadable file.
 */
export class KindDataError extends GensembleError {
  constructor(message: string, cause?: unknown) {
    super('KIND_DATA_INVALID', oneLine(message), { cause });
  }
}

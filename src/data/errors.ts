/** Typed errors of the data layer (loaders, IDX/CSV parsing, splits). */
import { InputError } from '../errors.js';

export type DataErrorCode =
  /** A data file or directory does not exist. */
  | 'DATA_NOT_FOUND'
  /** Reading a file failed for another reason (permissions, I/O). */
  | 'DATA_READ_FAILED'
  /** A gzip stream is corrupt or truncated. */
  | 'DATA_BAD_GZIP'
  /** IDX: the magic number is wrong (not 0x0000TTDD). */
  | 'IDX_BAD_MAGIC'
  /** IDX: a data type other than 0x08 (uint8) or 0x0C (int32). */
  | 'IDX_UNSUPPORTED_TYPE'
  /** IDX: fewer bytes than the header's dimensions require. */
  | 'IDX_TRUNCATED'
  /** IDX: more bytes than the header's dimensions describe. */
  | 'IDX_TRAILING_BYTES'
  /** A file's SHA256 differs from SHA256SUMS. */
  | 'DATA_CHECKSUM_MISMATCH'
  /** SHA256 verification was required but SHA256SUMS is missing or does not list the file. */
  | 'DATA_CHECKSUM_MISSING'
  /** Images and labels disagree (counts), or shapes are not what the data set should have. */
  | 'DATA_SHAPE_MISMATCH'
  /** CSV: missing/duplicate/unknown header columns. */
  | 'CSV_BAD_HEADER'
  /** CSV: a row with a bad value or the wrong number of fields. */
  | 'CSV_MALFORMED_ROW'
  /** CSV: unparseable CSV syntax (quotes etc.). */
  | 'CSV_SYNTAX'
  /** A bad argument to a data helper (negative size, fraction out of range, ...). */
  | 'DATA_BAD_ARGUMENT';

export class DataError extends InputError {
  declare readonly code: DataErrorCode;
  constructor(code: DataErrorCode, message: string, cause?: unknown) {
    super(code, message, cause);
  }
}

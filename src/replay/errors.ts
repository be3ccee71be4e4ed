import { InputError } from '../errors.js';

/** Bad replay arguments or inputs (rate, ratio, OoD kinds, shapes). */
export class ReplayError extends InputError {
  constructor(code: string, message: string, cause?: unknown) {
    super(code, message, cause);
  }
}

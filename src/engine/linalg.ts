/**
 * Dense float64 linear algebra the engine's Gaussians share (typicality.ts, feature-gaussian.ts,
 * onnx/feature-export.ts): the Cholesky factor of a symmetric positive-definite matrix and the inverse
 * of a lower-triangular one, row-major d×d.
 */

/** Thrown by {@link cholesky} at the first non-positive pivot; callers say what the matrix was. */
export class NotPositiveDefiniteError extends Error {
  constructor(readonly column: number) {
    super(`not positive definite at column ${column}`);
    this.name = 'NotPositiveDefiniteError';
  }
}

/** L with L·Lᵀ = a (lower triangle of `a` read; row-major d×d). */
export function cholesky(a: Float64Array, d: number): Float64Array {
  const L = new Float64Array(d * d);
  for (let r = 0; r < d; r++) {
    for (let c = 0; c <= r; c++) {
      let s = a[r * d + c];
      for (let k = 0; k < c; k++) s -= L[r * d + k] * L[c * d + k];
      if (r === c) {
        if (!(s > 0)) throw new NotPositiveDefiniteError(r);
        L[r * d + r] = Math.sqrt(s);
      } else {
        L[r * d + c] = s / L[c * d + c];
      }
    }
  }
  return L;
}

/** Inverse of a lower-triangular matrix (forward substitution, column by column). */
export function invertLower(L: ArrayLike<number>, d: number): Float64Array {
  const W = new Float64Array(d * d);
  for (let c = 0; c < d; c++) {
    W[c * d + c] = 1 / L[c * d + c];
    for (let r = c + 1; r < d; r++) {
      let s = 0;
      for (let k = c; k < r; k++) s += L[r * d + k] * W[k * d + c];
      W[r * d + c] = -s / L[r * d + r];
    }
  }
  return W;
}

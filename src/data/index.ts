export * from './errors.js';
export * from './images.js';
export * from './idx.js';
export * from './fingerprint.js';
export * from './datasets.js';
export { CREDIT_FEATURES, CREDIT_DIM } from './credit.js';
export * from './labels.js';
export * from './ood.js';
export * from './splits.js';

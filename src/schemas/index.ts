export * from './errors.js';
export * from './fingerprint.js';
export * from './schemas.js';
export * from './validate.js';
export * from './features.js';
export * from './single-object.js';
export * from './codec.js';
export * from './confluent.js';

export * from './errors.js';
export * from './flag-store.js';
export * from './model-registry.js';
export * from './knex.js';
export * from './db-url.js';

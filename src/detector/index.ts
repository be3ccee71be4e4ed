/** The Detector: build (fit → calibrate → save) and open (dir | registry row) → predict. */
export * from './build.js';
export * from './detector.js';
export * from './profile.js';

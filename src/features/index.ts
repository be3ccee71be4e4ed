export {
  fitMinMax,
  fitStandard,
  applyTransform,
  normalizeImageBytes,
  transformDim,
  IMAGE_TRANSFORM,
  STD_FLOOR,
  FeatureError,
} from './transform.js';

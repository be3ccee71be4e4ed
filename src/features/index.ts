export {
  fitMinMax,
  fitStandard,
  applyTransform,
  normalizeImageBytes,
  transformDim,
  checkWrap,
  IMAGE_TRANSFORM,
  STD_FLOOR,
  FeatureError,
} from './transform.js';
export type { WrapOptions } from './transform.js';

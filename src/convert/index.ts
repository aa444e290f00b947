export {
  convertImage,
  convertToErofsFile,
  checkConvertOptions,
  CONVERT_FORMATS,
  type ConvertFormat,
  type ConvertOptions,
  type ConvertProgress,
  type ConvertResult,
} from './convert.js';
export { parseDestination, type Destination } from './destination.js';
export { LayoutTarget, REF_NAME_ANNOTATION } from './layout-target.js';
export { RegistryTarget } from './registry-target.js';
export type { ImageTarget, StoredBlob } from './target.js';
export { ConvertError } from './errors.js';

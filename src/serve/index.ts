export { serveLayout, DEFAULT_SERVE_HOST, type LayoutRegistry, type ServeLayoutOptions } from './layout-registry.js';
export { MAX_PUSHED_MANIFEST } from './layout-push.js';
export { NotALayoutError } from '../oci/errors.js';

export { startWebServer, imagePath, DEFAULT_WEB_HOST, type WebServer, type WebServerOptions } from './server.js';
export { NotAPictureError } from './api-file.js';
export { WebAssetsError } from './assets.js';
export { RangeNotSatisfiableError } from './http.js';
export { MAX_OPEN_IMAGES, TAG_TTL_MS, RefRefusedError } from './sessions.js';
export { NoSuchViewError, type ViewName } from './image-views.js';
export type * from './api-types.js';

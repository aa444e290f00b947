export { startWebServer, imagePath, DEFAULT_WEB_HOST, type WebServer, type WebServerOptions } from './server.js';
export { ImageSessions, MAX_OPEN_IMAGES, TAG_TTL_MS, RefRefusedError, type SessionOptions, type Lease } from './sessions.js';
export { ImageViews, parseViewName, NoSuchViewError, type ViewName } from './image-views.js';
export { newToken, tokenMatches, cookieName, readCookie, hostAllowed, checkRequest, PAGE_CSP, CONTENT_CSP } from './security.js';
export { readElf, isElf } from './elf.js';
export { sniff, looksLikeText, PICTURE_TYPES } from './sniff.js';
export { tarTree, paxRecord } from './tar-stream.js';
export { layerChanges, lookupPath, type DirChanges } from './changes.js';
export type * from './api-types.js';

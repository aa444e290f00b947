export {
  loadConfig,
  parseConfig,
  configPath,
  MAX_CONFIG_FILE_SIZE,
  type OcifsConfig,
  type ConfigLocationOptions,
} from './config-file.js';
export { parseMirrorFlag, mergeMirrors, type MirrorFlag } from './mirror-flag.js';
export { parseSize } from './size.js';
export { ConfigError } from './errors.js';

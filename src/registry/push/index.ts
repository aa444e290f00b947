export {
  RegistryPusher,
  DEFAULT_PUSH_CHUNK_SIZE,
  type PusherOptions,
  type BlobPushOptions,
  type PushedBlob,
  type PushedManifest,
} from './pusher.js';
export { pushReferrer, referrersTag, type ReferrerManifest, type PushedReferrer } from './referrers.js';
export { PushDeniedError, PushRefusedError, UploadLostError } from './errors.js';

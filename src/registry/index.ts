export { RegistryClient, type ResolvedImage, type FetchedManifest } from './client.js';
export { RegistryTransport, type RegistryRequest } from './registry-transport.js';
export { EndpointChooser, MIRROR_DOWN_TIME } from './endpoint-chooser.js';
export { RangeSupport } from './range-support.js';
export {
  Transport,
  MAX_REDIRECTS,
  type TransportOptions,
  type HttpMethod,
  type HttpRequest,
  type HttpResponse,
} from './transport.js';
export {
  listTags,
  nextFromLink,
  parseTagsBody,
  DEFAULT_TAGS_PAGE,
  MAX_TAGS_PAGE,
  type ListTagsOptions,
  type TagsPage,
} from './tags.js';
export { RemoteBlobSource, type RemoteBlobSourceOptions } from './remote-blob-source.js';
export {
  DEFAULT_CONNECT_TIMEOUT,
  DEFAULT_HEADERS_TIMEOUT,
  DEFAULT_BODY_TIMEOUT,
  DEFAULT_MAX_RETRIES,
  DEFAULT_RETRY_BASE_DELAY,
  DEFAULT_RETRY_MAX_DELAY,
  DEFAULT_RETRY_AFTER_MAX,
  DEFAULT_MAX_BLOB_FETCH,
  DEFAULT_USER_AGENT,
  normaliseMirrorUrl,
  type CallOptions,
  type RegistryClientOptions,
  type RegistryHostConfig,
} from './options.js';
export {
  RegistryError,
  ManifestUnknownError,
  BlobUnknownError,
  UnauthorizedError,
  DeniedError,
  HttpStatusError,
  RangeResponseError,
  ShortBodyError,
  TimeoutError,
  NetworkError,
  CredentialError,
  isRetryable,
  isRetryableStatus,
} from './errors.js';
export {
  CredentialStore,
  DEFAULT_CREDENTIAL_HELPER_TIMEOUT,
  type Credential,
  type CredentialStoreOptions,
  type FoundCredential,
} from './credentials.js';
export { parseWwwAuthenticate, type AuthChallenge } from './www-authenticate.js';
export { parseContentRange, type ContentRange } from './content-range.js';
export { parseRetryAfter, retryDelay, withRetry, type RetryPolicy } from './retry.js';
export { endpointsFor, type Endpoint } from './endpoints.js';
export { accessScopes, type Access } from './auth.js';
export {
  RegistryPusher,
  DEFAULT_PUSH_CHUNK_SIZE,
  pushReferrer,
  referrersTag,
  PushDeniedError,
  PushRefusedError,
  UploadLostError,
  type PusherOptions,
  type BlobPushOptions,
  type PushedBlob,
  type PushedManifest,
  type ReferrerManifest,
  type PushedReferrer,
} from './push/index.js';

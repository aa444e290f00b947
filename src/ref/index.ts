export {
  parseReference,
  withDigest,
  repositoryName,
  DEFAULT_TAG,
  MAX_NAME_LENGTH,
  MAX_TAG_LENGTH,
  MAX_REFERENCE_LENGTH,
  type ImageReference,
} from './reference.js';
export {
  parseDigest,
  isDigest,
  digestOf,
  verifyDigest,
  DIGEST_ALGORITHMS,
  type Digest,
  type DigestAlgorithm,
} from './digest.js';
export {
  isLoopbackRegistry,
  canonicalRegistry,
  registryApiHost,
  splitHostPort,
  DOCKER_HUB,
  DOCKER_HUB_API,
} from './host.js';
export { InvalidReferenceError, InvalidDigestError } from './errors.js';

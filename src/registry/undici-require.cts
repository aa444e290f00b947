/**
 * The two undici files the transport uses, loaded with CommonJS `require` (undici is CommonJS).
 * A real `require` call, not `createRequire`, so that the command's esbuild bundle can include
 * them (evaluated only when first called); unbundled, Node loads them from node_modules.
 *
 * @packageDocumentation
 */

/** undici's `EnvHttpProxyAgent` class and its `request` API function, as their files export them. */
export function requireUndiciParts(): { agent: unknown; request: unknown } {
  return {
    agent: require('undici/lib/dispatcher/env-http-proxy-agent.js'),
    request: require('undici/lib/api/api-request.js'),
  };
}

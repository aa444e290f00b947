/**
 * The two pieces of undici the transport uses, loaded on their own. `import 'undici'` evaluates
 * all of undici (fetch, WebSocket, EventSource, caches, mocks, …): about 80 ms of start-up on
 * every command, more than the rest of a warm `ocifs blob`. The pool with proxy support and the
 * request API are two files of it (`undici-require.cts`, which the command's bundle includes, so
 * they are not read file by file either). If a future undici moves them, the whole package is
 * loaded instead (same behaviour, slower start).
 *
 * @packageDocumentation
 */
import { createRequire } from 'node:module';
import { debuglog } from '../io/debug-log.js';
import type { Dispatcher, EnvHttpProxyAgent } from 'undici';
import { requireUndiciParts } from './undici-require.cjs';

const log = debuglog('ocifs:registry');

/** What the transport needs from undici. */
export interface UndiciParts {
  /** undici's `EnvHttpProxyAgent` class (a keep-alive pool honouring HTTP(S)_PROXY/NO_PROXY). */
  EnvHttpProxyAgent: new (options: EnvHttpProxyAgent.Options) => Dispatcher;
  /** `dispatcher.request(options)` for any dispatcher, without undici's index having run. */
  request: (dispatcher: Dispatcher, options: Dispatcher.RequestOptions) => Promise<Dispatcher.ResponseData>;
}

let parts: UndiciParts | undefined;

/** Loads (once) the parts of undici the transport uses. */
export function undiciParts(): UndiciParts {
  if (parts) return parts;
  try {
    const loaded = requireUndiciParts();
    const Agent = loaded.agent as UndiciParts['EnvHttpProxyAgent'];
    const request = loaded.request as (
      this: Dispatcher,
      options: Dispatcher.RequestOptions,
    ) => Promise<Dispatcher.ResponseData>;
    if (typeof Agent !== 'function' || typeof request !== 'function') throw new Error('unexpected exports');
    parts = { EnvHttpProxyAgent: Agent, request: (d, o) => request.call(d, o) };
  } catch (err) {
    log('loading undici whole (%s)', (err as Error).message);
    const undici = createRequire(import.meta.url)('undici') as typeof import('undici');
    parts = { EnvHttpProxyAgent: undici.EnvHttpProxyAgent, request: (d, o) => d.request(o) };
  }
  return parts;
}

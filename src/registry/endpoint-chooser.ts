/**
 * Which servers to ask for a registry, and which mirrors to skip for now: the configured
 * mirrors first, then the registry itself; a mirror that failed with a network error, a timeout
 * or a retryable status is left out for {@link MIRROR_DOWN_TIME} (containerd's hosts.toml
 * order, with go-containerregistry-style fall-through to the registry).
 *
 * @packageDocumentation
 */
import { debuglog } from '../io/debug-log.js';
import type { ImageReference } from '../ref/reference.js';
import { endpointsFor, type Endpoint } from './endpoints.js';
import { NetworkError, RegistryError, TimeoutError, isRetryableStatus } from './errors.js';
import type { RegistryHostConfig } from './options.js';

const log = debuglog('ocifs:registry');

/** How long a mirror that failed with a network error or timeout is skipped (ms). */
export const MIRROR_DOWN_TIME = 30_000;

/** The endpoints of each registry, with the health of its mirrors remembered per process. */
export class EndpointChooser {
  /** Mirror base URL → time (ms since the epoch) until which it is skipped. */
  private readonly downUntil = new Map<string, number>();

  constructor(
    private readonly hosts: Map<string, RegistryHostConfig>,
    private readonly insecure: boolean,
  ) {}

  /** Every endpoint of `registry` as configured, mirrors first, whatever their health. */
  all(registry: string): Endpoint[] {
    return endpointsFor(registry, this.hosts, this.insecure);
  }

  /** The endpoints to try for a reference (mirrors first), skipping mirrors marked down. */
  usable(ref: ImageReference): Endpoint[] {
    const now = Date.now();
    return this.all(ref.registry).filter((ep) => !ep.mirror || (this.downUntil.get(ep.base) ?? 0) <= now);
  }

  /** Marks a mirror as failing when the error says it is unreachable or broken; the registry is never marked. */
  noteFailure(ep: Endpoint, err: unknown): void {
    if (!ep.mirror) return;
    log('mirror %s failed: %s', ep.base, (err as Error).message);
    if (
      err instanceof NetworkError ||
      err instanceof TimeoutError ||
      (err instanceof RegistryError && isRetryableStatus(Number(err.data.status)))
    ) {
      this.downUntil.set(ep.base, Date.now() + MIRROR_DOWN_TIME);
    }
  }
}

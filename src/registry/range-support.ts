/**
 * What each endpoint has shown about Range requests, per repository: honoured (206), ignored
 * (200 with the whole blob: some mirrors and blob stores do this), or not yet known. While it is
 * unknown, the first ranged read is a probe and concurrent reads wait for its status, so a
 * server that ignores Range sends the whole blob once instead of once per concurrent read.
 *
 * @packageDocumentation
 */
import { debuglog } from '../io/debug-log.js';
import type { Endpoint } from './endpoints.js';

const log = debuglog('ocifs:registry');

/** The Range-support memory of one client (shared by all its blob sources). */
export class RangeSupport {
  /** Endpoint+repository pairs known to answer Range requests with the whole blob. */
  private readonly ignored = new Set<string>();
  /** Endpoint+repository pairs known to honour Range. */
  private readonly honoured = new Set<string>();
  /** First ranged request to an endpoint+repository in flight: others wait for its status. */
  private readonly probes = new Map<string, Promise<void>>();

  /** Whether the endpoint is known to ignore Range for this repository. */
  ignores(ep: Endpoint, repository: string): boolean {
    return this.ignored.has(key(ep, repository));
  }

  /**
   * Joins or starts the probe of an endpoint+repository whose Range support is unknown. Returns
   * a `done` callback when the caller is the probe (call it once the response status is known,
   * or the request failed), a promise to wait for while another read probes, or undefined when
   * the answer is already known.
   */
  probe(ep: Endpoint, repository: string): { done: () => void } | Promise<void> | undefined {
    const k = key(ep, repository);
    if (this.ignored.has(k) || this.honoured.has(k)) return undefined;
    const pending = this.probes.get(k);
    if (pending) return pending;
    let done!: () => void;
    const p = new Promise<void>((r) => (done = r));
    this.probes.set(k, p);
    return {
      done: () => {
        if (this.probes.get(k) === p) this.probes.delete(k);
        done();
      },
    };
  }

  /** Records that the endpoint answered a Range request with 206. */
  noteHonoured(ep: Endpoint, repository: string): void {
    this.honoured.add(key(ep, repository));
  }

  /** Records that the endpoint answered a Range request with the whole blob. */
  noteIgnored(ep: Endpoint, repository: string): void {
    const k = key(ep, repository);
    if (!this.ignored.has(k)) {
      log('%s ignores Range requests for %s: whole-body streaming from now on', ep.base, repository);
    }
    this.ignored.add(k);
  }
}

function key(ep: Endpoint, repository: string): string {
  return `${ep.base} ${repository}`;
}

/**
 * Counters of what a command cost, shared by the layers that do the work: the registry client
 * counts requests and bytes fetched, the cache counts bytes served from disk. `--stats` prints
 * them as one JSON line.
 */
export class IoStats {
  /** Bytes received from the network (response bodies), including bytes later discarded. */
  bytesFetched = 0;
  /** Bytes sent in request bodies (pushes). */
  bytesSent = 0;
  /** HTTP requests sent (including retries, token and manifest requests). */
  requests = 0;
  /** Bytes of reads answered from the on-disk cache without fetching. */
  cacheHitBytes = 0;
  /** Bytes of reads that had to wait for a fetch. */
  cacheMissBytes = 0;
  /** Retries after a failed or refused request. */
  retries = 0;
  /**
   * Unverified copies of a blob, fetched through another origin (registry or mirror chain),
   * found to hold bytes that differ from the blob once verified (and discarded).
   */
  originMismatches = 0;

  /** A plain object for JSON output. */
  toJSON(): Record<string, number> {
    return {
      bytesFetched: this.bytesFetched,
      bytesSent: this.bytesSent,
      requests: this.requests,
      cacheHitBytes: this.cacheHitBytes,
      cacheMissBytes: this.cacheMissBytes,
      retries: this.retries,
      originMismatches: this.originMismatches,
    };
  }
}

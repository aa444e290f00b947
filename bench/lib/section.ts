// What one benchmark section hands to bench/run.ts.
import type { Row } from './measure.js';

/** One printed table of a section, with the facts worth keeping in the JSON. */
export interface BenchTable {
  title: string;
  rows: Row[];
  info?: Record<string, unknown>;
}

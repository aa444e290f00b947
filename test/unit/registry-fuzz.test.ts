// A short run of scripts/fuzz-parsers.ts (the long run: node --import tsx scripts/fuzz-parsers.ts 1000000 SEED).
import { test } from 'node:test';
import { fuzzParsers } from '../../scripts/fuzz-parsers.js';

test('parsers of untrusted input only return valid values or throw OcifsError (fuzz, 20k cases, 2 seeds)', () => {
  fuzzParsers(10_000, 1);
  fuzzParsers(10_000, 0x5eed);
});

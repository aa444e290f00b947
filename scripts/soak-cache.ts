// Long crash/concurrency soak of the blob cache (the integration suite runs a short one).
//   node --import tsx scripts/soak-cache.ts [--seconds 300] [--procs 6] [--blobs 3] [--mib 32]
import { soakCache } from '../test/helpers/cache-soak.js';

const args = process.argv.slice(2);
const opt = (name: string, dflt: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const report = await soakCache({
  seconds: Number(opt('seconds', '300')),
  procs: Number(opt('procs', '6')),
  blobs: Number(opt('blobs', '3')),
  blobBytes: Number(opt('mib', '32')) * 1024 * 1024,
  log: (l) => console.log(l),
});
console.log(JSON.stringify(report));

// Summarises a V8 `.cpuprofile` (from `node --cpu-prof`): self time per function (top N) and
// the inclusive time of functions whose name matches a pattern, so a profile of `ocifs extract`
// can be read in a terminal.
//
//   node --import tsx scripts/profile-summary.ts FILE.cpuprofile [--top N] [--match REGEX] [--callers REGEX]
//
// --callers REGEX: for the time spent inside functions matching REGEX, which call stacks (up to
// 6 frames above the first match) it came from.
import { readFile } from 'node:fs/promises';

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
  hitCount?: number;
}
interface Profile {
  nodes: Node[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

const args = process.argv.slice(2);
const file = args[0];
if (!file) throw new Error('usage: profile-summary.ts FILE.cpuprofile [--top N] [--match REGEX]');
const opt = (name: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
};
const top = Number(opt('top') ?? 30);
const match = opt('match');

const p = JSON.parse(await readFile(file, 'utf8')) as Profile;
const byId = new Map(p.nodes.map((n) => [n.id, n]));
const parent = new Map<number, number>();
for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
// Time per node from the sample deltas (µs).
const self = new Map<number, number>();
for (let i = 0; i < p.samples.length; i++)
  self.set(p.samples[i], (self.get(p.samples[i]) ?? 0) + (p.timeDeltas[i] ?? 0));
const total = (p.endTime - p.startTime) / 1000;
const label = (n: Node) => {
  const url = n.callFrame.url.replace(/^file:\/\/.*?\/(src|node_modules|dist)\//, '$1/');
  return `${n.callFrame.functionName || '(anonymous)'} ${url ? `${url.split('/').slice(-2).join('/')}:${n.callFrame.lineNumber + 1}` : ''}`;
};
const selfBy = new Map<string, number>();
for (const [id, us] of self) {
  const k = label(byId.get(id)!);
  selfBy.set(k, (selfBy.get(k) ?? 0) + us);
}
console.log(`profile ${file}: ${total.toFixed(0)} ms, ${p.samples.length} samples`);
const idle = [...selfBy].filter(([k]) => k.startsWith('(idle)')).reduce((a, [, v]) => a + v, 0) / 1000;
console.log(`idle ${idle.toFixed(0)} ms, busy ${(total - idle).toFixed(0)} ms`);
for (const [k, us] of [...selfBy].sort((a, b) => b[1] - a[1]).slice(0, top)) {
  console.log(`${(us / 1000).toFixed(1).padStart(9)} ms ${((us / 1000 / total) * 100).toFixed(1).padStart(5)}%  ${k}`);
}
if (match) {
  // Inclusive time: a sample counts once for each distinct matching label on its stack.
  const re = new RegExp(match);
  const incl = new Map<string, number>();
  for (const [id, us] of self) {
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const k = label(byId.get(cur)!);
      if (re.test(k) && !seen.has(k)) {
        seen.add(k);
        incl.set(k, (incl.get(k) ?? 0) + us);
      }
    }
  }
  console.log(`inclusive (${match}):`);
  for (const [k, us] of [...incl].sort((a, b) => b[1] - a[1]).slice(0, top))
    console.log(`${(us / 1000).toFixed(1).padStart(9)} ms  ${k}`);
}
const callers = opt('callers');
if (callers) {
  const re = new RegExp(callers);
  const by = new Map<string, number>();
  for (const [id, us] of self) {
    let cur: number | undefined = id;
    while (cur !== undefined && !re.test(label(byId.get(cur)!))) cur = parent.get(cur);
    if (cur === undefined) continue;
    const chain: string[] = [];
    for (let up = parent.get(cur); up !== undefined && chain.length < 6; up = parent.get(up))
      chain.push(label(byId.get(up)!).trim());
    const k = chain.join(' < ');
    by.set(k, (by.get(k) ?? 0) + us);
  }
  console.log(`callers of (${callers}):`);
  for (const [k, us] of [...by].sort((a, b) => b[1] - a[1]).slice(0, top))
    console.log(`${(us / 1000).toFixed(1).padStart(9)} ms  ${k}`);
}

/**
 * The facts of an ELF file's header the file view shows: class, byte order, type, machine,
 * entry point and the program interpreter (`PT_INTERP`). Field names follow `<elf.h>`
 * (Elf64_Ehdr / Elf64_Phdr). Bytes come from an image: every offset and count is checked
 * against what was read before use.
 *
 * @packageDocumentation
 */
import type { ByteSource, ReadOptions } from '../io/byte-source.js';
import type { ElfDoc } from './api-types.js';

/** `e_type` names. */
const TYPES: Record<number, string> = {
  0: 'NONE',
  1: 'REL (relocatable)',
  2: 'EXEC (executable)',
  3: 'DYN (shared object or PIE)',
  4: 'CORE (core dump)',
};

/** `e_machine` names of the architectures images are built for. */
const MACHINES: Record<number, string> = {
  2: 'SPARC',
  3: 'x86 (i386)',
  8: 'MIPS',
  20: 'PowerPC',
  21: 'PowerPC64',
  22: 'S/390',
  40: 'ARM',
  42: 'SuperH',
  43: 'SPARC V9',
  50: 'IA-64',
  62: 'x86-64',
  183: 'AArch64',
  243: 'RISC-V',
  258: 'LoongArch',
};

const PT_INTERP = 3;
/** Program headers read at most (a real binary has a dozen). */
const MAX_PHDRS = 256;
/** Longest interpreter path accepted. */
const MAX_INTERP = 4096;

/** True when the bytes start with the ELF magic. */
export function isElf(head: Uint8Array): boolean {
  return head.length >= 4 && head[0] === 0x7f && head[1] === 0x45 && head[2] === 0x4c && head[3] === 0x46;
}

/** Reads the ELF facts of a file; undefined when it is not a well-formed ELF file. */
export async function readElf(file: ByteSource, options: ReadOptions = {}): Promise<ElfDoc | undefined> {
  const head = await file.read(0, Math.min(64, file.size), options);
  if (!isElf(head) || head.length < 52) return undefined;
  const cls = head[4] === 1 ? 32 : head[4] === 2 ? 64 : undefined;
  const little = head[5] === 1 ? true : head[5] === 2 ? false : undefined;
  if (cls === undefined || little === undefined || (cls === 64 && head.length < 64)) return undefined;
  const v = new DataView(head.buffer, head.byteOffset, head.byteLength);
  const u16 = (o: number) => v.getUint16(o, little);
  const u32 = (o: number) => v.getUint32(o, little);
  const word = (dv: DataView, o: number) => (cls === 64 ? dv.getBigUint64(o, little) : BigInt(dv.getUint32(o, little)));
  const type = u16(16);
  const machine = u16(18);
  const entry = word(v, 24);
  const phoff = cls === 64 ? v.getBigUint64(32, little) : BigInt(u32(28));
  const phentsize = u16(cls === 64 ? 54 : 42);
  const phnum = u16(cls === 64 ? 56 : 44);
  const doc: ElfDoc = {
    class: cls,
    endian: little ? 'little' : 'big',
    type: TYPES[type] ?? `unknown (${type})`,
    machine: MACHINES[machine] ?? `unknown (${machine})`,
    entry: `0x${entry.toString(16)}`,
  };
  const minEnt = cls === 64 ? 56 : 32;
  if (phnum === 0 || phnum > MAX_PHDRS || phentsize < minEnt || phoff > BigInt(file.size)) return doc;
  const tableLen = phnum * phentsize;
  if (Number(phoff) + tableLen > file.size) return doc;
  const table = await file.read(Number(phoff), tableLen, options);
  const tv = new DataView(table.buffer, table.byteOffset, table.byteLength);
  for (let i = 0; i < phnum; i++) {
    const o = i * phentsize;
    if (tv.getUint32(o, little) !== PT_INTERP) continue;
    const off = cls === 64 ? tv.getBigUint64(o + 8, little) : BigInt(tv.getUint32(o + 4, little));
    const size = cls === 64 ? tv.getBigUint64(o + 32, little) : BigInt(tv.getUint32(o + 16, little));
    if (size === 0n || size > BigInt(MAX_INTERP) || off + size > BigInt(file.size)) break;
    const bytes = await file.read(Number(off), Number(size), options);
    const end = bytes.indexOf(0);
    doc.interpreter = Buffer.from(end >= 0 ? bytes.subarray(0, end) : bytes).toString('utf8');
    break;
  }
  return doc;
}

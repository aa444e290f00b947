// Helpers shared by the tar/gzip/estargz tests.
import type { ByteSource, ReadOptions } from '../../src/io/byte-source.js';

/** A byte source that counts what is read through it. */
export class CountingSource implements ByteSource {
  bytes = 0;
  reads = 0;
  constructor(private readonly inner: ByteSource) {}
  get size(): number {
    return this.inner.size;
  }
  read(offset: number, length: number, options?: ReadOptions): Promise<Uint8Array> {
    this.reads++;
    this.bytes += Math.min(length, this.size - offset);
    return this.inner.read(offset, length, options);
  }
}

/** Builds one ustar header block by hand (for hostile archives GNU tar would not write). */
export function header(name: string, opts: { size?: number; type?: string; link?: string; mode?: number } = {}): Uint8Array {
  const b = Buffer.alloc(512);
  b.write(name, 0, 100, 'utf8');
  b.write((opts.mode ?? 0o644).toString(8).padStart(7, '0') + '\0', 100);
  b.write('0000000\0', 108);
  b.write('0000000\0', 116);
  b.write((opts.size ?? 0).toString(8).padStart(11, '0') + '\0', 124);
  b.write('14000000000\0', 136);
  b.write(opts.type ?? '0', 156);
  if (opts.link) b.write(opts.link, 157, 100, 'utf8');
  b.write('ustar\0' + '00', 257, 'latin1');
  b.fill(0x20, 148, 156);
  let sum = 0;
  for (const x of b) sum += x;
  b.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'latin1');
  return b;
}


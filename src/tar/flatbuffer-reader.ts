/**
 * A minimal, bounds-checked FlatBuffers reader (enough for SOCI's zTOC): tables through their
 * vtables, scalars, strings, byte vectors and vectors of tables. Every offset is checked
 * against the buffer, so a hostile zTOC fails with an error instead of reading garbage.
 *
 * Layout (flatbuffers.dev "Internals"): the buffer starts with a u32 offset to the root table;
 * a table starts with an i32 back-offset to its vtable; a vtable is u16 vtable size, u16 table
 * size, then one u16 per field (0 = absent); strings and vectors are a u32 length then the
 * data; references are u32 offsets relative to where they are stored.
 *
 * @packageDocumentation
 */

/** Thrown on a malformed buffer; callers wrap it in their own error. */
export class FlatbufferError extends Error {}

const utf8 = new TextDecoder('utf-8');

/** A table inside a buffer. */
export class FbTable {
  private readonly vt: number;
  private readonly vtSize: number;

  constructor(
    private readonly buf: FlatbufferBuffer,
    readonly pos: number,
  ) {
    const vt = pos - buf.i32(pos);
    if (vt < 0 || vt + 4 > buf.length) throw new FlatbufferError(`bad vtable for table at ${pos}`);
    this.vt = vt;
    this.vtSize = buf.u16(vt);
    if (this.vtSize < 4 || this.vtSize % 2 || vt + this.vtSize > buf.length)
      throw new FlatbufferError(`bad vtable size at ${vt}`);
    const tableSize = buf.u16(vt + 2);
    if (pos + tableSize > buf.length) throw new FlatbufferError(`table at ${pos} runs past the buffer`);
  }

  /** Position of field `i`'s inline data, or undefined when absent. */
  private field(i: number, width: number): number | undefined {
    const at = 4 + 2 * i;
    if (at >= this.vtSize) return undefined;
    const off = this.buf.u16(this.vt + at);
    if (off === 0) return undefined;
    const p = this.pos + off;
    if (p + width > this.buf.length)
      throw new FlatbufferError(`field ${i} of table at ${this.pos} runs past the buffer`);
    return p;
  }

  /** A signed 64-bit field as a safe integer. */
  int64(i: number, dflt = 0): number {
    const p = this.field(i, 8);
    if (p === undefined) return dflt;
    const v = this.buf.view.getBigInt64(p, true);
    if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < -BigInt(Number.MAX_SAFE_INTEGER))
      throw new FlatbufferError(`field ${i}: ${v} out of range`);
    return Number(v);
  }

  int32(i: number, dflt = 0): number {
    const p = this.field(i, 4);
    return p === undefined ? dflt : this.buf.i32(p);
  }

  uint32(i: number, dflt = 0): number {
    const p = this.field(i, 4);
    return p === undefined ? dflt : this.buf.view.getUint32(p, true);
  }

  int8(i: number, dflt = 0): number {
    const p = this.field(i, 1);
    return p === undefined ? dflt : this.buf.view.getInt8(p);
  }

  private ref(i: number): number | undefined {
    const p = this.field(i, 4);
    if (p === undefined) return undefined;
    const target = p + this.buf.view.getUint32(p, true);
    if (target + 4 > this.buf.length)
      throw new FlatbufferError(`field ${i} of table at ${this.pos} points past the buffer`);
    return target;
  }

  /** A byte vector or string field's bytes (undefined when absent). */
  bytes(i: number): Uint8Array | undefined {
    const t = this.ref(i);
    return t === undefined ? undefined : this.buf.vectorBytes(t, 1);
  }

  /** A string field decoded as UTF-8 ('' when absent). */
  string(i: number): string {
    const b = this.bytes(i);
    return b === undefined ? '' : utf8.decode(b);
  }

  table(i: number): FbTable | undefined {
    const t = this.ref(i);
    return t === undefined ? undefined : new FbTable(this.buf, t);
  }

  /** Number of elements of a vector field (0 when absent). */
  vectorLength(i: number): number {
    const t = this.ref(i);
    return t === undefined ? 0 : this.buf.vectorLength(t, 4);
  }

  /** Element `k` of a vector of tables. */
  tableAt(i: number, k: number): FbTable {
    const t = this.ref(i)!;
    const p = t + 4 + 4 * k;
    return new FbTable(this.buf, p + this.buf.view.getUint32(p, true));
  }

  /** Element `k` of a vector of strings, as bytes. */
  bytesAt(i: number, k: number): Uint8Array {
    const t = this.ref(i)!;
    const p = t + 4 + 4 * k;
    const s = p + this.buf.view.getUint32(p, true);
    if (s + 4 > this.buf.length) throw new FlatbufferError(`string ${k} of field ${i} points past the buffer`);
    return this.buf.vectorBytes(s, 1);
  }
}

/** A FlatBuffers buffer. */
export class FlatbufferBuffer {
  readonly view: DataView;
  readonly length: number;

  constructor(readonly bytes: Uint8Array) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.length = bytes.byteLength;
  }

  u16(p: number): number {
    if (p + 2 > this.length) throw new FlatbufferError(`read past the buffer at ${p}`);
    return this.view.getUint16(p, true);
  }

  i32(p: number): number {
    if (p < 0 || p + 4 > this.length) throw new FlatbufferError(`read past the buffer at ${p}`);
    return this.view.getInt32(p, true);
  }

  vectorLength(p: number, elemSize: number): number {
    const n = this.view.getUint32(p, true);
    if (p + 4 + n * elemSize > this.length) throw new FlatbufferError(`vector at ${p} runs past the buffer`);
    return n;
  }

  vectorBytes(p: number, elemSize: number): Uint8Array {
    const n = this.vectorLength(p, elemSize);
    return this.bytes.subarray(p + 4, p + 4 + n * elemSize);
  }

  /** The root table. */
  root(): FbTable {
    if (this.length < 8) throw new FlatbufferError('buffer too short');
    const p = this.view.getUint32(0, true);
    if (p + 4 > this.length) throw new FlatbufferError('root offset past the buffer');
    return new FbTable(this, p);
  }
}

// The raw FUSE protocol encoders, checked field by field against the offsets of
// include/uapi/linux/fuse.h.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  attrOut,
  direntSize,
  entryOut,
  openOut,
  readInHeader,
  reply,
  statfsOut,
  writeDirent,
  xattrSizeOut,
  FOPEN_KEEP_CACHE,
} from '../../src/mount/raw/fuse-abi.js';

const attr = {
  ino: 2 ** 40 + 3,
  size: 5_000_000_000,
  blocks: 9765625,
  mtimeSec: 1700000000,
  mtimeNsec: 123456789,
  mode: 0o104755,
  nlink: 2,
  uid: 1000,
  gid: 100,
  rdev: 259,
  blksize: 4096,
};

test('fuse_in_header and fuse_out_header', () => {
  const b = Buffer.alloc(40);
  b.writeUInt32LE(56, 0);
  b.writeUInt32LE(1, 4);
  b.writeBigUInt64LE(77n, 8);
  b.writeBigUInt64LE(5n, 16);
  b.writeUInt32LE(1000, 24);
  b.writeUInt32LE(100, 28);
  b.writeUInt32LE(4242, 32);
  assert.deepEqual(readInHeader(b), { len: 56, opcode: 1, unique: 77n, nodeid: 5n, uid: 1000, gid: 100, pid: 4242 });
  const ok = reply(77n, 0, Buffer.from([1, 2, 3]));
  assert.equal(ok.readUInt32LE(0), 19);
  assert.equal(ok.readInt32LE(4), 0);
  assert.equal(ok.readBigUInt64LE(8), 77n);
  assert.deepEqual([...ok.subarray(16)], [1, 2, 3]);
  const err = reply(78n, -2, Buffer.from([1]));
  assert.equal(err.length, 16, 'an error reply has no body');
  assert.equal(err.readInt32LE(4), -2);
});

test('fuse_entry_out / fuse_attr_out carry 64-bit inode, size and ns times', () => {
  const e = entryOut(9, 86400, attr);
  assert.equal(e.length, 128);
  assert.equal(e.readBigUInt64LE(0), 9n);
  assert.equal(e.readBigUInt64LE(16), 86400n);
  assert.equal(e.readBigUInt64LE(24), 86400n);
  assert.equal(e.readBigUInt64LE(40), BigInt(attr.ino));
  assert.equal(e.readBigUInt64LE(48), 5_000_000_000n);
  assert.equal(e.readBigUInt64LE(56), 9765625n);
  assert.equal(e.readBigUInt64LE(40 + 32), 1700000000n);
  assert.equal(e.readUInt32LE(40 + 52), 123456789);
  assert.equal(e.readUInt32LE(40 + 60), 0o104755);
  assert.equal(e.readUInt32LE(40 + 64), 2);
  assert.equal(e.readUInt32LE(40 + 68), 1000);
  assert.equal(e.readUInt32LE(40 + 72), 100);
  assert.equal(e.readUInt32LE(40 + 76), 259);
  assert.equal(e.readUInt32LE(40 + 80), 4096);
  const neg = entryOut(0, 60, undefined);
  assert.equal(neg.readBigUInt64LE(0), 0n, 'node 0: a cached negative entry');
  const a = attrOut(86400, attr);
  assert.equal(a.length, 104);
  assert.equal(a.readBigUInt64LE(16), BigInt(attr.ino));
  const pre = entryOut(1, 1, { ...attr, mtimeSec: -1 });
  assert.equal(pre.readBigInt64LE(40 + 32), -1n, 'times before 1970 stay signed');
});

test('fuse_dirent: 24-byte header, name, 8-byte alignment, type from the mode', () => {
  assert.equal(direntSize(1), 32);
  assert.equal(direntSize(8), 32);
  assert.equal(direntSize(9), 40);
  const b = Buffer.alloc(64, 0xff);
  const next = writeDirent(b, 0, 12, 3, Buffer.from('hello'), 0o120000);
  assert.equal(next, 32);
  assert.equal(b.readBigUInt64LE(0), 12n);
  assert.equal(b.readBigUInt64LE(8), 3n);
  assert.equal(b.readUInt32LE(16), 5);
  assert.equal(b.readUInt32LE(20), 10, 'DT_LNK');
  assert.equal(b.toString('utf8', 24, 29), 'hello');
  assert.deepEqual([...b.subarray(29, 32)], [0, 0, 0], 'padding is zeroed');
});

test('open, xattr size and statfs replies', () => {
  assert.equal(openOut(FOPEN_KEEP_CACHE).readUInt32LE(8), 2);
  assert.equal(xattrSizeOut(500).readUInt32LE(0), 500);
  const s = statfsOut({ blocks: 1000, files: 20, bsize: 4096, namelen: 255 });
  assert.equal(s.length, 80);
  assert.equal(s.readBigUInt64LE(0), 1000n);
  assert.equal(s.readBigUInt64LE(8), 0n, 'no free blocks on a read-only image');
  assert.equal(s.readBigUInt64LE(24), 20n);
  assert.equal(s.readUInt32LE(40), 4096);
  assert.equal(s.readUInt32LE(44), 255);
  assert.equal(s.readUInt32LE(48), 4096);
});

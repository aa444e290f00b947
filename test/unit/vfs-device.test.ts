// Device numbers at their edges: makeRdev/splitRdev against glibc's makedev/major/minor (through
// Python's os module, which calls them), the kernel's 32-bit new_encode_dev range, and the
// majors a JavaScript number cannot hold exactly (refused, not rounded).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { makeRdev, splitRdev, MAX_RDEV_MAJOR, MAX_RDEV_MINOR } from '../../src/vfs/device.js';
import { isOcifsError } from '../../src/errors.js';

const PY_MAKEDEV = 'import os,sys,json; p=json.load(sys.stdin); print(json.dumps([str(os.makedev(a,b)) for a,b in p]))';
const majors = [0, 1, 0xff, 0x100, 0xfff, 0x1000, 0x1abc, 0xfffff, 0x100000, MAX_RDEV_MAJOR];
const minors = [0, 1, 0xff, 0x100, 0xfffff, 0x100000, 0x12345, 0xffffff, 0x1000000, 2 ** 31 - 1];

test('makeRdev is glibc makedev and splitRdev its major/minor, for every pair of edge values', () => {
  const pairs = majors.flatMap((M) => minors.map((m) => [M, m]));
  // Python's os.makedev/major/minor call glibc's (its arguments are C ints: minors up to 2^31 - 1).
  const glibc = JSON.parse(
    execFileSync('python3', ['-c', PY_MAKEDEV], {
      input: JSON.stringify(pairs),
      encoding: 'utf8',
    }),
  ) as string[];
  pairs.forEach(([M, m], i) => {
    const rdev = makeRdev(M, m);
    assert.equal(BigInt(rdev), BigInt(glibc[i]), `makedev(${M}, ${m})`);
    assert.deepEqual(splitRdev(rdev), [M, m], `split of makedev(${M}, ${m})`);
  });
});

test('a Linux device (12-bit major, 20-bit minor) packs into 32 bits as the kernel new_encode_dev does', () => {
  // new_encode_dev: (minor & 0xff) | (major << 8) | ((minor & ~0xff) << 12), as a u32.
  const newEncodeDev = (M: number, m: number) => ((m & 0xff) | (M << 8) | ((m & ~0xff) << 12)) >>> 0;
  for (const [M, m] of [
    [1, 3],
    [8, 1],
    [259, 70000],
    [0xfff, 0xfffff],
    [0xfff, 0],
    [0, 0xfffff],
  ]) {
    assert.equal(makeRdev(M, m), newEncodeDev(M, m));
  }
  assert.equal(makeRdev(0xfff, 0xfffff), 0xffffffff);
  // One past the kernel's range goes above 32 bits (where the kernel cannot follow).
  assert.equal(makeRdev(0, 0x100000), 2 ** 32);
  assert.equal(makeRdev(0x1000, 0), 2 ** 44);
});

test('the largest numbers kept exactly, and those refused', () => {
  assert.equal(makeRdev(MAX_RDEV_MAJOR, MAX_RDEV_MINOR), Number.MAX_SAFE_INTEGER);
  assert.deepEqual(splitRdev(Number.MAX_SAFE_INTEGER), [MAX_RDEV_MAJOR, MAX_RDEV_MINOR]);
  assert.deepEqual(splitRdev(makeRdev(0, MAX_RDEV_MINOR)), [0, MAX_RDEV_MINOR]);
  for (const [M, m] of [
    [MAX_RDEV_MAJOR + 1, 0],
    [0, MAX_RDEV_MINOR + 1],
    [-1, 0],
    [0, -1],
    [1.5, 0],
    [0, NaN],
  ]) {
    assert.throws(
      () => makeRdev(M, m),
      (e) => isOcifsError(e, 'ERR_OCIFS_DEVICE_NUMBER'),
      `${M}:${m}`,
    );
  }
});

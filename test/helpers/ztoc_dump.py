#!/usr/bin/python3
# Reads a SOCI zTOC with Debian's FlatBuffers runtime (python3-flatbuffers), independently of
# ocifs's own reader, by the slot numbers of soci-snapshotter's ztoc/fbs/ztoc.fbs, and checks
# its gzip zinfo against the layer it claims to index:
#   usage: ztoc_dump.py ZTOC LAYER.gz TAR
# Prints JSON: header fields, the file table, and the checkpoints with what was checked.
import hashlib
import json
import struct
import sys
import zlib

from flatbuffers import table, number_types as N

ztoc_path, layer_path, tar_path = sys.argv[1:4]
buf = bytearray(open(ztoc_path, 'rb').read())
layer = open(layer_path, 'rb').read()
tar = open(tar_path, 'rb').read()


def tab(b, pos):
    return table.Table(b, pos)


def field(t, slot):
    return t.Offset(4 + 2 * slot)


def string(t, slot):
    o = field(t, slot)
    return t.String(o + t.Pos).decode('utf-8', 'surrogateescape') if o else None


def raw(t, slot):
    o = field(t, slot)
    if not o:
        return None
    start = t.Vector(o)
    return bytes(t.Bytes[start:start + t.VectorLen(o)])


def scalar(t, slot, kind, default=0):
    o = field(t, slot)
    return t.Get(kind, o + t.Pos) if o else default


def subtable(t, slot):
    o = field(t, slot)
    return tab(t.Bytes, t.Indirect(o + t.Pos)) if o else None


def tables(t, slot):
    o = field(t, slot)
    if not o:
        return []
    start = t.Vector(o)
    return [tab(t.Bytes, t.Indirect(start + 4 * i)) for i in range(t.VectorLen(o))]


def strings(t, slot):
    o = field(t, slot)
    if not o:
        return []
    start = t.Vector(o)
    return [t.String(start + 4 * i).decode() for i in range(t.VectorLen(o))]


root = tab(buf, struct.unpack_from('<I', buf, 0)[0])
out = {
    'version': string(root, 0),
    'buildTool': string(root, 1),
    'compressedSize': scalar(root, 2, N.Int64Flags),
    'uncompressedSize': scalar(root, 3, N.Int64Flags),
}
toc = subtable(root, 4)
files = []
for m in tables(toc, 0):
    xattrs = {string(x, 0): raw(x, 1).decode('latin-1') for x in tables(m, 13)}
    files.append({
        'name': string(m, 0), 'type': string(m, 1),
        'offset': scalar(m, 2, N.Int64Flags), 'size': scalar(m, 3, N.Int64Flags),
        'linkname': string(m, 4), 'mode': scalar(m, 5, N.Int64Flags),
        'uid': scalar(m, 6, N.Uint32Flags), 'gid': scalar(m, 7, N.Uint32Flags),
        'modTime': string(m, 10),
        'devmajor': scalar(m, 11, N.Int64Flags), 'devminor': scalar(m, 12, N.Int64Flags),
        'xattrs': xattrs,
    })
out['files'] = files

info = subtable(root, 5)
out['algorithm'] = scalar(info, 0, N.Int8Flags, 1)
out['maxSpanId'] = scalar(info, 1, N.Int32Flags)
digests = strings(info, 2)
zinfo = raw(info, 3)
count, span = struct.unpack_from('<iq', zinfo, 0)
out['zinfo'] = {'count': count, 'spanSize': span, 'bytes': len(zinfo)}
W = 32768
cps = []
for k in range(count):
    p = 12 + k * (17 + W)
    i, o, bits = struct.unpack_from('<qqB', zinfo, p)
    cps.append((i, o, bits, zinfo[p + 17:p + 17 + W]))
checked = []
for k, (i, o, bits, window) in enumerate(cps):
    # The window is the 32 KiB of output before `out`, zeros in front near the start.
    want = tar[max(0, o - W):o].rjust(W, b'\0')
    start = i - (1 if bits else 0)
    end = cps[k + 1][0] if k + 1 < len(cps) else len(layer)
    digest = 'sha256:' + hashlib.sha256(layer[start:end]).hexdigest()
    decoded = None
    if bits == 0:
        # A byte-aligned checkpoint: raw inflate from `in` with the window must give tar[out:].
        d = zlib.decompressobj(wbits=-15, zdict=window)
        got = d.decompress(layer[i:i + 65536], 4096)
        decoded = got == tar[o:o + len(got)] and len(got) > 0
    checked.append({'in': i, 'out': o, 'bits': bits, 'window': window == want, 'digest': digest == digests[k], 'decoded': decoded})
out['checkpoints'] = checked
out['spanDigests'] = len(digests)
print(json.dumps(out))

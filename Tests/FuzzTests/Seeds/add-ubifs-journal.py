import struct, sys, zlib
# Appends a hand-made journal to a committed mkfs.ubifs image (LEB size argv[2]): a reference node
# in the log after the commit-start node, naming a new bud LEB at the end that holds a rewritten
# file (data + inode: /a), a new file (data, inode, entry: /d/new) and /d/sparse truncated to 8192
# bytes then grown to 12000, as Linux writes them.
path, leb = sys.argv[1], int(sys.argv[2])
b = bytearray(open(path, 'rb').read())
def target(parent, name):  # the inode an entry node (type 2) of `parent` names
    for o in range(0, len(b) - 56, 8):
        if struct.unpack_from('<I', b, o)[0] == 0x06101831 and b[o + 20] == 2 and struct.unpack_from('<I', b, o + 24)[0] == parent:
            n = struct.unpack_from('<H', b, o + 50)[0]
            if bytes(b[o + 56:o + 56 + n]) == name: return struct.unpack_from('<Q', b, o + 40)[0]
    sys.exit('no entry %r' % name)
a_ino = target(1, b'a'); dir_ino = target(1, b'd'); trunc_ino = target(dir_ino, b'sparse')
bud = (len(b) + leb - 1) // leb
b += b'\xff' * ((bud + 1) * leb - len(b))
sq = [1000000]
def seal(node, t):
    sq[0] += 1
    n = bytearray(node)
    struct.pack_into('<IIQIBBH', n, 0, 0x06101831, 0, sq[0], len(n), t, 0, 0)
    struct.pack_into('<I', n, 4, ~zlib.crc32(bytes(n[8:])) & 0xffffffff)
    return n
def r5(name):
    a = 0
    for c in name:
        s = c - 256 if c > 127 else c
        a = (a + (s << 4)) & 0xffffffff
        a = (a + (s >> 4)) & 0xffffffff
        a = (a * 11) & 0xffffffff
    a &= 0x1fffffff
    return a + 3 if a <= 2 else a
ref = bytearray(64); struct.pack_into('<III', ref, 24, bud, 0, 1)
b[3 * leb + 32:3 * leb + 96] = seal(ref, 8)
at = [bud * leb]
def put(n, t):
    n = seal(n, t); b[at[0]:at[0] + len(n)] = n; at[0] += (len(n) + 7) & ~7
def data(ino, blk, content):
    n = bytearray(48) + content; struct.pack_into('<II', n, 24, ino, (1 << 29) | blk); struct.pack_into('<IH', n, 40, len(content), 0); put(n, 1)
def inode(ino, size, mode, nlink=1):
    n = bytearray(160); struct.pack_into('<II', n, 24, ino, 0); struct.pack_into('<Q', n, 48, size)
    for o in (56, 64, 72): struct.pack_into('<Q', n, o, 1800000000)
    struct.pack_into('<IIII', n, 92, nlink, 0, 0, mode); put(n, 0)
def dent(parent, name, target):
    n = bytearray(56) + name + b'\0'; struct.pack_into('<II', n, 24, parent, (2 << 29) | r5(name)); struct.pack_into('<QBBH', n, 40, target, 0, 0, len(name)); put(n, 2)
data(a_ino, 0, b'journal\n'); inode(a_ino, 8, 0o100600, nlink=2)
data(300, 0, b'new\n'); inode(300, 4, 0o100640); dent(dir_ino, b'new', 300)
trun = bytearray(56); struct.pack_into('<I', trun, 24, trunc_ino); struct.pack_into('<QQ', trun, 40, 70000, 8192); put(trun, 4)
inode(trunc_ino, 12000, 0o100644)
open(path, 'wb').write(b)

#!/bin/bash
# Regenerates the fuzzing seeds in this folder with the peer tools (see README.md here).
#   Tests/FuzzTests/Seeds/make-seeds.sh [FLASHSMITH]
# FLASHSMITH (default .build/debug/flashsmith) writes the seeds no peer tool makes (raw NAND with OOB).
# Text seeds (board.yaml, specs, tables, configs) are written by hand below or copied from layouts/.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../../.." && pwd)
flashsmith=${1:-$repo/.build/debug/flashsmith}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export SOURCE_DATE_EPOCH=1700000000 TZ=UTC
cd "$work"
find "$here" -mindepth 2 -type f ! -path "$here/fixtures/*" -delete

seed() { mkdir -p "$here/$1"; cp "$2" "$here/$1/$3"; }
# COUNT pseudo-random bytes from SEED (the same on every run).
bytes() { python3 -c 'import random,sys; random.seed(int(sys.argv[2])); sys.stdout.buffer.write(random.randbytes(int(sys.argv[1])))' "$1" "$2"; }
text() { mkdir -p "$here/$1"; cat > "$here/$1/$2"; }

# ---------------------------------------------------------------- U-Boot environment (mkenvimage)
printf 'bootdelay=3\nbaudrate=115200\nbootcmd=run distro_bootcmd\nbootargs=console=ttyS0,115200 root=/dev/mtdblock3\nmtdparts=mtdparts=nand0:1m(u-boot),256k(env),-(rootfs)\n' > env.txt
mkenvimage -s 0x1000 -o env-single.bin env.txt
mkenvimage -s 0x1000 -r -o env-redundant-copy.bin env.txt
mkenvimage -s 0x1000 -b -o env-single-be.bin env.txt
mkenvimage -s 0x800 -p 0 -o env-pad0.bin env.txt
mkenvimage -s 0x1000 -r -o copy1.bin env.txt
printf 'bootdelay=0\n' | mkenvimage -s 0x1000 -r -o copy2.bin -
printf '\x00' | dd of=copy2.bin bs=1 seek=4 conv=notrunc status=none
cat copy1.bin copy2.bin > env-redundant-pair.bin
for f in env-single env-redundant-copy env-single-be env-pad0 env-redundant-pair; do seed env-blob $f.bin $f.bin; done
seed env-text env.txt equals.txt
cp "$repo/layouts/qemu-arm64/uboot-env.txt" "$here/env-text/qemu-arm64-uboot-env.txt"
text env-text script.txt <<'EOF'
# U-Boot script syntax
setenv bootdelay 3
setenv bootcmd 'nand read ${loadaddr} kernel; bootm ${loadaddr}'
setenv empty
setenv ipaddr 192.168.0.2; setenv serverip 192.168.0.1
env set -f ethaddr 02:00:00:00:00:01
EOF

# ---------------------------------------------------------------- fw_env.config (libubootenv syntax)
# @ENV@ is replaced by the scratch environment file when the config is fuzzed.
text fw-env-config single.config <<'EOF'
# device  offset  env-size  sector-size  sectors
@ENV@     0x0     0x1000
EOF
text fw-env-config redundant.config <<'EOF'
@ENV@     0x0     0x1000    0x1000       1
@ENV@     0x1000  0x1000    0x1000       1
EOF
text fw-env-config mtd.config <<'EOF'
/dev/mtd1 0x0 0x1000 0x1000 1
/dev/mtd1 0x1000 0x1000 0x1000 1
EOF

# ---------------------------------------------------------------- uImage (mkimage)
bytes 3000 1 > kernel.bin
printf 'initrd data' > initrd.bin
mkimage -A arm -O linux -T kernel -C none -a 0x80008000 -e 0x80008000 -n 'Linux kernel' -d kernel.bin uimage-kernel.img > /dev/null
mkimage -A arm64 -O linux -T multi -C none -a 0x40080000 -e 0x40080000 -n multi -d kernel.bin:initrd.bin uimage-multi.img > /dev/null
printf 'echo hello\nbootm 0x81000000\n' > boot.txt
mkimage -A arm -O linux -T script -C none -n script -d boot.txt uimage-script.img > /dev/null
gzip -9n < kernel.bin > kernel.gz
mkimage -A riscv -O linux -T kernel -C gzip -a 0x80200000 -e 0x80200000 -n gz -d kernel.gz uimage-gzip.img > /dev/null
for f in uimage-kernel uimage-multi uimage-script uimage-gzip; do seed uimage $f.img $f.img; done

# ---------------------------------------------------------------- device trees and FITs (dtc, mkimage)
cat > board.dts <<'EOF'
/dts-v1/;
/memreserve/ 0x40000000 0x1000;
/ {
    #address-cells = <2>;
    #size-cells = <2>;
    compatible = "flashsmith,fuzz";
    model = "fuzz board";
    chosen { bootargs = "console=ttyS0"; };
    memory@40000000 { device_type = "memory"; reg = <0x0 0x40000000 0x0 0x8000000>; };
    flash@0 {
        compatible = "cfi-flash";
        reg = <0x0 0x0 0x0 0x4000000>;
        partitions { compatible = "fixed-partitions"; #address-cells = <1>; #size-cells = <1>;
            env@0 { label = "env"; reg = <0x0 0x40000>; read-only; };
        };
    };
};
EOF
dtc -q -I dts -O dtb -o board.dtb board.dts
seed dtb board.dtb board.dtb
dtc -q -I dts -O dtb -p 256 -o board-padded.dtb board.dts
seed dtb board-padded.dtb board-padded.dtb
cat > fit.its <<'EOF'
/dts-v1/;
/ {
    description = "fuzz FIT";
    #address-cells = <1>;
    images {
        kernel { description = "kernel"; data = /incbin/("kernel.bin"); type = "kernel"; arch = "arm64"; os = "linux";
                 compression = "none"; load = <0x40400000>; entry = <0x40400000>;
                 hash-1 { algo = "crc32"; }; hash-2 { algo = "sha256"; }; };
        fdt-1 { data = /incbin/("board.dtb"); type = "flat_dt"; arch = "arm64"; compression = "none"; hash-1 { algo = "sha1"; }; };
        initrd { data = /incbin/("initrd.bin"); type = "ramdisk"; arch = "arm64"; os = "linux"; compression = "none";
                 load = <0x48000000>; hash-1 { algo = "md5"; }; };
    };
    configurations {
        default = "conf-1";
        conf-1 { description = "boot"; kernel = "kernel"; fdt = "fdt-1"; ramdisk = "initrd";
                 signature-1 { algo = "sha256,rsa2048"; key-name-hint = "dev"; sign-images = "kernel", "fdt", "ramdisk"; };
        };
    };
};
EOF
mkdir -p keys
openssl genrsa -out keys/dev.key 2048 2> /dev/null
openssl req -batch -new -x509 -key keys/dev.key -out keys/dev.crt -subj /CN=dev 2> /dev/null
sed '/signature-1/d' fit.its > fit-plain.its
mkimage -f fit-plain.its fit-embedded.itb > /dev/null
mkimage -E -f fit-plain.its fit-external.itb > /dev/null
mkimage -E -p 0x1000 -f fit-plain.its fit-position.itb > /dev/null
# The control DTB U-Boot would carry, with the public key (-K) the signed seed is checked against.
printf '/dts-v1/;\n/ { model = "control"; };\n' | dtc -q -I dts -O dtb -p 4096 -o control.dtb -
mkimage -f fit.its -k keys -K control.dtb -r fit-signed.itb > /dev/null
mkdir -p "$here/fixtures"
cp control.dtb "$here/fixtures/control.dtb"
for f in fit-embedded fit-external fit-position fit-signed; do seed fit $f.itb $f.itb; done
mkdir -p "$here/its"
cp fit.its "$here/its/fit-signed.its"
cp fit-plain.its "$here/its/fit.its"

# ---------------------------------------------------------------- FIT YAML specs (Flashsmith's own syntax)
text fit-yaml full.yaml <<'EOF'
description: arm64 kernel, DTB and initramfs
address-cells: 1
images:
  kernel: { type: kernel, arch: arm64, os: linux, load: 0x40400000, entry: 0x40400000, data: kernel.bin, hash: [sha256, crc32] }
  fdt-1:  { type: flat_dt, arch: arm64, data: board.dtb, hash: sha256, compression: none }
  initrd: { type: ramdisk, arch: arm64, os: linux, data: initrd.bin, hash: sha1 }
configurations:
  default: conf-1
  conf-1: { kernel: kernel, fdt: [fdt-1], ramdisk: initrd, description: Boot }
EOF
text fit-yaml block.yaml <<'EOF'
description: two kernels
images:
  kernel-a:
    type: kernel
    arch: arm
    os: linux
    compression: none
    load: 0x80008000
    entry: 0x80008000
    data: kernel.bin
    hash: crc32
  fpga:
    type: fpga
    data: initrd.bin
configurations:
  default: a
  a:
    kernel: kernel-a
    fpga: fpga
    description: "kernel a"
EOF

# ---------------------------------------------------------------- UBI (ubinize)
bytes 20000 2 > vol.bin
printf '[rootfs]\nmode=ubi\nvol_id=0\nvol_type=dynamic\nvol_name=rootfs\nvol_size=96KiB\nvol_flags=autoresize\nimage=vol.bin\n[kernel]\nmode=ubi\nvol_id=1\nvol_type=static\nvol_name=kernel\nimage=initrd.bin\n' > ubinize.ini
ubinize -o ubi-16k.img -p 16KiB -m 512 -Q 1 ubinize.ini
printf '[data]\nmode=ubi\nvol_id=3\nvol_name=data\nvol_size=64KiB\n' > empty.ini
ubinize -o ubi-empty-64k.img -p 64KiB -m 1 -e 7 -Q 2 empty.ini
seed ubi ubi-16k.img ubi-16k.img
seed ubi ubi-empty-64k.img ubi-empty-64k.img
text ubinize rootfs.ini <<'EOF'
; two volumes
[rootfs]
mode=ubi
vol_id=0
vol_type=dynamic
vol_name=rootfs
vol_size=96KiB
vol_alignment=1
vol_flags=autoresize
image=@SCRATCH@/vol.bin

[kernel]
mode = ubi
vol_id = 1
vol_type = static
vol_name = "kernel"
image = @SCRATCH@/vol.bin
EOF
text ubinize sizes.ini <<'EOF'
[a]
mode=ubi
vol_id=0
vol_name=a
vol_size=0x10000
[b]
mode=ubi
vol_id=1
vol_name=b
vol_size=2MiB
[c]
mode=ubi
vol_id=2
vol_name=c
vol_size=1024KiB
vol_alignment=4096
[skip]
mode=static
EOF

# ---------------------------------------------------------------- UBIFS (mkfs.ubifs, ubinize)
# A small tree with every kind of entry (devices from a table), the smallest LEBs (15 KiB, 8-byte
# I/O): lzo with the "test" key hash, zstd, and zlib inside a UBI volume (16 KiB PEBs).
mkdir -p ubifs-tree/d/e ubifs-tree/dev
printf 'hello\n' > ubifs-tree/a
bytes 5000 3 > ubifs-tree/d/random
python3 -c 'import sys; sys.stdout.write("".join("row %d of a text\n" % i for i in range(600)))' > ubifs-tree/d/e/text
ln -s a ubifs-tree/link
ln -s "$(printf 'x%.0s' $(seq 1 200))" ubifs-tree/long-link
ln ubifs-tree/a ubifs-tree/d/hard
mkfifo ubifs-tree/fifo
: > ubifs-tree/empty
truncate -s 70000 ubifs-tree/d/sparse
chmod 4755 ubifs-tree/d/random
find ubifs-tree -exec touch -h -d @1700000000 {} +
printf '/dev/console c 600 0 0 5 1 0 0 -\n/dev/sda b 640 0 6 8 0 0 0 -\n' > ubifs-devices.txt
mkfs.ubifs -r ubifs-tree -D ubifs-devices.txt -m 8 -e 15360 -c 64 -x lzo -k test -o ubifs-lzo.ubifs
mkfs.ubifs -r ubifs-tree -D ubifs-devices.txt -m 8 -e 15360 -c 64 -x zstd -o ubifs-zstd.ubifs
mkfs.ubifs -r ubifs-tree -D ubifs-devices.txt -m 8 -e 16256 -c 64 -x zlib -o ubifs-zlib.ubifs
printf '[rootfs]\nmode=ubi\nvol_id=0\nvol_name=rootfs\nvol_size=400KiB\nimage=ubifs-zlib.ubifs\n' > ubifs.ini
ubinize -o ubifs-in-ubi.img -p 16KiB -m 8 -Q 3 ubifs.ini
seed ubifs ubifs-lzo.ubifs lzo-test-hash.ubifs
seed ubifs ubifs-zstd.ubifs zstd.ubifs
seed ubifs ubifs-in-ubi.img zlib-in-ubi.img
# Uncommitted changes on top (a log reference and a bud LEB, as Linux leaves them before a commit).
cp ubifs-zstd.ubifs ubifs-journal.ubifs
python3 "$here/add-ubifs-journal.py" ubifs-journal.ubifs 15360
seed ubifs ubifs-journal.ubifs zstd-journal.ubifs

# ---------------------------------------------------------------- raw NAND with OOB (flashsmith nand raw)
bytes 40000 3 > main.bin
if [ -x "$flashsmith" ]; then
  "$flashsmith" nand raw main.bin -o nand-512-hamming.raw --page-size 512 --oob-size 16 --erase-block 16KiB --ecc hamming --blocks 4 --bad-blocks 2 > /dev/null
  "$flashsmith" nand raw main.bin -o nand-2k-bch8.raw --page-size 2048 --oob-size 64 --erase-block 128KiB --ecc bch8 --blocks 1 > /dev/null
  seed nand-raw nand-512-hamming.raw nand-512-hamming.raw
  seed nand-raw nand-2k-bch8.raw nand-2k-bch8.raw
else
  echo "make-seeds: $flashsmith not built: nand-raw seeds kept as they are" >&2
fi

# ---------------------------------------------------------------- raw flash image (no OOB): env, uImage, FIT, UBI on 4 KiB boundaries
mkenvimage -s 0x2000 -o env8k.bin env.txt
head -c $((256 << 10)) /dev/zero | tr '\0' '\377' > flash.img
dd if=env8k.bin of=flash.img bs=4096 seek=4 conv=notrunc status=none
dd if=uimage-script.img of=flash.img bs=4096 seek=8 conv=notrunc status=none
dd if=board.dtb of=flash.img bs=4096 seek=12 conv=notrunc status=none
dd if=ubi-16k.img of=flash.img bs=4096 seek=16 conv=notrunc status=none
seed flash-image flash.img flash-256k.img

# ---------------------------------------------------------------- disk partition tables (sgdisk, sfdisk)
truncate -s 128K gpt-sgdisk.img
sgdisk -a 8 -U 01234567-89AB-CDEF-0123-456789ABCDEF -n 1:40:+16K -t 1:ef00 -c 1:boot -A 1:set:2 -u 1:11111111-2222-3333-4444-555555555555 \
    -n 3:80:+24K -t 3:8300 -c 3:root -u 3:22222222-3333-4444-5555-666666666666 gpt-sgdisk.img > /dev/null
truncate -s 192K gpt-moved.img
sgdisk -j 64 -a 8 -U 01234567-89AB-CDEF-0123-456789ABCDEF -n 1:104:+20K -t 1:8300 -c 1:data -u 1:33333333-2222-3333-4444-555555555555 gpt-moved.img > /dev/null
truncate -s 128K gpt-sfdisk.img
printf 'label: gpt\nlabel-id: 01234567-89AB-CDEF-0123-456789ABCDEF\nfirst-lba: 34\nstart=40, size=32, type=U, name="esp", uuid=44444444-2222-3333-4444-555555555555, attrs="LegacyBIOSBootable"\nstart=80, size=64, type=L, name="root", uuid=55555555-2222-3333-4444-555555555555\n' | sfdisk -q gpt-sfdisk.img
truncate -s 64K mbr-sfdisk.img
printf 'label: dos\nlabel-id: 0x12345678\nstart=2, size=20, type=c, bootable\nstart=24, size=10, type=83\nstart=40, type=5\nstart=42, size=20, type=83\nstart=70, size=20, type=82\n' | sfdisk -q mbr-sfdisk.img
for f in gpt-sgdisk gpt-moved gpt-sfdisk mbr-sfdisk; do seed disk $f.img $f.img; done

# ---------------------------------------------------------------- archives (GNU tar, bsdtar, GNU cpio, compressors)
mkdir -p tree/etc tree/bin tree/dev
printf 'root:x:0:0:root:/root:/bin/sh\n' > tree/etc/passwd
printf '#!/bin/sh\necho hi\n' > tree/bin/hello; chmod 755 tree/bin/hello
ln -s hello tree/bin/hi
ln tree/etc/passwd tree/etc/passwd.hard
mkdir -p tree/a/very/long/path/name/that/goes/past/one/hundred/characters/for/the/gnu/longname/extension
printf 'x' > tree/a/very/long/path/name/that/goes/past/one/hundred/characters/for/the/gnu/longname/extension/file-with-a-long-name
( cd tree && find . | LC_ALL=C sort > ../list )
tar --format=gnu --owner=0 --group=0 --mtime=@1700000000 -C tree -cf gnu.tar .
tar --format=ustar --owner=0 --group=0 --mtime=@1700000000 -C tree -cf ustar.tar ./etc ./bin
bsdtar --format=pax -C tree -cf pax.tar .
# Device nodes, big ids and xattrs without root: an mtree description that bsdtar turns into entries.
cat > devices.mtree <<'EOF'
#mtree
./dev/console type=char mode=0600 uid=0 gid=5 device=native,5,1 time=1700000000.0
./dev/mtdblock0 type=block mode=0660 uid=0 gid=6 device=native,31,0 time=1700000000.0
./dev/big type=char mode=0600 uid=4000000000 gid=4000000000 device=native,4095,1048575 time=1700000000.0
./fifo type=fifo mode=0644 uid=0 gid=0 time=1700000000.0
EOF
bsdtar --format=pax -cf devices-pax.tar @devices.mtree
bsdtar --format=gnutar -cf devices-gnu.tar @devices.mtree 2> /dev/null || true  # (the 20-bit minor is left out)
bsdtar --format=newc -cf devices.cpio @devices.mtree 2> /dev/null || true
( cd tree && cpio --quiet -o -H newc < ../list > ../newc.cpio )
( cd tree && cpio --quiet -o -H crc < ../list > ../crc.cpio )
( cd tree && cpio --quiet -o -H odc < ../list > ../odc.cpio )
( cd tree && cpio --quiet -o -H bin < ../list > ../bin.cpio )
gzip -9n < newc.cpio > newc.cpio.gz
xz -T1 < pax.tar > pax.tar.xz
zstd -q < gnu.tar > gnu.tar.zst
lz4 -q -l < newc.cpio > newc.cpio.lz4
bzip2 < ustar.tar > ustar.tar.bz2
lzma < odc.cpio > odc.cpio.lzma
for f in gnu.tar ustar.tar pax.tar devices-pax.tar devices-gnu.tar devices.cpio newc.cpio crc.cpio odc.cpio bin.cpio newc.cpio.gz pax.tar.xz gnu.tar.zst newc.cpio.lz4 ustar.tar.bz2 odc.cpio.lzma; do
  seed archive $f $f
done

# ---------------------------------------------------------------- kernel configuration: .config, config.gz, .deb (dpkg-deb)
text kconfig config <<'EOF'
#
# Automatically generated file; DO NOT EDIT.
# Linux/arm64 6.1.0 Kernel Configuration
#
CONFIG_ARM64=y
CONFIG_64BIT=y
CONFIG_MTD=y
CONFIG_MTD_UBI=m
CONFIG_UBIFS_FS=m
CONFIG_CHECKPOINT_RESTORE=y
CONFIG_NAMESPACES=y
# CONFIG_NFS_FS is not set
CONFIG_LOG_BUF_SHIFT=17
CONFIG_CMDLINE="console=ttyAMA0"
CONFIG_DEVTMPFS=y
EOF
gzip -9n < "$here/kconfig/config" > config.gz
seed kconfig config.gz config.gz
mkdir -p pkg/DEBIAN pkg/boot
printf 'Package: linux-image-fuzz\nVersion: 1\nArchitecture: arm64\nMaintainer: fuzz <f@z>\nDescription: fuzz seed\n' > pkg/DEBIAN/control
cp "$here/kconfig/config" pkg/boot/config-6.1.0-fuzz
dpkg-deb -Zgzip --root-owner-group -b pkg kernel-gz.deb > /dev/null
dpkg-deb -Zxz --root-owner-group -b pkg kernel-xz.deb > /dev/null
seed deb kernel-gz.deb kernel-gz.deb
seed deb kernel-xz.deb kernel-xz.deb

# ---------------------------------------------------------------- ELF (gcc, clang/lld for other machines)
printf '#include <stdio.h>\nint main(void) { puts("hi"); return 0; }\n' > hello.c
printf 'int f(void) { return 1; }\n' > lib.c
gcc -Os -s -o hello-x86_64 hello.c
gcc -Os -s -shared -fPIC -Wl,-soname,libfuzz.so.1 -Wl,-rpath,/opt/lib -o libfuzz-x86_64.so lib.c
seed elf hello-x86_64 hello-x86_64
seed elf libfuzz-x86_64.so libfuzz-x86_64.so
if command -v clang > /dev/null; then
  for t in aarch64-linux-gnu armv7a-linux-gnueabihf powerpc-linux-gnu; do
    clang --target=$t -O1 -fPIC -nostdlib -shared -fuse-ld=lld -Wl,-soname,libfuzz.so.1 -Wl,--enable-new-dtags,-rpath,/usr/lib/fuzz -o lib-$t.so lib.c
    llvm-strip lib-$t.so 2> /dev/null || strip lib-$t.so 2> /dev/null || true
    seed elf lib-$t.so lib-$t.so
  done
fi

# ---------------------------------------------------------------- busybox applet tables (a slice of Debian's busybox)
if [ -e /bin/busybox ]; then
  python3 - /bin/busybox "$here/busybox/busybox-slice.bin" <<'EOF'
import sys
d = open(sys.argv[1], 'rb').read()
start = d.find(b'\0[\0[[\0')
end = d.find(b'\0\0', start + 1)
# the install-location nibbles sit shortly before the names: keep 16 KiB before them
a = max(0, start - 16384)
import os
os.makedirs(os.path.dirname(sys.argv[2]), exist_ok=True)
open(sys.argv[2], 'wb').write(d[a:end + 64])
EOF
fi

# ---------------------------------------------------------------- tables, boards, rootfs specs (text)
mkdir -p "$here/device-table" "$here/board" "$here/rootfs-spec"
cp "$repo/rootfs-skeletons/base/device_table.txt" "$here/device-table/base.txt"
text device-table ranges.txt <<'EOF'
# name   type mode uid gid major minor start inc count
/dev/mtd        c    660  0   0   90  0     0     2   4
/dev/ttyS       c    666  0   5   4   64    0     1   4
/dev/sda        b    640  0   6   8   0     1     1   3
/etc/optional   F    640  0   5   -   -     -     -   -
/var/board      d    2750 1   5   -   -     -     -   -
/usr/bin/ping   f    4755 0   0   -   -     -     -   -  |xattr security.capability=0x0100000200200000000000000000000000000000
/tmp            d    1777 0   0   -   -     -     -   -
EOF
text users-table plain.txt <<'EOF'
# no passwords to hash: the table's own checks only
www 33 www 33 * /var/www - - Web server
svc -1 svc -1 * - - - -
ops 1200 ops 1200 - /home/ops /bin/sh audio,video Operator
EOF
text users-table users.txt <<'EOF'
# username uid group gid password home shell groups comment
alice -2 alice -2 =secret /home/alice /bin/sh audio,video Alice   Liddell
svc -1 svc -1 * - - - -
bob 1500 staff 50 !=hunter2 /home/bob - - # comment after
eve 1600 eve 1600 $6$salt$hash /home/eve /bin/sh - Eve
EOF
for b in nandsim qemu-arm64 s5pc100 slc-4k; do
  cp "$repo/layouts/$b/board.yaml" "$here/board/$b.yaml"
done
text board nor-small.yaml <<'EOF'
name: nor-small
console: ttyAMA0
bootargs: quiet
override: {bootcmd: "bootm 0x4040000"}
flash:
  type: nor
  base: 0x4000000
  erase-block: 64KiB
  chip: 1MiB
  mtd-id: 4000000.flash
partitions:
  - name: env
    size: 64KiB
    content: {env: uboot-env.txt, redundant: false}
  - name: kernel
    offset: 0x20000
    size: 512KiB
    read-only: true
  - name: data
    size: rest
EOF
text board nand-ubi.yaml <<'EOF'
name: nand-ubi
flash:
  page: 4KiB
  oob: 224
  erase-block: 256KiB
  chip: 64MiB
  sub-page: 4096
  ecc: bch8
  bad-blocks-per-1024: 20
  mtd-id: nand0
  id-bytes: [0x2c, 0xdc, 0x90, 0xa6, 0x54]
  bad-blocks: [3, 70]
qemu: {system: qemu-system-arm, machine: virt, memory: 256}
partitions:
  - name: spl
    size: 1MiB
    read-only: true
  - name: env
    size: 1MiB
    content: {env: uboot-env.txt, redundant: true}
  - name: ubi
    size: rest
    content:
      ubi:
        - {name: kernel, file: kernel.bin, type: static}
        - {name: data, size: 4MiB}
        - {name: rootfs, ubifs: rootfs.yaml, autoresize: true}
EOF
cp "$repo/layouts/nandsim/rootfs.yaml" "$here/rootfs-spec/nandsim.yaml"
text rootfs-spec full.yaml <<'EOF'
source-date-epoch: 1700000000
content-manifest: true
layers:
  - skeleton: base
  - overlay: overlay/
    replace: true
  - bundle: [/usr/sbin/criu]
    sysroot: sysroot-arm64/
  - modules: /lib/modules/6.1.0-26-arm64
    load: [ubifs, zstd]
  - busybox: sysroot-arm64/bin/busybox
    links: symlink
  - users: users_table.txt
  - devices: device_table.txt
  - file: /etc/motd
    content: "hello\n"
EOF

# ---------------------------------------------------------------- numbers as options take them
text byte-size sizes.txt <<'EOF'
128KiB
0x20000
4096
1MiB
2GiB
64k
1m
512B
0
EOF
# One command line per seed (the parser runs once per input).
mkdir -p "$here/cli-options"
rm -f "$here/cli-options/"*
n=0
while read -r line; do n=$((n + 1)); printf '%s\n' "$line" > "$here/cli-options/$(printf %02d $n).txt"; done <<'EOF'
env print -s 0x1000 env.img
env create --size 0x20000 -r --pad 0 env.txt -o env.img
env set env.img bootdelay=3 --size 4096 --flags counter
env print env.img bootcmd -s 0x1000 --big-endian -n
ubi inspect --peb-size 128KiB ubi.img
ubi build ubinize.ini -o ubi.img -p 128KiB -m 2048 -s 512 -O 2048 -e 7 -Q 12345
fit build spec.yaml -o fit.itb -E -B 0x1000 -p 0x10000 --dtb-padding 4096
fit lint fit.itb --fit-address 0x40000000
nand raw main.bin -o out.raw --page-size 2048 --oob-size 64 --erase-block 128KiB --blocks 16 --bad-blocks 3,7
uimage create -A arm -O linux -T kernel -a 0x80008000 -e 0x80008000 -n linux -d kernel.bin -o uImage
fit lint fit.itb --bootm-len 64MiB
EOF
echo "seeds written to $here"

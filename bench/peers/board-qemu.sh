#!/bin/sh
# The peer tools doing what `flashsmith build layouts/qemu-arm64` does (bench row board-qemu):
# the rootfs under fakeroot (skeleton, overlay, busybox and its links, device table; find | cpio |
# pigz -6), the kernel pigz -9'd (gzip on every core, as flashsmith does), the FIT (mkimage -f), the env (mkenvimage), the flashing script (mkimage -T script) and
# the 64 MiB NOR chip image (genimage). Inputs the peers need typed by hand (the .its, the env with
# bootcmd/bootargs/mtdparts written out, genimage.cfg, flash.cmd, the applet list) are in INPUTS.
# Usage: board-qemu.sh OUT INPUTS REPO SYSROOT KERNEL   (KERNEL "": the FIT takes the kernel uncompressed)
set -e
OUT=$1 IN=$2 REPO=$3 SYSROOT=$4 KERNEL=$5
rm -rf "$OUT" "$OUT.tmp"
mkdir -p "$OUT" "$OUT.tmp/root" "$OUT.tmp/empty"
R=$OUT.tmp/root
fakeroot -- sh -e -c "
  cp -a '$REPO/rootfs-skeletons/base/tree/.' '$R/'
  cp -a '$REPO/layouts/qemu-arm64/rootfs-overlay/.' '$R/'
  mkdir -p '$R/usr/bin' '$R/usr/sbin'
  cp '$SYSROOT/bin/busybox' '$R/bin/busybox'
  cd '$R' && while read -r a; do [ -e \"\$a\" ] || [ -L \"\$a\" ] || ln -s /bin/busybox \"\$a\"; done < '$IN/applets.txt'
  sh '$(dirname "$0")/makedevs.sh' '$R' '$REPO/rootfs-skeletons/base/device_table.txt'
  cd '$R' && find . | LC_ALL=C sort | cpio -o -H newc --quiet | pigz -6 -n > '$OUT/rootfs.cpio.gz'
"
[ -z "$KERNEL" ] || pigz -9 -n -c "$KERNEL" > "$OUT.tmp/Image.gz"   # KERNEL empty: the .its takes it as is
mkimage -f "$IN/fit.its" "$OUT/fit.img" > /dev/null
mkenvimage -s 0x40000 -o "$OUT/env.img" "$IN/env.txt"
mkimage -A arm -O linux -T script -C none -n "flash qemu-arm64" -d "$IN/flash.cmd" "$OUT/flash.scr" > /dev/null
genimage --config "$IN/genimage.cfg" --inputpath "$OUT" --outputpath "$OUT" --rootpath "$OUT.tmp/empty" --tmppath "$OUT.tmp/genimage" > /dev/null 2>&1
rm -rf "$OUT.tmp"

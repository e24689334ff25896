#!/bin/sh
# The peer tools doing what `flashsmith build` does for the bench's disk board (bench row
# board-disk), as genimage users run it: the root filesystem staged under fakeroot (the base
# skeleton, busybox and its links, the device table, the bench's 20,000-file tree), then genimage in
# the same fakeroot session: a vfat boot partition with the boot image (mkfs.vfat + mcopy), the
# staged tree as squashfs (mksquashfs, gzip), an empty ext4 data partition (mke2fs) and the GPT disk.
# Usage: board-disk.sh OUT INPUTS REPO TREE
set -e
OUT=$1 IN=$2 REPO=$3 TREE=$4
HERE=$(cd "$(dirname "$0")" && pwd)
rm -rf "$OUT" "$OUT.tmp"
mkdir -p "$OUT" "$OUT.tmp/root"
R=$OUT.tmp/root
fakeroot -- sh -e -c "
  cp -a '$REPO/rootfs-skeletons/base/tree/.' '$R/'
  mkdir -p '$R/usr/bin' '$R/usr/sbin'
  cp -a '$TREE/.' '$R/'
  cp /bin/busybox '$R/bin/busybox'
  cd '$R' && while read -r a; do [ -e \"\$a\" ] || [ -L \"\$a\" ] || ln -s /bin/busybox \"\$a\"; done < '$IN/applets.txt'
  sh '$HERE/makedevs.sh' '$R' '$REPO/rootfs-skeletons/base/device_table.txt'
  genimage --config '$IN/genimage.cfg' --inputpath '$IN' --outputpath '$OUT' --rootpath '$R' --tmppath '$OUT.tmp/genimage' > /dev/null 2>&1
"
rm -rf "$OUT.tmp"

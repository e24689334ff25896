#!/bin/sh
# The peer tools doing what `flashsmith build layouts/nandsim` does (bench row board-nandsim): the
# rootfs staged and mkfs.ubifs run under fakeroot (geometry typed: -m 2048 -e 129024 -c 926),
# ubinize, the redundant env (mkenvimage -r, the same copy twice), the flashing script (mkimage -T
# script) and the 128 MiB chip image (genimage). What the peers cannot make at all is left out:
# the chip image with OOB and ECC (flashsmith makes it too, in the same run).
# Usage: [MKFS_MAX_LEBS=N] [EXTRA_TREE=DIR] board-nandsim.sh OUT INPUTS REPO
# (board-nandsim-tree: a 512 MiB chip, -c 3938, and the bench's tree copied in after the overlay.)
set -e
OUT=$1 IN=$2 REPO=$3
MAX_LEBS=${MKFS_MAX_LEBS:-926}
rm -rf "$OUT" "$OUT.tmp"
mkdir -p "$OUT" "$OUT.tmp/root" "$OUT.tmp/empty"
R=$OUT.tmp/root
fakeroot -- sh -e -c "
  cp -a '$REPO/rootfs-skeletons/base/tree/.' '$R/'
  mkdir -p '$R/usr/bin' '$R/usr/sbin'
  cp -a '$REPO/layouts/nandsim/rootfs-overlay/.' '$R/'
  if [ -n '${EXTRA_TREE:-}' ]; then cp -a '${EXTRA_TREE:-}/.' '$R/'; fi
  cp /bin/busybox '$R/bin/busybox'
  cd '$R' && while read -r a; do [ -e \"\$a\" ] || [ -L \"\$a\" ] || ln -s /bin/busybox \"\$a\"; done < '$IN/applets.txt'
  sh '$(dirname "$0")/makedevs.sh' '$R' '$REPO/rootfs-skeletons/base/device_table.txt' '$REPO/layouts/nandsim/device_table.txt'
  mkfs.ubifs -m 2048 -e 129024 -c $MAX_LEBS -x lzo -F -r '$R' -o '$OUT.tmp/rootfs.ubifs'
"
ubinize -o "$OUT/rootfs.img" -p 128KiB -m 2048 -s 512 "$IN/ubinize.ini"
mkenvimage -r -s 0x20000 -o "$OUT/env.img" "$IN/env.txt"
mkimage -A arm -O linux -T script -C none -n "flash nandsim" -d "$IN/flash.cmd" "$OUT/flash.scr" > /dev/null
genimage --config "$IN/genimage.cfg" --inputpath "$OUT" --outputpath "$OUT" --rootpath "$OUT.tmp/empty" --tmppath "$OUT.tmp/genimage" > /dev/null 2>&1
rm -rf "$OUT.tmp"

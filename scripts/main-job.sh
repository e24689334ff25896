#!/usr/bin/env bash
# The main job on the default board (layouts/qemu-arm64): installs what is missing, builds
# Flashsmith (release, fully static executable), fetches the board's arm64 packages (Debian's
# kernel and busybox-static) into its sysroot, then, from the one board file:
#   flashsmith build  — the 64 MiB NOR chip image: U-Boot environment (bootcmd, bootargs, mtdparts
#                       derived) and a FIT of the kernel and the board's root filesystem;
#                       fw_env.config, flash.cmd/.scr, mtdparts, partitions.dtsi, the report;
#   flashsmith boot   — QEMU virt with Debian's U-Boot on that chip: U-Boot loads the env, boots
#                       the FIT from flash, the kernel runs the rootfs up to the board's marker;
# then the development loop over the network:
#   boot --net        — the same chip, but U-Boot runs netboot: the FIT over QEMU's TFTP (no root);
#   build --boot nfs, boot --nfs (as root, with nfs-ganesha) — U-Boot nfsboot: the FIT over TFTP,
#                       the root filesystem over NFS from OUT-nfs/nfsroot, served by NFS-Ganesha in a
#                       private network namespace; a file written on the host is read by the board.
# then, for the default board, the disk board layouts/qemu-arm64-disk (same kernel): built and
# booted by U-Boot's distro boot from a virtio disk, root on squashfs.
# Outputs go to out/<board>/.
# Usage: scripts/main-job.sh [BOARD]      (default: qemu-arm64)
set -euo pipefail
cd "$(dirname "$0")/.."
BOARD=${1:-qemu-arm64}
LAYOUT=layouts/$BOARD
[ -d "$LAYOUT" ] || { echo "main-job: no board folder $LAYOUT" >&2; exit 2; }

scripts/install-deps.sh --if-missing
swift build -c release -Xswiftc -static-executable --scratch-path .build-release --product flashsmith
FS=$PWD/.build-release/release/flashsmith
OUT=out/$BOARD

echo "== the board's arm64 packages (busybox, kernel), cached in .build/"
SYSROOT=$PWD/.build/sysroot-arm64
scripts/fetch-sysroot.sh arm64 "$SYSROOT" "$FS" busybox-static linux-image-arm64

echo "== flashsmith nand show $LAYOUT"
"$FS" nand show "$LAYOUT"
echo "== flashsmith build $LAYOUT -o $OUT"
"$FS" build "$LAYOUT" -o "$OUT" --sysroot "$SYSROOT"
echo "== flashsmith inspect $OUT/fit.img"
"$FS" inspect "$OUT/fit.img"
echo "== the environment in the chip image, as U-Boot will read it (flashsmith env print)"
"$FS" env print -c "$OUT/chip-fw_env.config"     # written by build: the env copies inside the chip image

echo "== flashsmith boot $OUT (QEMU virt, Debian's qemu_arm64 U-Boot, TCG)"
"$FS" boot "$OUT" --until "flashsmith: rootfs of board $BOARD up" --timeout 120 </dev/null | tr -d '\r' > "$OUT/boot.log" || {
  tail -n 40 "$OUT/boot.log" >&2
  echo "main-job: the board did not come up; see $OUT/boot.log" >&2
  exit 1
}
grep -a -E 'Loading Environment|^flashsmith:|Loading (kernel|ramdisk) from FIT|sha256\+ OK|Starting kernel' "$OUT/boot.log"
echo "main-job: U-Boot booted $BOARD from the flash Flashsmith built, up to its root filesystem (log: $OUT/boot.log)"

MARKER="flashsmith: rootfs of board $BOARD up"
if grep -q '^qemu:' "$LAYOUT/board.yaml"; then
  echo "== flashsmith boot $OUT --net (U-Boot netboot: the FIT over QEMU's TFTP)"
  "$FS" boot "$OUT" --net --until "$MARKER" --timeout 180 </dev/null | tr -d '\r' > "$OUT/netboot.log" || {
    tail -n 40 "$OUT/netboot.log" >&2; echo "main-job: the TFTP boot failed; see $OUT/netboot.log" >&2; exit 1; }
  grep -a -E '^Using|^Filename|Bytes transferred|^flashsmith:' "$OUT/netboot.log"

  if [ "$(id -u)" = 0 ] && command -v ganesha.nfsd > /dev/null; then
    NFS=$OUT-nfs
    echo "== flashsmith build $LAYOUT --boot nfs -o $NFS, then boot $NFS --nfs (U-Boot nfsboot, root over NFS)"
    "$FS" build "$LAYOUT" --boot nfs -o "$NFS" --sysroot "$SYSROOT" | grep -E 'boots:|nfsroot|initramfs' || true
    # The host writes a file into the served tree; the board reads it over NFS once it is up.
    echo "written on the host at $(date -u +%H:%M:%S)" > "$NFS/nfsroot/from-host"
    printf 'cat /from-host; poweroff -f\n' | "$FS" boot "$NFS" --nfs --send-after "$MARKER" --until "written on the host" --timeout 240 | tr -d '\r' > "$NFS/boot.log" || {
      tail -n 40 "$NFS/boot.log" >&2; echo "main-job: the NFS-root boot failed; see $NFS/boot.log" >&2; exit 1; }
    grep -a -E 'Bytes transferred|nfsroot|^flashsmith:|written on the host' "$NFS/boot.log" | head -n 12
    echo "main-job: $BOARD booted with its root filesystem over NFS from $NFS/nfsroot (log: $NFS/boot.log)"
  else
    echo "main-job: the NFS-root loop needs root and nfs-ganesha (scripts/install-deps.sh); skipped"
  fi
fi
if [ "$BOARD" = qemu-arm64 ]; then
  # The same kernel and busybox on a board that boots from a disk (SD card, eMMC; here virtio).
  DISK=out/qemu-arm64-disk
  echo "== flashsmith build layouts/qemu-arm64-disk -o $DISK (GPT: vfat boot with FIT + boot.scr, squashfs root, ext4 data)"
  "$FS" build layouts/qemu-arm64-disk -o "$DISK" --sysroot "$SYSROOT"
  "$FS" inspect "$DISK/qemu-arm64-disk.img"
  "$FS" boot "$DISK" --until "flashsmith: rootfs of board qemu-arm64-disk up" --timeout 120 </dev/null | tr -d '\r' > "$DISK/boot.log" || {
    tail -n 40 "$DISK/boot.log" >&2; echo "main-job: the disk board did not come up; see $DISK/boot.log" >&2; exit 1; }
  grep -a -E 'Found U-Boot script|sha256\+ OK|Starting kernel|flashsmith-blockroot|S20data|^flashsmith:' "$DISK/boot.log"
  echo "main-job: U-Boot's distro boot booted qemu-arm64-disk from the disk Flashsmith built (log: $DISK/boot.log)"
fi
echo "main-job: to watch it and use the shell: $FS boot $OUT   (Ctrl-A X leaves QEMU)"

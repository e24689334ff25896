#!/usr/bin/env bash
# The main job on the default board (layouts/qemu-arm64): installs what is missing, builds
# Flashsmith (release, fully static executable), fetches the board's arm64 packages (Debian's
# kernel and busybox-static) into its sysroot, then, from the one board file:
#   flashsmith build  — the 64 MiB NOR chip image: U-Boot environment (bootcmd, bootargs, mtdparts
#                       derived) and a FIT of the kernel and the board's root filesystem;
#                       fw_env.config, flash.cmd/.scr, mtdparts, partitions.dtsi, the report;
#   flashsmith boot   — QEMU virt with Debian's U-Boot on that chip: U-Boot loads the env, boots
#                       the FIT from flash, the kernel runs the rootfs up to the board's marker.
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
echo "main-job: to watch it and use the shell: $FS boot $OUT   (Ctrl-A X leaves QEMU)"

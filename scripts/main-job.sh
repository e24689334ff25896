#!/usr/bin/env bash
# The main job on the default board (layouts/qemu-arm64): installs what is missing, builds
# Flashsmith (release, fully static executable), writes the board's U-Boot environment into the
# board's flash image where its fw_env.config says, shows it, and boots Debian's real U-Boot in
# QEMU on that flash to show the environment is taken; then fetches the board's arm64 packages
# (busybox, kernel) into a sysroot, builds the board's root filesystem as an initramfs and boots
# the arm64 kernel on it. Outputs go to out/<board>/.
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
mkdir -p "$OUT"
cp "$LAYOUT/fw_env.config" "$OUT/fw_env.config"
cd "$OUT"
# The second pflash bank: 64 MiB of erased NOR (0xff), as QEMU wants the whole bank.
head -c $((64 << 20)) /dev/zero | tr '\0' '\377' > flash1.img.tmp && mv flash1.img.tmp flash1.img

echo "== flashsmith env create -c fw_env.config $LAYOUT/uboot-env.txt"
"$FS" env create -c fw_env.config "../../$LAYOUT/uboot-env.txt"
echo "== flashsmith env print -c fw_env.config"
"$FS" env print -c fw_env.config
echo "== flashsmith inspect (the environment alone, as a file)"
"$FS" env print -c fw_env.config > uboot-env.txt
"$FS" env create -s 0x40000 -o uboot-env.bin uboot-env.txt
"$FS" inspect uboot-env.bin
UBOOT=/usr/lib/u-boot/qemu_arm64/u-boot.bin
echo "== flashsmith env diff: U-Boot's built-in default vs this board"
"$FS" env extract-default "$UBOOT" > default-env.txt
"$FS" env diff default-env.txt uboot-env.txt || true

echo "== booting Debian's qemu_arm64 U-Boot with this flash (QEMU, TCG)"
timeout 60 qemu-system-aarch64 -M virt -cpu cortex-a57 -m 1024 -nographic -no-reboot -nic none \
  -bios "$UBOOT" -drive if=pflash,format=raw,index=1,file=flash1.img </dev/null > uboot-boot.log 2>&1 || true
grep -a -E 'Loading Environment|flashsmith:' uboot-boot.log | tr -d '\r'
if grep -aq 'flashsmith: environment of board' uboot-boot.log; then
  echo "main-job: U-Boot loaded the environment Flashsmith wrote (log: $OUT/uboot-boot.log)"
else
  echo "main-job: U-Boot did not run the board's bootcmd; see $OUT/uboot-boot.log" >&2
  exit 1
fi

echo "== the board's root filesystem: arm64 busybox and kernel from Debian's packages (cached in .build/)"
cd ../..
SYSROOT=$PWD/.build/sysroot-arm64
scripts/fetch-sysroot.sh arm64 "$SYSROOT" "$FS" busybox-static linux-image-arm64
"$FS" rootfs build "$LAYOUT/rootfs.yaml" --busybox "$SYSROOT/bin/busybox" -o "$OUT/rootfs.cpio.gz"
"$FS" inspect "$OUT/rootfs.cpio.gz"
KERNEL=$(ls "$SYSROOT"/boot/vmlinuz-* | tail -n1)
echo "== booting $(basename "$KERNEL") with that initramfs (QEMU, TCG)"
timeout 90 qemu-system-aarch64 -M virt -cpu cortex-a57 -m 1024 -nographic -no-reboot -nic none \
  -kernel "$KERNEL" -initrd "$OUT/rootfs.cpio.gz" -append "console=ttyAMA0 panic=-1 quiet flashsmith.poweroff" \
  </dev/null > "$OUT/rootfs-boot.log" 2>&1 || true
if grep -a 'flashsmith: rootfs of board' "$OUT/rootfs-boot.log" | tr -d '\r'; then
  echo "main-job: the board's root filesystem came up (log: $OUT/rootfs-boot.log)"
else
  echo "main-job: the root filesystem did not come up; see $OUT/rootfs-boot.log" >&2
  exit 1
fi

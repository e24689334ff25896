#!/usr/bin/env bash
# Installs the Debian packages Flashsmith needs to build, test and benchmark, on Debian 12 with
# Swift 6.3 already installed. Runs `apt-get update` first. Needs root (uses sudo when not root).
# With --if-missing, does nothing when every package is already installed.
set -euo pipefail

PACKAGES=(
  # build: the C libraries behind the CArchive, CFDT and CMTD modules
  pkg-config libarchive-dev libfdt-dev libmtd-dev libyaml-dev
  # UBIFS data-node compressors behind the CLZO and CZstd modules (libzstd-dev is listed below)
  liblzo2-dev
  # static libraries libarchive needs in a fully static release build (-static-executable)
  libacl1-dev libzstd-dev liblz4-dev libbz2-dev liblzma-dev zlib1g-dev nettle-dev libxml2-dev
  # peers the interop tests run against
  u-boot-tools libubootenv-tool device-tree-compiler mtd-utils cpio libarchive-tools tar
  gzip bzip2 xz-utils lz4 zstd openssl python3 libcap2-bin util-linux
  # ubi_reader (PyPI) goes into a venv the tests make: python3-venv and pip
  python3-venv python3-pip
  # QEMU end-to-end tests: emulators, Debian's real U-Boot, the guest userland
  qemu-system-arm qemu-system-x86 u-boot-qemu busybox-static kmod
  # CRIU, bundled into the migration images (from the host for amd64; arm64 comes from packages)
  criu
  # benchmarks
  hyperfine time rhash fakeroot genimage pigz
  # NFS root served by boot --nfs and its tests: NFS-Ganesha (user-space, VFS export) and its rpcbind
  nfs-ganesha nfs-ganesha-vfs rpcbind
  # NAND flash.scr tests: U-Boot 2025.01's sandbox, built from Debian trixie's source by the tests
  # (QEMU 10 for the NOR ones comes from bookworm-backports, unpacked by the tests: no package here)
  build-essential bc bison flex swig efitools libssl-dev libgnutls28-dev uuid-dev python3-dev
  python3-setuptools python3-pyelftools patch
  # disk images (issue 14): partition tables, ext4 (mke2fs -d, debugfs), vfat (mkfs.vfat, mtools),
  # squashfs, and the peers that read them (sfdisk, sgdisk, fsck.*, unsquashfs)
  fdisk gdisk e2fsprogs dosfstools mtools squashfs-tools
  # process tools the tests use (pgrep)
  procps
  # flashsmith serve: TFTP clients for the interop tests, ip(8) and tap devices for the U-Boot netns proof
  tftp-hpa curl iproute2
  # the install test renders the generated manual pages
  man-db
)

if [ "${1:-}" = "--if-missing" ]; then
  missing=()
  for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && exit 0
  echo "install-deps: missing: ${missing[*]}"
fi

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update
$SUDO apt-get install -y --no-install-recommends "${PACKAGES[@]}"

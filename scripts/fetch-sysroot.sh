#!/usr/bin/env bash
# Downloads Debian packages of another architecture (or the host's) without touching dpkg's or
# apt's own state, and unpacks them into a target sysroot with `flashsmith rootfs sysroot`.
# Usage: scripts/fetch-sysroot.sh ARCH SYSROOT FLASHSMITH PACKAGE...
#   A PACKAGE named linux-image-ARCH (a metapackage) is resolved to the kernel package it stands for.
# The private apt state and the .debs are cached in .build/apt-ARCH/; the sysroot is rebuilt only
# when the package list changes. Needs no root.
set -euo pipefail
ARCH=$1 SYSROOT=$2 FS=$3
shift 3
cd "$(dirname "$0")/.."
STATE=$PWD/.build/apt-$ARCH
mkdir -p "$STATE/lists/partial" "$STATE/cache/archives/partial" "$STATE/debs"
touch "$STATE/status"
APT=(-o "APT::Architecture=$ARCH" -o "APT::Architectures=$ARCH" -o "Dir::State::Lists=$STATE/lists"
     -o "Dir::State::Status=$STATE/status" -o "Dir::Cache=$STATE/cache" -q)
# As root, apt would drop to _apt for downloads into a folder _apt cannot write (and warn).
[ "$(id -u)" -ne 0 ] || APT+=(-o "APT::Sandbox::User=root")
want="$*"
if [ -f "$SYSROOT/.flashsmith-packages" ] && [ "$(cat "$SYSROOT/.flashsmith-packages")" = "$want" ]; then
  echo "fetch-sysroot: $SYSROOT is up to date ($want)"
  exit 0
fi
[ -f "$STATE/.updated" ] || { apt-get "${APT[@]}" update >&2; touch "$STATE/.updated"; }
debs=()
for p in "$@"; do
  if [[ $p == linux-image-"$ARCH" ]]; then
    p=$(apt-cache "${APT[@]}" depends --no-recommends --no-suggests "$p" | awk '/Depends: linux-image-/ {print $2; exit}')
  fi
  deb=$(ls "$STATE/debs/${p}_"*.deb 2>/dev/null | tail -n1 || true)
  if [ -z "$deb" ]; then
    (cd "$STATE/debs" && apt-get "${APT[@]}" download "$p" >&2) || {
      apt-get "${APT[@]}" update >&2
      (cd "$STATE/debs" && apt-get "${APT[@]}" download "$p" >&2)
    }
    deb=$(ls "$STATE/debs/${p}_"*.deb | tail -n1)
  fi
  debs+=("$deb")
done
rm -rf "$SYSROOT.partial"
"$FS" rootfs sysroot "${debs[@]}" -o "$SYSROOT.partial"
rm -rf "$SYSROOT"
mv "$SYSROOT.partial" "$SYSROOT"
echo "$want" > "$SYSROOT/.flashsmith-packages"

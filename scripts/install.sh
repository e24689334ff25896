#!/usr/bin/env bash
# Installs Flashsmith under a prefix:
#   PREFIX/bin/flashsmith                                   the fully static release binary
#   PREFIX/share/flashsmith/rootfs-skeletons/, layouts/     found by the binary as ../share/flashsmith/
#   PREFIX/share/man/man1/flashsmith*.1                     from swift-argument-parser's manual generator
#   PREFIX/share/bash-completion/completions/flashsmith     shell completions (bash, zsh, fish)
#   PREFIX/share/zsh/site-functions/_flashsmith
#   PREFIX/share/fish/vendor_completions.d/flashsmith.fish
#
# Usage: scripts/install.sh [--prefix P] [--binary FILE]
#   --prefix P     where to install (default /usr/local)
#   --binary FILE  install this flashsmith binary instead of building the release one
#
# The release binary is built as scripts/main-job.sh builds it (same scratch path, so a main job run
# first makes this quick). The manual pages come from swift-argument-parser's own `generate-manual`
# tool (the one behind its GenerateManual plugin), built from the package's checkout on its own: the
# plugin would rebuild all of Flashsmith in release mode without -static-executable first.
# Folders under share/flashsmith are Flashsmith's own: each is replaced whole (copied beside, renamed).
set -euo pipefail
cd "$(dirname "$0")/.."
SRC=$PWD

PREFIX=/usr/local
BIN=""
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) PREFIX=${2:?--prefix needs a folder}; shift 2 ;;
    --prefix=*) PREFIX=${1#--prefix=}; shift ;;
    --binary) BIN=${2:?--binary needs a file}; shift 2 ;;
    --binary=*) BIN=${1#--binary=}; shift ;;
    -h|--help) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "install: unknown option '$1' (expected --prefix P or --binary FILE)" >&2; exit 2 ;;
  esac
done
case "$PREFIX" in /*) ;; *) PREFIX=$PWD/$PREFIX ;; esac

if [ -z "$BIN" ]; then
  echo "== building the release binary (static)"
  swift build -c release -Xswiftc -static-executable --scratch-path .build-release --product flashsmith
  BIN=$SRC/.build-release/release/flashsmith
fi
[ -x "$BIN" ] || { echo "install: $BIN: expected an executable flashsmith binary" >&2; exit 2; }

echo "== building swift-argument-parser's generate-manual"
# Its own scratch folder: `swift test` holds .build's lock while the install test runs this script.
TOOLS=$SRC/.build-tools
swift package --scratch-path "$TOOLS" resolve >/dev/null
AP=$TOOLS/checkouts/swift-argument-parser
[ -f "$AP/Package.swift" ] || { echo "install: no swift-argument-parser checkout in $TOOLS/checkouts" >&2; exit 1; }
swift build -c release --package-path "$AP" --scratch-path "$TOOLS/generate-manual" --product generate-manual
GENMAN=$TOOLS/generate-manual/release/generate-manual

STAGE=$(mktemp -d "${TMPDIR:-/tmp}/flashsmith-install.XXXXXX")
trap 'rm -rf "$STAGE"' EXIT

echo "== manual pages and completions"
mkdir -p "$STAGE/man" "$STAGE/completions"
"$GENMAN" "$BIN" --multi-page --section 1 --output-directory "$STAGE/man"
"$BIN" --generate-completion-script bash > "$STAGE/completions/flashsmith.bash"
"$BIN" --generate-completion-script zsh > "$STAGE/completions/_flashsmith"
"$BIN" --generate-completion-script fish > "$STAGE/completions/flashsmith.fish"

# Replaces DEST (a folder of ours) with SRCDIR: copied beside it, then renamed over.
replace_folder() {
  local src=$1 dest=$2
  mkdir -p "$(dirname "$dest")"
  local tmp
  tmp=$(mktemp -d "$dest.new.XXXXXX")
  cp -R --no-preserve=ownership "$src/." "$tmp/"
  chmod 755 "$tmp"
  if [ -e "$dest" ]; then
    local old="$dest.old.$$"
    mv "$dest" "$old"
    mv "$tmp" "$dest"
    rm -rf "$old"
  else
    mv "$tmp" "$dest"
  fi
}

echo "== installing under $PREFIX"
install -D -m 755 "$BIN" "$PREFIX/bin/flashsmith.new.$$"
mv -f "$PREFIX/bin/flashsmith.new.$$" "$PREFIX/bin/flashsmith"
replace_folder "$SRC/rootfs-skeletons" "$PREFIX/share/flashsmith/rootfs-skeletons"
replace_folder "$SRC/layouts" "$PREFIX/share/flashsmith/layouts"
mkdir -p "$PREFIX/share/man/man1"
rm -f "$PREFIX"/share/man/man1/flashsmith.1 "$PREFIX"/share/man/man1/flashsmith.*.1
install -m 644 "$STAGE"/man/*.1 "$PREFIX/share/man/man1/"
install -D -m 644 "$STAGE/completions/flashsmith.bash" "$PREFIX/share/bash-completion/completions/flashsmith"
install -D -m 644 "$STAGE/completions/_flashsmith" "$PREFIX/share/zsh/site-functions/_flashsmith"
install -D -m 644 "$STAGE/completions/flashsmith.fish" "$PREFIX/share/fish/vendor_completions.d/flashsmith.fish"

echo "install: flashsmith $("$PREFIX/bin/flashsmith" --version 2>/dev/null || echo '') in $PREFIX/bin;" \
  "$(ls "$STAGE"/man/*.1 | wc -l) manual page(s) in $PREFIX/share/man/man1 (man flashsmith)"

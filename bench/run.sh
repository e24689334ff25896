#!/usr/bin/env bash
# Flashsmith benchmarks: bench/run.sh [ROW...] [--runs N] [--warmup N] [--no-build] [--hold-build-lock] [--hyperfine] [--list]
#
# Builds the release binary (fully static executable, own scratch path) and the launcher, then runs
# bench/bench.py. Results: bench/out/results.txt and bench/out/results.json. See bench/README.md.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
out="$here/out"
lock=/tmp/swiftbuild.lock

build=1
hold=0
args=()
for a in "$@"; do
    case "$a" in
        --no-build) build=0 ;;
        --hold-build-lock) hold=1 ;;
        --list) exec python3 "$here/bench.py" --list ;;
        -h|--help)
            sed -n '2,5p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
            cat <<'EOF'

  ROW                rows to run (default: all; --list shows them)
  --runs N           timed rounds per row (default: 30 for env rows, 5 for crc32)
  --warmup N         untimed rounds before the timed ones (default 1; a verify run comes first anyway)
  --no-build         use the existing .build-release/release/flashsmith
  --hold-build-lock  hold /tmp/swiftbuild.lock while timing, so nobody's swift build runs meanwhile
  --hyperfine        afterwards, cross-check every row with hyperfine (not interleaved)
EOF
            exit 0 ;;
        *) args+=("$a") ;;
    esac
done

python3 "$here/bench.py" --validate "${args[@]}"
mkdir -p "$out"
bin="$repo/.build-release/release/flashsmith"
if [[ $build == 1 ]]; then
    echo "building release flashsmith (waiting for $lock if another build runs) ..." >&2
    # --product: the release build needs only the CLI (the test support target imports Testing).
    (cd "$repo" && flock "$lock" swift build -c release -Xswiftc -static-executable --scratch-path .build-release --product flashsmith) >&2
    export BENCH_BUILT=1
fi
[[ -x $bin ]] || { echo "bench: $bin missing (run without --no-build)" >&2; exit 1; }

# The launcher: small, so it does not inflate the children's ru_maxrss (see spawn.c).
launcher="$out/spawn"
if [[ ! -x $launcher || "$here/spawn.c" -nt "$launcher" ]]; then
    cc="${CC:-$(command -v cc || command -v gcc || command -v clang || true)}"
    [[ -n $cc ]] || { echo "bench: no C compiler (cc, gcc or clang) for bench/spawn.c" >&2; exit 1; }
    "$cc" -O2 -static -o "$launcher" "$here/spawn.c" 2>/dev/null || "$cc" -O2 -o "$launcher" "$here/spawn.c"
fi

for tool in mkenvimage fw_printenv fw_setenv; do
    command -v "$tool" >/dev/null || echo "bench: $tool not found (apt-get install u-boot-tools libubootenv-tool)" >&2
done

py=(python3 "$here/bench.py" --flashsmith "$bin" --launcher "$launcher" --out "$out" "${args[@]}")
if [[ $hold == 1 ]]; then
    echo "bench: holding $lock while timing" >&2
    exec flock "$lock" "${py[@]}"
fi
exec "${py[@]}"

#!/bin/bash
# Long fuzzing campaigns over Flashsmith's parsers (docs/fuzzing.md).
#
#   scripts/fuzz.sh [PARSER…] [--execs N] [--start N] [--seconds S] [--engine builtin|libfuzzer]
#                   [--out DIR] [--jobs J] [--base N] [--build-only] [--no-build] [--list]
#
# PARSER: names from `--list` (default: all). Each parser runs N inputs (default 1,000,000) or S
# seconds, whichever comes first, from input #0 (or --start N: inputs are a pure function of their
# number, so a campaign cut short goes on with --start at the count it reached); J parsers at a
# time (builtin engine; default 1). Prints, per parser: execs, crashes (and distinct crash sites),
# hangs (> 2 s of CPU on an input ≤ 1 MiB), memory blow-ups (> 256 MiB) and peak memory; every
# finding's input is saved under OUT/PARSER/ (default out/fuzz), with a symbolicated stack for crashes.
#
# Engines:
#   builtin    (default) the seeded mutators of Sources/FlashsmithFuzz in worker processes, release
#              build: deterministic (input N is the same on every machine), survives crashes.
#   libfuzzer  libFuzzer's coverage-guided engine through swiftc's sanitizer coverage and
#              AddressSanitizer (libclang_rt.fuzzer_no_main of the Swift toolchain); restarted after
#              each crash until N execs are done. Corpus kept in OUT/PARSER/corpus.
#
# Runs at `nice -n ${FUZZ_NICE:-10}`. Builds go to .build-fuzz (builtin) and .build-libfuzzer, apart from .build.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

original_args=("$@")
execs=1000000
seconds=
engine=builtin
out=out/fuzz
base=
first_input=
jobs=1
build=yes
run=yes
parsers=()
while [ $# -gt 0 ]; do
  case "$1" in
    --execs) execs=${2//_/}; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --engine) engine=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --base) base=$2; shift 2 ;;
    --start) first_input=${2//_/}; shift 2 ;;
    --jobs) jobs=$2; shift 2 ;;
    --build-only) run=no; shift ;;
    --no-build) build=no; shift ;;
    --list) list=yes; shift ;;
    -h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "fuzz.sh: unknown option $1 (see --help)" >&2; exit 64 ;;
    *) parsers+=("$1"); shift ;;
  esac
done
case "$engine" in builtin|libfuzzer) ;; *) echo "fuzz.sh: --engine: expected builtin or libfuzzer, found '$engine'" >&2; exit 64 ;; esac
nice_cmd=(nice -n "${FUZZ_NICE:-10}")
export SWIFT_BACKTRACE=enable=no

if [ "$engine" = builtin ]; then
  scratch=.build-fuzz
  if [ $build = yes ]; then
    "${nice_cmd[@]}" swift build -c release --scratch-path "$scratch" --product flashsmith-fuzz 2>&1 | grep -Ev '^\[[0-9]+/[0-9]+\]' >&2
  fi
  bin=$repo/$scratch/release/flashsmith-fuzz
else
  scratch=.build-libfuzzer
  toolchain=$(dirname "$(dirname "$(readlink -f "$(command -v swiftc)")")")
  fuzzer_lib=$(ls "$toolchain"/lib/clang/*/lib/linux/libclang_rt.fuzzer_no_main-x86_64.a 2> /dev/null | head -1)
  if [ -z "$fuzzer_lib" ]; then
    echo "fuzz.sh: this toolchain has no libclang_rt.fuzzer_no_main (looked in $toolchain/lib/clang): use --engine builtin" >&2
    exit 69
  fi
  if [ $build = yes ]; then
    # Sanitizer coverage in every Swift module (libFuzzer's inline 8-bit counters, PC table and
    # comparison tracing) plus AddressSanitizer; our own main hands the loop to LLVMFuzzerRunDriver.
    "${nice_cmd[@]}" swift build -c release --scratch-path "$scratch" --product flashsmith-fuzz --sanitize address \
      -Xswiftc -sanitize-coverage=edge,inline-8bit-counters,pc-table,trace-cmp -Xswiftc -DFLASHSMITH_LIBFUZZER \
      -Xlinker "$fuzzer_lib" -Xlinker -lstdc++ 2>&1 | grep -Ev '^\[[0-9]+/[0-9]+\]|Cannot export local symbol' >&2
  fi
  bin=$repo/$scratch/release/flashsmith-fuzz
fi
if [ "${list:-}" = yes ]; then "$bin" list; exit 0; fi
[ $run = yes ] || exit 0
[ -x "$bin" ] || { echo "fuzz.sh: $bin is not built (drop --no-build)" >&2; exit 69; }
mkdir -p "$out"
# The campaign runs a copy: a rebuild while it runs does not change the workers it starts.
cp "$bin" "$out/flashsmith-fuzz.bin"
bin=$out/flashsmith-fuzz.bin

# What was fuzzed: the commit, and whether the tree had changes on top of it.
header() {
  printf 'Campaign of %s on %s (%s), engine %s: `scripts/fuzz.sh %s`\n\n' "$(date -u +%Y-%m-%dT%H:%MZ)" \
    "$(git rev-parse --short HEAD 2> /dev/null || echo '?')" \
    "$( [ -z "$(git status --porcelain -- Sources Package.swift 2> /dev/null)" ] && echo 'clean tree' || echo 'with uncommitted changes in Sources')" \
    "$engine" "$*"
}

if [ "$engine" = builtin ]; then
  args=(run "${parsers[@]}" --execs "$execs" --jobs "$jobs" --out "$out" --report "$out/report.md")
  [ -n "$seconds" ] && args+=(--seconds "$seconds")
  [ -n "$base" ] && args+=(--base "$base")
  [ -n "$first_input" ] && args+=(--start "$first_input")
  echo "fuzz.sh: $bin ${args[*]}" >&2
  head=$(header "${original_args[@]}")
  set +e
  "${nice_cmd[@]}" "$bin" "${args[@]}"
  status=$?
  set -e
  { echo "$head"; cat "$out/report.md"; } > "$out/report.md.tmp" && mv "$out/report.md.tmp" "$out/report.md"
  echo "report: $out/report.md"
  exit $status
fi

# ---- libFuzzer: one parser at a time, restarted after each crash until the execs are done.
[ ${#parsers[@]} -gt 0 ] || mapfile -t parsers < <("$bin" list | awk '{print $1}')
seeds=$repo/Tests/FuzzTests/Seeds
export ASAN_OPTIONS=detect_leaks=0:handle_abort=1:symbolize=1
status=0
report=$out/report.md
{ header "${original_args[@]}"; printf '| parser | execs | crashes (sites) | hangs | memory | peak RSS | time |\n|---|---:|---:|---:|---:|---:|---:|\n'; } > "$report"
for p in "${parsers[@]}"; do
  dir=$out/$p
  mkdir -p "$dir/corpus"
  # The target's seed folders (inspect and archive-compressed take other targets' seeds).
  "$bin" list | awk '{print $1}' | grep -qx "$p" || { echo "fuzz.sh: unknown parser '$p' (see --list)" >&2; exit 64; }
  case $p in
    inspect) seed_dirs=("$seeds"/{uimage,fit,dtb,env-blob,archive,ubi,nand-raw,flash-image}) ;;
    archive-compressed) seed_dirs=("$seeds/archive") ;;
    *) seed_dirs=("$seeds/$p") ;;
  esac
  done_execs=0 crashes=0 hangs=0 ooms=0 peak=0 sites=()
  start=$(date +%s)
  while [ "$done_execs" -lt "$execs" ]; do
    elapsed=$(( $(date +%s) - start ))
    flags=(-runs=$((execs - done_execs)) -timeout=2 -malloc_limit_mb=256 -rss_limit_mb=2048 -max_len=1048576
      -print_final_stats=1 -detect_leaks=0 -artifact_prefix="$dir/")
    if [ -n "$seconds" ]; then
      left=$((seconds - elapsed)); [ "$left" -gt 0 ] || break
      flags+=(-max_total_time=$left)
    fi
    log=$dir/libfuzzer.log
    set +e
    "${nice_cmd[@]}" "$bin" libfuzzer "$p" "${flags[@]}" "$dir/corpus" "${seed_dirs[@]}" > "$log" 2>&1
    rc=$?
    set -e
    n=$(grep -o 'stat::number_of_executed_units:[ ]*[0-9]*' "$log" | tail -1 | awk '{print $2}')
    if [ -z "$n" ]; then n=$(grep -oE '^#[0-9]+' "$log" | tail -1 | tr -d '#'); fi
    n=${n:-0}
    done_execs=$((done_execs + n))
    mb=$(grep -o 'stat::peak_rss_mb:[ ]*[0-9]*' "$log" | tail -1 | awk '{print $2}')
    [ -n "$mb" ] && [ "$mb" -gt "$peak" ] && peak=$mb
    [ $rc -eq 0 ] && break
    artifact=$(grep -o "Test unit written to .*" "$log" | tail -1 | sed 's/Test unit written to //')
    case "$artifact" in
      *timeout-*|*slow-unit-*) hangs=$((hangs + 1)) ;;
      *oom-*) ooms=$((ooms + 1)) ;;
      *) crashes=$((crashes + 1))
         site=$(grep -oE '/Sources/[A-Za-z]+/[A-Za-z+]+\.swift:[0-9]+' "$log" | grep -v -e FlashsmithFuzz -e flashsmith-fuzz | head -1)
         sites+=("${site:-unknown}") ;;
    esac
    [ -n "$artifact" ] && cp "$log" "$artifact.log"
    echo "  $p: finding after $done_execs execs: ${artifact:-(no artifact; exit $rc, see $log)}" >&2
    [ -n "$artifact" ] || break
    status=1
  done
  distinct=$(printf '%s\n' "${sites[@]:-}" | sort -u | grep -c . || true)
  printf '| %s | %s | %s (%s) | %s | %s | %s MiB | %s s |\n' "$p" "$done_execs" "$crashes" "$distinct" "$hangs" "$ooms" "$peak" $(( $(date +%s) - start )) | tee -a "$report"
done
echo "report: $report"
exit $status

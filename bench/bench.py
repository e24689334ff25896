#!/usr/bin/env python3
"""Flashsmith benchmarks: Flashsmith and its peer tools on the same generated input.

Called by bench/run.sh (which builds the release binary and the launcher); see bench/README.md.

Every run goes through the small C launcher bench/spawn.c, which times fork..wait4 and reports
the child's ru_maxrss. Rows are timed interleaved: in each round every command of the row runs
once, the order reversed every other round, so drift (thermal, other load) hits all commands alike.

Adding a row: write a function decorated with @row(...) that creates its inputs under ctx.inputs
and returns a Row of Cmds (plus optional prepare/check). See the rows at the bottom of this file.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import platform
import random
import shlex
import shutil
import statistics
import subprocess
import sys
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

SEED = 20240229  # every generated input derives from this


# --------------------------------------------------------------------------------------------
# Framework


@dataclass
class Cmd:
    label: str  # first column of the table; "flashsmith" is the one ratios are taken against
    argv: list[str]
    stdout: Optional[str] = None  # where the timed runs' stdout goes (None: /dev/null)


@dataclass
class Row:
    commands: list[Cmd]  # the first command is Flashsmith, the others are peers
    describe: str = ""  # one line about the input, printed under the row title
    prepare: Optional[Callable[[Cmd], None]] = None  # before every run, outside the timed region
    after_verify: Optional[Callable[[Cmd], None]] = None  # after the verify run of each command
    check: Optional[Callable[[dict[str, Path]], tuple[bool, str]]] = None  # on the verify run's stdouts
    bytes_in: Optional[int] = None  # input size, for MB/s


@dataclass
class RowDef:
    name: str
    runs: int
    help: str
    build: Callable[["Ctx"], Row]


ROWS: dict[str, RowDef] = {}


def row(name: str, runs: int, help: str):
    def register(fn: Callable[["Ctx"], Row]) -> Callable[["Ctx"], Row]:
        ROWS[name] = RowDef(name, runs, help, fn)
        return fn

    return register


@dataclass
class Ctx:
    flashsmith: str
    out: Path  # bench/out
    inputs: Path  # bench/out/inputs (generated, cached when expensive)
    work: Path = field(default_factory=Path)  # bench/out/work/ROW, emptied per row

    def file(self, name: str) -> str:
        return str(self.work / name)


@dataclass
class Sample:
    ns: int
    rss_kib: int
    utime_us: int
    stime_us: int


class BenchError(Exception):
    pass


def launch(launcher: str, cmd: Cmd, stdout: Optional[str]) -> Sample:
    p = subprocess.run([launcher, stdout or "-", *cmd.argv], capture_output=True, text=True)
    if p.returncode != 0 or not p.stdout.strip():
        raise BenchError(f"launcher failed for {cmd.label}: {p.stderr.strip()}")
    ns, rss, status, ut, st = (int(x) for x in p.stdout.split())
    if status != 0:
        raise BenchError(
            f"{cmd.label} exited {status}: {shlex.join(cmd.argv)}\n{p.stderr.strip()}"
        )
    return Sample(ns, rss, ut, st)


def run_row(rd: RowDef, ctx: Ctx, launcher: str, runs: int, warmup: int) -> dict:
    ctx.work = ctx.out / "work" / rd.name
    shutil.rmtree(ctx.work, ignore_errors=True)
    ctx.work.mkdir(parents=True)
    r = rd.build(ctx)
    labels = [c.label for c in r.commands]
    assert len(set(labels)) == len(labels), f"{rd.name}: duplicate labels"

    # Verify run: each command once, stdout kept, then the row's check. Doubles as a warm-up.
    outputs: dict[str, Path] = {}
    for c in r.commands:
        if r.prepare:
            r.prepare(c)
        outputs[c.label] = ctx.work / f"{c.label}.stdout"
        launch(launcher, c, str(outputs[c.label]))
        if r.after_verify:
            r.after_verify(c)
    check_ok, check_text = (None, "")
    if r.check:
        check_ok, check_text = r.check(outputs)

    samples: dict[str, list[Sample]] = {c.label: [] for c in r.commands}
    for rnd in range(warmup + runs):
        order = r.commands if rnd % 2 == 0 else list(reversed(r.commands))
        for c in order:
            if r.prepare:
                r.prepare(c)
            s = launch(launcher, c, c.stdout)
            if rnd >= warmup:
                samples[c.label].append(s)

    base = r.commands[0].label
    result_cmds = []
    for c in r.commands:
        ss = samples[c.label]
        ms = [s.ns / 1e6 for s in ss]
        rss = [s.rss_kib for s in ss]
        entry = {
            "label": c.label,
            "argv": c.argv,
            "median_ms": statistics.median(ms),
            "min_ms": min(ms),
            "max_ms": max(ms),
            "peak_rss_mib": max(rss) / 1024,
            "median_rss_mib": statistics.median(rss) / 1024,
            "median_user_ms": statistics.median(s.utime_us for s in ss) / 1000,
            "median_sys_ms": statistics.median(s.stime_us for s in ss) / 1000,
            "runs_ms": [round(x, 4) for x in ms],
            "runs_rss_kib": rss,
        }
        if r.bytes_in:
            entry["mb_per_s"] = r.bytes_in / 1e6 / (entry["median_ms"] / 1000)
        result_cmds.append(entry)
    b = result_cmds[0]
    for e in result_cmds:
        e["time_ratio"] = b["median_ms"] / e["median_ms"] if e["label"] != base else None
        e["mem_ratio"] = b["peak_rss_mib"] / e["peak_rss_mib"] if e["label"] != base else None
    return {
        "row": rd.name,
        "describe": r.describe,
        "runs": runs,
        "warmup_rounds": warmup,
        "bytes_in": r.bytes_in,
        "check": None if check_ok is None else ("OK" if check_ok else "DIFF"),
        "check_detail": check_text,
        "commands": result_cmds,
    }


def fmt_table(res: dict) -> str:
    has_mbs = res["bytes_in"] is not None
    head = ["command", "median ms", "min ms", "max ms", "peak RSS MiB"]
    if has_mbs:
        head.append("MB/s")
    head += ["time fs/peer", "mem fs/peer"]
    rows = []
    for e in res["commands"]:
        cells = [
            e["label"],
            f"{e['median_ms']:.2f}",
            f"{e['min_ms']:.2f}",
            f"{e['max_ms']:.2f}",
            f"{e['peak_rss_mib']:.1f}",
        ]
        if has_mbs:
            cells.append(f"{e['mb_per_s']:.0f}")
        cells.append("—" if e["time_ratio"] is None else f"{e['time_ratio']:.2f}x")
        cells.append("—" if e["mem_ratio"] is None else f"{e['mem_ratio']:.2f}x")
        rows.append(cells)
    widths = [max(len(head[i]), *(len(r[i]) for r in rows)) for i in range(len(head))]

    def line(cells):
        return "  ".join(
            c.ljust(widths[i]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(cells)
        ).rstrip()

    title = f"## {res['row']}  ({res['runs']} runs, interleaved, {res['warmup_rounds']} warm-up round(s))"
    out = [title]
    if res["describe"]:
        out.append(f"   input: {res['describe']}")
    if res["check"]:
        out.append(f"   check: {res['check']}" + (f" ({res['check_detail']})" if res["check_detail"] else ""))
    out.append(line(head))
    out += [line(r) for r in rows]
    return "\n".join(out)


def sh(*argv: str) -> str:
    try:
        return subprocess.run(argv, capture_output=True, text=True).stdout.strip()
    except OSError:
        return ""


def machine_info(flashsmith: str) -> dict:
    cpu = ""
    try:
        for ln in Path("/proc/cpuinfo").read_text().splitlines():
            if ln.startswith("model name"):
                cpu = ln.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        for ln in Path("/proc/meminfo").read_text().splitlines():
            if ln.startswith("MemTotal"):
                mem = f"{int(ln.split()[1]) // 1024} MiB"
    except OSError:
        pass
    repo = Path(__file__).resolve().parent.parent
    commit = sh("git", "-C", str(repo), "rev-parse", "--short", "HEAD")
    if sh("git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no", "--", "Sources", "Package.swift"):
        commit += "+dirty"
    pkgs = sh("dpkg-query", "-W", "-f", "${Package}=${Version}\n", "u-boot-tools", "libubootenv-tool", "rhash")
    return {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "nproc": os.cpu_count(),
        "kernel": platform.release(),
        "cpu": cpu,
        "memory": mem,
        "loadavg_start": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "flashsmith_commit": commit,
        "flashsmith_binary": flashsmith,
        "flashsmith_built_by_this_run": os.environ.get("BENCH_BUILT") == "1",
        "swift": sh("swift", "--version").splitlines()[0] if sh("swift", "--version") else "",
        "peer_packages": ", ".join(pkgs.split()),
        "python": platform.python_version(),
    }


def fmt_header(m: dict) -> str:
    return "\n".join(
        [
            f"# Flashsmith bench  {m['date']}",
            f"machine: nproc={m['nproc']}  kernel={m['kernel']}  cpu={m['cpu']}  mem={m['memory']}  loadavg at start={m['loadavg_start']}",
            f"flashsmith {m['flashsmith_commit']} (release, static executable"
            + ("" if m["flashsmith_built_by_this_run"] else "; --no-build: the binary may predate this commit")
            + f")  |  {m['swift']}",
            f"peers: {m['peer_packages']}, python3 {m['python']}",
            "times: wall clock, fork..wait4, one process per run; peak RSS: max over runs of ru_maxrss; ratios: flashsmith / peer (<1 = flashsmith faster/smaller)",
        ]
    )


def hyperfine_row(rd: RowDef, ctx: Ctx, runs: int) -> None:
    """Cross-check with hyperfine (not interleaved: each command's runs back to back)."""
    ctx.work = ctx.out / "work" / rd.name
    shutil.rmtree(ctx.work, ignore_errors=True)
    ctx.work.mkdir(parents=True)
    r = rd.build(ctx)
    argv = ["hyperfine", "-N", "--warmup", "3", "--runs", str(runs), "--style", "basic",
            "--export-json", str(ctx.out / f"hyperfine-{rd.name}.json")]
    for c in r.commands:
        argv += ["-n", c.label]
        prep = PREPARE_SHELL.get(rd.name)
        if prep:
            argv += ["--prepare", prep(ctx, c)]
        argv.append(shlex.join(c.argv))
    print(f"\n## hyperfine cross-check: {rd.name}", flush=True)
    subprocess.run(argv, check=False)


# Shell equivalents of Row.prepare for hyperfine's --prepare (hyperfine runs them before each run).
PREPARE_SHELL: dict[str, Callable[[Ctx, Cmd], str]] = {}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("rows", nargs="*", metavar="ROW", help=f"rows to run (default: all): {', '.join(ROWS)}")
    ap.add_argument("--runs", type=int, help="timed rounds per row (default: per row)")
    ap.add_argument("--warmup", type=int, default=1, help="untimed rounds before the timed ones (default 1)")
    ap.add_argument("--flashsmith", help="the flashsmith binary")
    ap.add_argument("--launcher", help="the bench/spawn.c binary")
    ap.add_argument("--out", help="output folder (bench/out)")
    ap.add_argument("--hyperfine", action="store_true", help="also run hyperfine on each row (cross-check)")
    ap.add_argument("--list", action="store_true", help="list the rows and exit")
    ap.add_argument("--validate", action="store_true", help="only check the arguments (run.sh, before building)")
    a = ap.parse_args()

    if a.list:
        for rd in ROWS.values():
            print(f"{rd.name:12} {rd.runs:3} runs  {rd.help}")
        return 0
    unknown = [x for x in a.rows if x not in ROWS]
    if unknown:
        print(f"bench: unknown row(s) {', '.join(unknown)}; rows: {', '.join(ROWS)}", file=sys.stderr)
        return 2
    names = a.rows or list(ROWS)
    if a.runs is not None and a.runs < 1 or a.warmup < 0:
        print("bench: --runs must be at least 1, --warmup at least 0", file=sys.stderr)
        return 2
    if a.validate:
        return 0
    if not (a.flashsmith and a.launcher and a.out):
        ap.error("--flashsmith, --launcher and --out are required")

    out = Path(a.out).resolve()
    ctx = Ctx(flashsmith=str(Path(a.flashsmith).resolve()), out=out, inputs=out / "inputs")
    ctx.inputs.mkdir(parents=True, exist_ok=True)
    m = machine_info(ctx.flashsmith)
    header = fmt_header(m)
    print(header + "\n", flush=True)
    results = []
    tables = []
    failed = False
    for n in names:
        rd = ROWS[n]
        runs = a.runs if a.runs is not None else rd.runs
        t0 = time.monotonic()
        try:
            res = run_row(rd, ctx, a.launcher, runs, a.warmup)
        except BenchError as e:
            print(f"## {n}: FAILED: {e}\n", flush=True)
            failed = True
            continue
        res["elapsed_s"] = round(time.monotonic() - t0, 1)
        results.append(res)
        t = fmt_table(res)
        tables.append(t)
        print(t + "\n", flush=True)
        if res["check"] == "DIFF":
            failed = True
    m["loadavg_end"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"loadavg at end: {m['loadavg_end']}")
    (out / "results.json").write_text(json.dumps({"machine": m, "rows": results}, indent=2) + "\n")
    (out / "results.txt").write_text(header + "\n\n" + "\n\n".join(tables) + f"\n\nloadavg at end: {m['loadavg_end']}\n")
    print(f"wrote {out / 'results.json'} and {out / 'results.txt'}")
    if a.hyperfine:
        for n in names:
            rd = ROWS[n]
            hyperfine_row(rd, ctx, a.runs if a.runs is not None else rd.runs)
    return 1 if failed else 0


# --------------------------------------------------------------------------------------------
# Inputs (deterministic: everything from SEED)

ENV_SIZE = 0x20000
VALUE_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 _-.,:;/=+@%"


def env_text() -> bytes:
    """1,000 variables var0001..var1000, values 1..160 bytes of printable ASCII (no backslash, no
    leading/trailing space), some shaped like real U-Boot values. About 87 KB."""
    rng = random.Random(SEED)
    lines = []
    for i in range(1, 1001):
        kind = rng.random()
        if kind < 0.1:
            v = f"0x{rng.getrandbits(32):08x}"
        elif kind < 0.2:
            v = "; ".join(
                rng.choice(["run boot_a", "setenv bootargs ${bootargs} quiet", "mmc dev 1", "load mmc 1:1 ${loadaddr} /boot/fitImage", "bootm ${loadaddr}#conf-1"])
                for _ in range(rng.randint(2, 5))
            )
        else:
            n = rng.randint(1, 160)
            v = "".join(rng.choice(VALUE_CHARS) for _ in range(n)).strip() or "x"
        lines.append(f"var{i:04d}={v}\n")
    return "".join(lines).encode()


def write_if_changed(path: Path, data: bytes) -> Path:
    if not path.exists() or path.read_bytes() != data:
        path.write_bytes(data)
    return path


def random_file(path: Path, size: int) -> Path:
    """`size` pseudo-random bytes from SEED, generated once and kept (a stamp says how)."""
    stamp = path.with_suffix(path.suffix + ".stamp")
    want = f"random.Random({SEED}).randbytes 1MiB chunks, {size} bytes\n"
    if path.exists() and path.stat().st_size == size and stamp.exists() and stamp.read_text() == want:
        return path
    print(f"generating {path} ({size >> 20} MiB) ...", flush=True)
    rng = random.Random(SEED)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "wb") as f:
        left = size
        while left:
            n = min(left, 1 << 20)
            f.write(rng.randbytes(n))
            left -= n
    tmp.rename(path)
    stamp.write_text(want)
    return path


def env_blob(ctx: Ctx) -> Path:
    """The 128 KiB blob of env_text(), made by mkenvimage (the reference), kept in inputs/."""
    txt = write_if_changed(ctx.inputs / "env.txt", env_text())
    blob = ctx.inputs / "env.bin"
    subprocess.run(["mkenvimage", "-s", hex(ENV_SIZE), "-o", str(blob), str(txt)], check=True)
    return blob


def fw_env_config(ctx: Ctx, blob: str) -> str:
    cfg = ctx.work / "fw_env.config"
    cfg.write_text(f"{blob} 0x0 {hex(ENV_SIZE)}\n")  # libubootenv reads offset and size as hex
    return str(cfg)


def same_files(a: str, b: str) -> tuple[bool, str]:
    x, y = Path(a).read_bytes(), Path(b).read_bytes()
    if x == y:
        return True, f"{Path(a).name} and {Path(b).name} byte-identical, {len(x)} bytes"
    diff = next((i for i in range(min(len(x), len(y))) if x[i] != y[i]), min(len(x), len(y)))
    return False, f"{Path(a).name} ({len(x)} B) and {Path(b).name} ({len(y)} B) differ first at byte {diff}"


def env_contents(blob: bytes) -> tuple[bytes, bool, str]:
    """A single-copy blob's variable data (up to the double NUL), whether its CRC holds, its padding."""

    end = blob.find(b"\0\0", 4)
    data = blob[4 : end + 1] if end >= 0 else blob[4:]
    crc_ok = int.from_bytes(blob[:4], "little") == zlib.crc32(blob[4:])
    pad = sorted(set(blob[end + 2 :])) if end >= 0 else []
    return data, crc_ok, ",".join(f"0x{x:02x}" for x in pad) or "none"


def same_stdouts(outputs: dict[str, Path], normalize=lambda b: b) -> tuple[bool, str]:
    items = [(k, normalize(v.read_bytes())) for k, v in outputs.items()]
    ref_label, ref = items[0]
    bad = [k for k, v in items[1:] if v != ref]
    if bad:
        return False, f"stdout of {', '.join(bad)} differs from {ref_label}'s"
    return True, f"same stdout ({len(ref)} bytes)"


# --------------------------------------------------------------------------------------------
# Rows. Each: inputs, then a Row whose first command is Flashsmith.


@row("env-create", runs=30, help="text -> 128 KiB env blob: flashsmith env create vs mkenvimage")
def _env_create(ctx: Ctx) -> Row:
    txt = write_if_changed(ctx.inputs / "env.txt", env_text())
    fs, peer = ctx.file("flashsmith.bin"), ctx.file("mkenvimage.bin")
    return Row(
        commands=[
            Cmd("flashsmith", [ctx.flashsmith, "env", "create", "-s", hex(ENV_SIZE), "-o", fs, str(txt)]),
            Cmd("mkenvimage", ["mkenvimage", "-s", hex(ENV_SIZE), "-o", peer, str(txt)]),
        ],
        describe=f"1,000 variables, {txt.stat().st_size:,} bytes of text, {ENV_SIZE // 1024} KiB blob",
        check=lambda _: same_files(fs, peer),
    )


@row("env-print", runs=30, help="print all variables of a 128 KiB blob: flashsmith env print vs fw_printenv")
def _env_print(ctx: Ctx) -> Row:
    blob = str(env_blob(ctx))
    cfg = fw_env_config(ctx, blob)
    return Row(
        commands=[
            Cmd("flashsmith", [ctx.flashsmith, "env", "print", blob]),
            Cmd("fw_printenv", ["fw_printenv", "-c", cfg]),
        ],
        describe=f"{ENV_SIZE // 1024} KiB blob with 1,000 variables (from env-create's text)",
        check=same_stdouts,
    )


@row("env-set", runs=30, help="set one variable in a 128 KiB blob: flashsmith env set vs fw_setenv")
def _env_set(ctx: Ctx) -> Row:
    pristine = env_blob(ctx)
    blob = ctx.file("env.bin")
    cfg = fw_env_config(ctx, blob)

    def prepare(_: Cmd) -> None:
        shutil.copyfile(pristine, blob)

    def keep(c: Cmd) -> None:
        shutil.copyfile(blob, ctx.file(f"{c.label}.result.bin"))

    def check(_: dict[str, Path]) -> tuple[bool, str]:
        # Byte-identical is too strict here: libubootenv 0.3.2 pads the rewritten blob with 0x00,
        # Flashsmith keeps the blob's pad byte (0xff). Compare the variables and the CRCs.
        fs, peer = ctx.file("flashsmith.result.bin"), ctx.file("fw_setenv.result.bin")
        ok, text = same_files(fs, peer)
        if ok:
            return ok, text
        a, b = env_contents(Path(fs).read_bytes()), env_contents(Path(peer).read_bytes())
        if a[0] == b[0] and a[1] and b[1]:
            return True, f"same variables, both CRCs valid; padding after the data: flashsmith {a[2]}, fw_setenv {b[2]}"
        return False, text + f"; variables {'same' if a[0] == b[0] else 'differ'}, CRC ok: flashsmith {a[1]}, fw_setenv {b[1]}"

    return Row(
        commands=[
            Cmd("flashsmith", [ctx.flashsmith, "env", "set", blob, "var0500=newvalue"]),
            Cmd("fw_setenv", ["fw_setenv", "-c", cfg, "var0500", "newvalue"]),
        ],
        describe=f"{ENV_SIZE // 1024} KiB blob with 1,000 variables; var0500=newvalue; blob restored before each run (untimed)",
        prepare=prepare,
        after_verify=keep,
        check=check,
    )


PREPARE_SHELL["env-set"] = lambda ctx, c: shlex.join(["cp", str(ctx.inputs / "env.bin"), ctx.file("env.bin")])

CRC_SIZE = 256 << 20
PY_CRC = (
    "import sys,zlib\n"
    "c=0\n"
    "with open(sys.argv[1],'rb') as f:\n"
    "    for b in iter(lambda: f.read(1<<20), b''): c=zlib.crc32(b,c)\n"
    "print('%08x' % c)"
)


@row("crc32", runs=5, help="CRC-32 (zlib) of a 256 MiB random file: flashsmith crc32 vs rhash --crc32 vs python zlib")
def _crc32(ctx: Ctx) -> Row:
    f = str(random_file(ctx.inputs / "random-256MiB.bin", CRC_SIZE))
    cmds = [Cmd("flashsmith", [ctx.flashsmith, "crc32", f])]
    if shutil.which("rhash"):
        cmds.append(Cmd("rhash", ["rhash", "--crc32", "--printf=%c\\n", f]))
    else:
        print("bench: rhash not installed (apt-get install rhash): crc32 row without it", file=sys.stderr)
    cmds.append(Cmd("python-zlib", [sys.executable, "-c", PY_CRC, f]))

    def check(outputs: dict[str, Path]) -> tuple[bool, str]:
        vals = {}
        for k, p in outputs.items():
            words = p.read_text().split()
            vals[k] = words[0].lower().removeprefix("0x") if words else "?"
        ok = len(set(vals.values())) == 1
        return ok, ", ".join(f"{k} {v}" for k, v in vals.items())

    return Row(
        commands=cmds,
        describe=f"{CRC_SIZE >> 20} MiB of seeded random bytes (page cache warm); MB/s = 10^6 bytes/s at the median",
        check=check,
        bytes_in=CRC_SIZE,
    )


UIMAGE_SIZE = 32 << 20


@row("uimage", runs=10, help="32 MiB kernel -> legacy uImage: flashsmith uimage create vs mkimage")
def _uimage(ctx: Ctx) -> Row:
    kernel = str(random_file(ctx.inputs / "random-32MiB.bin", UIMAGE_SIZE))
    os.environ["SOURCE_DATE_EPOCH"] = "1700000000"  # both tools then write the same ih_time
    args = ["-A", "arm64", "-O", "linux", "-T", "kernel", "-C", "none", "-a", "0x40400000", "-e", "0x40400000", "-n", "bench kernel"]
    fs, peer = ctx.file("flashsmith.uimg"), ctx.file("mkimage.uimg")
    return Row(
        commands=[
            Cmd("flashsmith", [ctx.flashsmith, "uimage", "create", *args, "-d", kernel, "-o", fs]),
            Cmd("mkimage", ["mkimage", *args, "-d", kernel, peer]),
        ],
        describe=f"{UIMAGE_SIZE >> 20} MiB of seeded random bytes as an arm64 kernel (page cache warm), SOURCE_DATE_EPOCH set",
        check=lambda _: same_files(fs, peer),
        bytes_in=UIMAGE_SIZE,
    )


FIT_ITS = """/dts-v1/;
/ {
    description = "bench FIT";
    #address-cells = <1>;
    images {
        kernel {
            data = /incbin/("kernel.bin"); type = "kernel"; arch = "arm64"; os = "linux"; compression = "none";
            load = <0x40400000>; entry = <0x40400000>;
            hash-1 { algo = "sha256"; };
        };
        ramdisk {
            data = /incbin/("ramdisk.bin"); type = "ramdisk"; arch = "arm64"; os = "linux"; compression = "none";
            hash-1 { algo = "sha256"; };
        };
%s    };
    configurations {
        default = "conf-1";
%s    };
};
"""


@row("fit", runs=10, help="FIT: 32 MiB kernel, 16 MiB ramdisk, three ~50 KiB DTBs, sha256 each: flashsmith fit build vs mkimage -f")
def _fit(ctx: Ctx) -> Row:
    d = ctx.inputs / "fit"
    d.mkdir(exist_ok=True)
    kernel = random_file(d / "kernel.bin", 32 << 20)
    ramdisk = random_file(d / "ramdisk.bin", 16 << 20)
    fdts, confs = "", ""
    for i in range(1, 4):
        blob = random_file(d / f"blob{i}.bin", 50 << 10)
        dts = write_if_changed(d / f"board{i}.dts", f'/dts-v1/;\n/ {{ model = "board {i}"; compatible = "vendor,board{i}"; blob = /incbin/("{blob.name}"); }};\n'.encode())
        dtb = d / f"board{i}.dtb"
        if not dtb.exists() or dtb.stat().st_mtime < dts.stat().st_mtime:
            subprocess.run(["dtc", "-I", "dts", "-O", "dtb", "-i", str(d), "-o", str(dtb), str(dts)], check=True)
        fdts += f'        fdt-{i} {{ data = /incbin/("board{i}.dtb"); type = "flat_dt"; arch = "arm64"; compression = "none"; hash-1 {{ algo = "sha256"; }}; }};\n'
        confs += f'        conf-{i} {{ kernel = "kernel"; ramdisk = "ramdisk"; fdt = "fdt-{i}"; }};\n'
    its = write_if_changed(d / "bench.its", (FIT_ITS % (fdts, confs)).encode())
    os.environ["SOURCE_DATE_EPOCH"] = "1700000000"
    fs, peer = ctx.file("flashsmith.itb"), ctx.file("mkimage.itb")

    def check(_: dict) -> tuple[bool, str]:
        a, b = Path(fs).stat().st_size, Path(peer).stat().st_size
        listed = subprocess.run(["mkimage", "-l", fs], capture_output=True, text=True).stdout
        values = [l.split()[-1] for l in listed.splitlines() if "Hash value" in l]
        peer_values = [l.split()[-1] for l in subprocess.run(["mkimage", "-l", peer], capture_output=True, text=True).stdout.splitlines() if "Hash value" in l]
        ok = values == peer_values and len(values) == 5
        return ok, f"same hashes in mkimage -l ({len(values)}); sizes flashsmith {a:,}, mkimage {b:,} bytes"

    return Row(
        commands=[
            Cmd("flashsmith", [ctx.flashsmith, "fit", "build", str(its), "-o", fs]),
            Cmd("mkimage", ["mkimage", "-f", str(its), peer]),
        ],
        describe="32 MiB kernel + 16 MiB ramdisk + 3 x ~50 KiB DTBs, sha256 on each, 3 configurations; .its compiled by dtc in both",
        check=check,
        bytes_in=(48 << 20) + 150 * 1024,
    )


# --------------------------------------------------------------------------------------------
# Root filesystems

ROOTFS_FILES = 20_000


def rootfs_tree(ctx: Ctx) -> tuple[Path, Path]:
    """Two copies of ~200 MiB in 20,000 files (text-like data, ~3:1 under gzip): `tree` for
    Flashsmith (which adds busybox itself) and `tree-peer` with busybox and its links installed,
    for the peers. Generated once (a stamp says how)."""
    base = ctx.inputs / "rootfs"
    tree, peer = base / "tree", base / "tree-peer"
    want = f"seed {SEED}, {ROOTFS_FILES} files, corpus slices, busybox {Path('/bin/busybox').stat().st_size}\n"
    stamp = base / "stamp"
    if stamp.exists() and stamp.read_text() == want:
        return tree, peer
    print(f"generating {base} ({ROOTFS_FILES} files, ~200 MiB, twice) ...", flush=True)
    shutil.rmtree(base, ignore_errors=True)
    rng = random.Random(SEED)
    words = ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 10))) for _ in range(4000)]
    corpus_parts = []
    size = 0
    while size < (4 << 20):
        line = " ".join(rng.choice(words) for _ in range(rng.randint(4, 14))) + f" {rng.randint(0, 1 << 30)}\n"
        corpus_parts.append(line)
        size += len(line)
    corpus = "".join(corpus_parts).encode()
    for root in (tree, peer):
        r = random.Random(SEED + 1)
        for i in range(ROOTFS_FILES):
            d = root / "usr" / "share" / "bench" / f"d{i // 100:03d}"
            if i % 100 == 0:
                d.mkdir(parents=True, exist_ok=True)
            n = r.randint(2048, 18432)
            o = r.randint(0, len(corpus) - n)
            (d / f"f{i:05d}.txt").write_bytes(corpus[o:o + n])
    (peer / "bin").mkdir(parents=True, exist_ok=True)
    shutil.copy2("/bin/busybox", peer / "bin" / "busybox")
    for applet in subprocess.run(["/bin/busybox", "--list-full"], capture_output=True, text=True, check=True).stdout.split():
        link = peer / applet
        if applet == "bin/busybox" or link.exists() or link.is_symlink():
            continue
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(os.path.relpath(peer / "bin" / "busybox", link.parent))
    stamp.write_text(want)
    return tree, peer


def count_entries(listing_cmd: list[str]) -> int:
    out = subprocess.run(listing_cmd, capture_output=True, text=True).stdout
    return len([l for l in out.splitlines() if l.strip() and l.strip() not in (".", "./")])


@row("rootfs-cpio", runs=5, help="busybox + 20,000 files (~200 MiB) -> cpio.gz: flashsmith rootfs build vs fakeroot + find | cpio -H newc | gzip -6")
def _rootfs_cpio(ctx: Ctx) -> Row:
    tree, peer = rootfs_tree(ctx)
    fs, other = ctx.file("rootfs-flashsmith.cpio.gz"), ctx.file("rootfs-peer.cpio.gz")
    os.environ["SOURCE_DATE_EPOCH"] = "1700000000"

    def check(_: dict) -> tuple[bool, str]:
        a = count_entries(["sh", "-c", f"gzip -dc {shlex.quote(fs)} | cpio -it --quiet"])
        b = count_entries(["sh", "-c", f"gzip -dc {shlex.quote(other)} | cpio -it --quiet"])
        sa, sb = Path(fs).stat().st_size, Path(other).stat().st_size
        return a == b and a > ROOTFS_FILES, f"GNU cpio lists {a:,} entries in ours, {b:,} in the peers'; sizes {sa:,} vs {sb:,} bytes"

    return Row(
        commands=[
            Cmd("flashsmith", [ctx.flashsmith, "rootfs", "build", "--busybox", "/bin/busybox", "--overlay", str(tree), "-o", fs]),
            Cmd("fakeroot+cpio+gzip", ["fakeroot", "--", "sh", "-c", f"cd {shlex.quote(str(peer))} && find . | LC_ALL=C sort | cpio -o -H newc --quiet | gzip -6 > {shlex.quote(other)}"]),
        ],
        describe="~200 MiB text-like data in 20,000 files + busybox and its links; gzip level 6 in both",
        check=check,
        bytes_in=sum(f.stat().st_size for f in tree.rglob("*.txt")),
    )


@row("rootfs-tar", runs=5, help="busybox + 20,000 files (~200 MiB) -> tar: flashsmith rootfs build vs bsdtar -cf")
def _rootfs_tar(ctx: Ctx) -> Row:
    tree, peer = rootfs_tree(ctx)
    fs, other = ctx.file("rootfs-flashsmith.tar"), ctx.file("rootfs-peer.tar")
    os.environ["SOURCE_DATE_EPOCH"] = "1700000000"

    def check(_: dict) -> tuple[bool, str]:
        a = count_entries(["bsdtar", "-tf", fs])
        b = count_entries(["bsdtar", "-tf", other])
        return a == b and a > ROOTFS_FILES, f"bsdtar lists {a:,} entries in ours, {b:,} in bsdtar's"

    return Row(
        commands=[
            Cmd("flashsmith", [ctx.flashsmith, "rootfs", "build", "--busybox", "/bin/busybox", "--overlay", str(tree), "-o", fs]),
            Cmd("bsdtar", ["bsdtar", "-cf", other, "-C", str(peer), "."]),
        ],
        describe="~200 MiB in 20,000 files + busybox and its links; uncompressed",
        check=check,
        bytes_in=sum(f.stat().st_size for f in tree.rglob("*.txt")),
    )


UBIFS_GEOMETRY = ["-m", "2048", "-e", "126976", "-c", "4000"]
UBIFS_DEVICES = "/dev d 755 0 0 - - - - -\n/dev/console c 600 0 0 5 1 - - -\n/dev/null c 666 0 0 1 3 - - -\n/dev/ttyS c 660 0 5 4 64 0 1 4\n"


def _rootfs_ubifs(ctx: Ctx, compressor: str) -> Row:
    """The bench tree to UBIFS: flashsmith from the manifest vs mkfs.ubifs from the staged tree
    under fakeroot with the device table, the same geometry and compressor."""
    tree, peer = rootfs_tree(ctx)
    table = write_if_changed(ctx.inputs / "ubifs-devices.txt", UBIFS_DEVICES.encode())
    fs, other = ctx.file(f"flashsmith-{compressor}.ubifs"), ctx.file(f"mkfs-{compressor}.ubifs")
    os.environ["SOURCE_DATE_EPOCH"] = "1700000000"

    def check(_: dict) -> tuple[bool, str]:
        a, b = Path(fs).stat().st_size, Path(other).stat().st_size
        # Each image's node bytes (the master node's used space + index size, at LEB 1).
        def used(p: str) -> int:
            with open(p, "rb") as f:
                f.seek(126976)
                m = f.read(512)
            return int.from_bytes(m[96:104], "little") + int.from_bytes(m[72:80], "little")
        ua, ub = used(fs), used(other)
        return ua <= ub * 1.02, f"node bytes: flashsmith {ua:,}, mkfs.ubifs {ub:,} ({(ua - ub) / ub * 100:+.2f} %); images {a:,} vs {b:,} bytes"

    return Row(
        commands=[
            Cmd("flashsmith", [ctx.flashsmith, "rootfs", "build", "--busybox", "/bin/busybox", "--overlay", str(tree), "--devices", str(table), "-o", fs, "-x", compressor, *UBIFS_GEOMETRY]),
            Cmd("fakeroot+mkfs.ubifs", ["fakeroot", "--", "mkfs.ubifs", "-r", str(peer), "-D", str(table), "-o", other, "-x", compressor, *UBIFS_GEOMETRY]),
        ],
        describe=f"~200 MiB text-like data in 20,000 files + busybox and its links + a device table -> UBIFS, {compressor}, 2 KiB pages, 124 KiB LEBs",
        check=check,
        bytes_in=sum(f.stat().st_size for f in tree.rglob("*.txt")),
    )


@row("rootfs-ubifs-lzo", runs=3, help="busybox + 20,000 files (~200 MiB) -> UBIFS (lzo): flashsmith rootfs build vs fakeroot mkfs.ubifs -D")
def _rootfs_ubifs_lzo(ctx: Ctx) -> Row:
    return _rootfs_ubifs(ctx, "lzo")


@row("rootfs-ubifs-zstd", runs=3, help="busybox + 20,000 files (~200 MiB) -> UBIFS (zstd): flashsmith rootfs build vs fakeroot mkfs.ubifs -D")
def _rootfs_ubifs_zstd(ctx: Ctx) -> Row:
    return _rootfs_ubifs(ctx, "zstd")


SQUASHFS_PSEUDO = "/dev d 755 0 0\n/dev/console c 600 0 0 5 1\n/dev/null c 666 0 0 1 3\n"


@row("rootfs-squashfs", runs=3, help="busybox + 20,000 files (~200 MiB) -> squashfs (gzip): flashsmith rootfs build vs fakeroot mksquashfs")
def _rootfs_squashfs(ctx: Ctx) -> Row:
    """The bench tree to squashfs: flashsmith from the manifest (it stages the files and feeds
    mksquashfs pseudo definitions for owners, modes and devices) vs mksquashfs of the staged tree
    under fakeroot with the same devices, both gzip, every core, -reproducible."""
    tree, peer = rootfs_tree(ctx)
    table = write_if_changed(ctx.inputs / "ubifs-devices.txt", UBIFS_DEVICES.encode())
    pseudo = write_if_changed(ctx.inputs / "squashfs-pseudo.txt", SQUASHFS_PSEUDO.encode())
    fs, other = ctx.file("flashsmith.squashfs"), ctx.file("mksquashfs.squashfs")
    os.environ["SOURCE_DATE_EPOCH"] = "1700000000"

    def check(_: dict) -> tuple[bool, str]:
        a = count_entries(["unsquashfs", "-lls", fs])
        b = count_entries(["unsquashfs", "-lls", other])
        sa, sb = Path(fs).stat().st_size, Path(other).stat().st_size
        return a >= b > ROOTFS_FILES and sa <= sb * 1.02, f"unsquashfs lists {a:,} entries in ours, {b:,} in mksquashfs's; sizes {sa:,} vs {sb:,} bytes"

    return Row(
        commands=[
            Cmd("flashsmith", [ctx.flashsmith, "rootfs", "build", "--busybox", "/bin/busybox", "--overlay", str(tree), "--devices", str(table), "-o", fs, "--squashfs-comp", "gzip"]),
            Cmd("fakeroot+mksquashfs", ["fakeroot", "--", "mksquashfs", str(peer), other, "-noappend", "-quiet", "-no-progress", "-comp", "gzip", "-reproducible", "-pf", str(pseudo)]),
        ],
        describe="~200 MiB text-like data in 20,000 files + busybox and its links + device nodes -> squashfs, gzip, 128 KiB blocks, every core in both",
        check=check,
        bytes_in=sum(f.stat().st_size for f in tree.rglob("*.txt")),
    )


@row("rootfs-ext4", runs=3, help="busybox + 20,000 files (~200 MiB) -> 512 MiB ext4: flashsmith rootfs build vs fakeroot mke2fs -d")
def _rootfs_ext4(ctx: Ctx) -> Row:
    """The bench tree to ext4: flashsmith from the manifest (exact owners, modes, devices, times,
    rootless) vs mke2fs -d of the staged tree under fakeroot (owners as fakeroot says), 512 MiB."""
    tree, peer = rootfs_tree(ctx)
    table = write_if_changed(ctx.inputs / "ubifs-devices.txt", UBIFS_DEVICES.encode())
    fs, other = ctx.file("flashsmith.ext4"), ctx.file("mke2fs.ext4")
    os.environ["SOURCE_DATE_EPOCH"] = "1700000000"

    def check(_: dict) -> tuple[bool, str]:
        ok = all(subprocess.run(["fsck.ext4", "-fn", p], capture_output=True).returncode == 0 for p in (fs, other))
        def used(p: str) -> int:
            out = subprocess.run(["dumpe2fs", "-h", p], capture_output=True, text=True).stdout
            v = {l.split(":")[0]: l.split(":")[1].strip() for l in out.splitlines() if ":" in l}
            return int(v.get("Block count", 0)) - int(v.get("Free blocks", 0))
        ua, ub = used(fs), used(other)
        return ok and ua <= ub * 1.05, f"fsck.ext4 -fn {'clean' if ok else 'FAILED'} on both; blocks used {ua:,} vs {ub:,}"

    return Row(
        commands=[
            Cmd("flashsmith", [ctx.flashsmith, "rootfs", "build", "--busybox", "/bin/busybox", "--overlay", str(tree), "--devices", str(table), "-o", fs, "--size", "512MiB"]),
            Cmd("fakeroot+mke2fs", ["sh", "-c", f"rm -f {shlex.quote(other)} && E2FSPROGS_FAKE_TIME=1700000000 fakeroot -- mke2fs -q -t ext4 -b 4096 -d {shlex.quote(str(peer))} {shlex.quote(other)} 512M"]),
        ],
        describe="~200 MiB text-like data in 20,000 files + busybox and its links + device nodes -> a 512 MiB ext4 (4 KiB blocks, journal)",
        check=check,
        bytes_in=sum(f.stat().st_size for f in tree.rglob("*.txt")),
    )


# --------------------------------------------------------------------------------------------
# UBI


@row("ubi", runs=5, help="UBI image of a 128 MiB dynamic volume (2 KiB pages, 128 KiB PEBs): flashsmith ubi build vs ubinize")
def _ubi(ctx: Ctx) -> Row:
    d = ctx.inputs / "ubi"
    d.mkdir(exist_ok=True)
    vol = random_file(d / "volume.bin", 128 << 20)
    ini = write_if_changed(d / "ubinize.ini", f"[rootfs]\nmode=ubi\nvol_id=0\nvol_type=dynamic\nvol_name=rootfs\nvol_flags=autoresize\nimage={vol}\n".encode())
    fs, peer = ctx.file("flashsmith.ubi"), ctx.file("ubinize.ubi")
    opts = ["-p", "128KiB", "-m", "2048", "-s", "512", "-Q", "1"]

    def check(_: dict) -> tuple[bool, str]:
        same = Path(fs).read_bytes() == Path(peer).read_bytes()
        return same, f"outputs {'byte-identical' if same else 'DIFFER'} ({Path(fs).stat().st_size:,} bytes)"

    return Row(
        commands=[
            Cmd("flashsmith", [ctx.flashsmith, "ubi", "build", str(ini), "-o", fs, *opts]),
            Cmd("ubinize", ["ubinize", "-o", peer, *opts, str(ini)]),
        ],
        describe="128 MiB of seeded random bytes in one dynamic autoresize volume, sub-page 512, -Q 1 for both",
        check=check,
        bytes_in=128 << 20,
    )


@row("oob-bch8", runs=5, help="raw NAND image with OOB and BCH-8 of a 256 MiB chip (2 KiB pages): flashsmith nand raw (MB/s; no peer writes BCH OOB)")
def _oob_bch8(ctx: Ctx) -> Row:
    d = ctx.inputs / "oob"
    d.mkdir(exist_ok=True)
    chip = random_file(d / "chip.bin", 256 << 20)
    fs = ctx.file("chip.oob")
    geometry = ["--page-size", "2048", "--oob-size", "64", "--erase-block", "128KiB"]

    def check(_: dict) -> tuple[bool, str]:
        size = Path(fs).stat().st_size
        return size == (256 << 20) // 2048 * 2112, f"{size:,} bytes (page + OOB for every page)"

    return Row(
        commands=[
            Cmd("flashsmith", [ctx.flashsmith, "nand", "raw", str(chip), "-o", fs, *geometry, "--ecc", "bch8"]),
            Cmd("flashsmith-hamming", [ctx.flashsmith, "nand", "raw", str(chip), "-o", fs + ".h", *geometry, "--ecc", "hamming"]),
        ],
        describe="256 MiB of seeded random bytes; BCH-8 per 512 bytes (13 ECC bytes per step), Hamming alongside for scale",
        check=check,
        bytes_in=256 << 20,
    )


# --------------------------------------------------------------------------------------------
# Whole boards


def default_board_inputs(ctx: Ctx, gzip: bool = False) -> tuple[Path, Path, Path, Path]:
    """The default board's sysroot (Debian's arm64 kernel and busybox-static, fetched by
    scripts/fetch-sysroot.sh when missing), and what the peer script needs typed by hand, generated
    once from a reference `flashsmith build` outside the timed region: the .its, the env text with
    the derived bootcmd/bootargs/mtdparts written out, genimage.cfg, flash.cmd and the applet list
    (Buildroot's busybox.links)."""
    repo = Path(__file__).resolve().parent.parent
    sysroot = repo / ".build" / "sysroot-arm64"
    if not (sysroot / "bin" / "busybox").exists():
        subprocess.run([str(repo / "scripts" / "fetch-sysroot.sh"), "arm64", str(sysroot), ctx.flashsmith, "busybox-static", "linux-image-arm64"], check=True)
    d = ctx.inputs / ("board-qemu-gzip" if gzip else "board-qemu")
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir(parents=True)
    # The board as shipped (kernel uncompressed in the FIT), or the same board with `compression: gzip`.
    layout = repo / "layouts" / "qemu-arm64"
    if gzip:
        layout = d / "layout"
        shutil.copytree(repo / "layouts" / "qemu-arm64", layout, symlinks=True)
        text = (layout / "board.yaml").read_text()
        text = text.replace("sysroot: ../../.build/sysroot-arm64", f"sysroot: {sysroot}")
        text = text.replace("        # compression: gzip ", "        compression: gzip   ")
        assert "        compression: gzip   " in text
        (layout / "board.yaml").write_text(text)
    ref = d / "reference"
    subprocess.run([ctx.flashsmith, "build", str(layout), "-o", str(ref), "--sysroot", str(sysroot)], check=True, capture_output=True)
    kernel = sorted((sysroot / "boot").glob("vmlinuz-*"))[-1]
    peer_out = ctx.work / "peer"
    (d / "fit.its").write_text(f"""/dts-v1/;
/ {{
\tdescription = "qemu-arm64: {kernel.name} and its root filesystem (peer script)";
\t#address-cells = <1>;
\timages {{
\t\tkernel {{
\t\t\tdescription = "{kernel.name}";
\t\t\tdata = /incbin/("{str(peer_out) + '.tmp/Image.gz' if gzip else kernel.resolve()}");
\t\t\ttype = "kernel"; arch = "arm64"; os = "linux"; compression = "{'gzip' if gzip else 'none'}";
\t\t\tload = <0x40400000>; entry = <0x40400000>;
\t\t\thash-1 {{ algo = "sha256"; }};
\t\t}};
\t\tramdisk {{
\t\t\tdescription = "qemu-arm64 root filesystem";
\t\t\tdata = /incbin/("{peer_out}/rootfs.cpio.gz");
\t\t\ttype = "ramdisk"; arch = "arm64"; os = "linux"; compression = "none";
\t\t\thash-1 {{ algo = "sha256"; }};
\t\t}};
\t}};
\tconfigurations {{
\t\tdefault = "conf-1";
\t\tconf-1 {{ description = "qemu-arm64"; kernel = "kernel"; ramdisk = "ramdisk"; }};
\t}};
}};
""")
    shutil.copy(ref / "uboot-env.txt", d / "env.txt")
    shutil.copy(ref / "flash.cmd", d / "flash.cmd")
    (d / "genimage.cfg").write_text("""flash nor-64M-256 {
\tpebsize = 262144
\tnumpebs = 256
\tminimum-io-unit-size = 1
}
image qemu-arm64.img {
\tflash {}
\tflashtype = "nor-64M-256"
\tpartition env {
\t\timage = "env.img"
\t\tsize = 256K
\t}
\tpartition fit {
\t\timage = "fit.img"
\t\tsize = 65280K
\t}
}
""")
    applets = subprocess.run([ctx.flashsmith, "rootfs", "applets", str(sysroot / "bin" / "busybox")], capture_output=True, text=True, check=True).stdout
    (d / "applets.txt").write_text("".join(a + "\n" for a in applets.split() if a != "bin/busybox"))
    return d, sysroot, repo, layout


def board_qemu_row(ctx: Ctx, gzip: bool) -> Row:
    d, sysroot, repo, layout = default_board_inputs(ctx, gzip)
    kernel = sorted((sysroot / "boot").glob("vmlinuz-*"))[-1].resolve()
    fs, peer = ctx.file("flashsmith"), ctx.file("peer")
    os.environ["SOURCE_DATE_EPOCH"] = "1700000000"

    def check(_: dict) -> tuple[bool, str]:
        notes, ok = [], True
        for name in ["qemu-arm64.img", "env.img", "fit.img", "rootfs.cpio.gz", "flash.scr"]:
            a, b = Path(fs) / name, Path(peer) / name
            ok = ok and a.exists() and b.exists()
            notes.append(f"{name} {a.stat().st_size if a.exists() else 0:,}/{b.stat().st_size if b.exists() else 0:,}")
        if ok:
            # Same content where the formats allow: the env (mkenvimage is byte-identical), and each
            # chip image holds its own env and FIT at 0 and 0x40000, 0xff after.
            env_same = Path(fs, "env.img").read_bytes() == Path(peer, "env.img").read_bytes()
            chips = []
            for root in (fs, peer):
                chip = Path(root, "qemu-arm64.img").read_bytes()
                fit = Path(root, "fit.img").read_bytes()
                chips.append(len(chip) == 64 << 20 and chip[0x40000:0x40000 + len(fit)] == fit and chip[0x40000 + len(fit):].count(0xFF) == len(chip) - 0x40000 - len(fit))
            a = count_entries(["sh", "-c", f"gzip -dc {shlex.quote(fs)}/rootfs.cpio.gz | cpio -it --quiet"])
            b = count_entries(["sh", "-c", f"gzip -dc {shlex.quote(peer)}/rootfs.cpio.gz | cpio -it --quiet"])
            ok = env_same and all(chips) and a == b
            notes.append(f"env {'identical' if env_same else 'DIFFERS'}; chip layouts {'ok' if all(chips) else 'WRONG'}; cpio entries {a}/{b}")
        return ok, "sizes ours/peers': " + ", ".join(notes)

    return Row(
        commands=[
            Cmd("flashsmith", [ctx.flashsmith, "build", str(layout), "-o", fs, "--sysroot", str(sysroot)]),
            Cmd("peer-script", ["sh", str(Path(__file__).resolve().parent / "peers" / "board-qemu.sh"), peer, str(d), str(repo), str(sysroot), str(kernel) if gzip else ""]),
        ],
        describe=("64 MiB NOR: env + FIT (31 MiB arm64 kernel " + ("gzip -9'd" if gzip else "uncompressed") + " + ~1 MiB cpio.gz rootfs, sha256); gzip on every core in both (pigz for the peers); the peers get the .its, env, genimage.cfg typed for them"),
        check=check,
    )


@row("board-qemu", runs=5, help="the default board (layouts/qemu-arm64): flashsmith build vs a script of fakeroot+cpio+pigz, mkimage -f, mkenvimage, mkimage -T script, genimage")
def _board_qemu(ctx: Ctx) -> Row:
    return board_qemu_row(ctx, gzip=False)


@row("board-qemu-gzip", runs=5, help="the default board with compression: gzip for the kernel: the same, plus pigz -9 of the kernel for the peers")
def _board_qemu_gzip(ctx: Ctx) -> Row:
    return board_qemu_row(ctx, gzip=True)


def board_nandsim_row(ctx: Ctx, tree: Optional[Path]) -> Row:
    """The nandsim board as shipped (128 MiB), or with the bench's 20,000-file tree added to its
    root filesystem on a 512 MiB chip of the same geometry. The peers: the same tree staged under
    fakeroot, mkfs.ubifs with the geometry typed, ubinize, mkenvimage, mkimage, genimage."""
    repo = Path(__file__).resolve().parent.parent
    name = "board-nandsim" + ("-tree" if tree else "")
    d = ctx.inputs / name
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir(parents=True)
    board = repo / "layouts" / "nandsim"
    chip_mib, max_lebs = 128, 926
    if tree:
        # The shipped board on a 512 MiB chip (no READ ID bytes: no nandsim guest here), the tree overlaid.
        board = d / "board"
        shutil.copytree(repo / "layouts" / "nandsim", board)
        y = (board / "board.yaml").read_text().replace("chip: 128MiB", "chip: 512MiB")
        y = "\n".join(l for l in y.splitlines() if "id-bytes" not in l) + "\n"
        (board / "board.yaml").write_text(y)
        (board / "rootfs.yaml").write_text((board / "rootfs.yaml").read_text() + f"  - overlay: {tree}\n")
        # 4022 PEBs in rootfs − 2 layout − 2 wear-levelling/EBA − 80 bad-block reserve (20 per 1024).
        chip_mib, max_lebs = 512, 3938
    ref = d / "reference"
    subprocess.run([ctx.flashsmith, "build", str(board), "-o", str(ref)], check=True, capture_output=True)
    fs, peer = ctx.file("flashsmith"), ctx.file("peer")
    (d / "ubinize.ini").write_text(f"[rootfs]\nmode=ubi\nvol_id=0\nvol_type=dynamic\nvol_name=rootfs\nvol_flags=autoresize\nimage={peer}.tmp/rootfs.ubifs\n")
    shutil.copy(ref / "uboot-env.txt", d / "env.txt")
    shutil.copy(ref / "flash.cmd", d / "flash.cmd")
    rootfs_kib = chip_mib * 1024 - 1024 - 256 - 8192
    (d / "genimage.cfg").write_text(f"""flash nandsim-{chip_mib}M {{
\tpebsize = 131072
\tnumpebs = {chip_mib * 8}
\tminimum-io-unit-size = 2048
\tsub-page-size = 512
\tvid-header-offset = 512
}}
image nandsim.img {{
\tflash {{}}
\tflashtype = "nandsim-{chip_mib}M"
\tpartition u-boot {{
\t\tsize = 1M
\t}}
\tpartition env {{
\t\timage = "env.img"
\t\tsize = 128K
\t}}
\tpartition env-redundant {{
\t\timage = "env.img"
\t\tsize = 128K
\t}}
\tpartition kernel {{
\t\tsize = 8M
\t}}
\tpartition rootfs {{
\t\timage = "rootfs.img"
\t\tsize = {rootfs_kib}K
\t}}
}}
""")
    applets = subprocess.run(["/bin/busybox", "--list-full"], capture_output=True, text=True, check=True).stdout
    (d / "applets.txt").write_text("".join(a + "\n" for a in applets.split() if a != "bin/busybox"))
    os.environ["SOURCE_DATE_EPOCH"] = "1700000000"

    def check(_: dict) -> tuple[bool, str]:
        notes, ok = [], True
        for n in ["nandsim.img", "env.img", "rootfs.img", "flash.scr"]:
            a, b = Path(fs) / n, Path(peer) / n
            ok = ok and a.exists() and b.exists()
            notes.append(f"{n} {a.stat().st_size if a.exists() else 0:,}/{b.stat().st_size if b.exists() else 0:,}")
        oob = Path(fs) / "nandsim.oob.img"
        ok = ok and oob.exists() and oob.stat().st_size == (chip_mib << 20) // 2048 * 2112
        notes.append(f"ours also: nandsim.oob.img {oob.stat().st_size if oob.exists() else 0:,}")
        if ok:
            # Both UBI images: one volume, every CRC right (flashsmith ubi inspect reads anyone's).
            for root in (fs, peer):
                r = subprocess.run([ctx.flashsmith, "ubi", "inspect", f"{root}/rootfs.img", "--json"], capture_output=True, text=True)
                ok = ok and r.returncode == 0 and '"rootfs"' in r.stdout
            notes.append("both UBI images check (ubi inspect)" if ok else "UBI CHECK FAILED")
        return ok, "sizes ours/peers': " + ", ".join(notes)

    env = ["env", f"MKFS_MAX_LEBS={max_lebs}"] + ([f"EXTRA_TREE={tree}"] if tree else [])
    return Row(
        commands=[
            Cmd("flashsmith", [ctx.flashsmith, "build", str(board), "-o", fs]),
            Cmd("peer-script", env + ["sh", str(Path(__file__).resolve().parent / "peers" / "board-nandsim.sh"), peer, str(d), str(repo)]),
        ],
        describe=f"{chip_mib} MiB NAND, Hamming: redundant env + UBI with a UBIFS rootfs (busybox, device tables"
        + (", the 20,000-file tree" if tree else "") + "); ours also writes the OOB image, which no peer can",
        check=check,
    )


@row("board-nandsim", runs=5, help="the nandsim board (128 MiB NAND, UBIFS rootfs): flashsmith build (OOB image included) vs fakeroot+mkfs.ubifs, ubinize, mkenvimage, mkimage -T script, genimage")
def _board_nandsim(ctx: Ctx) -> Row:
    return board_nandsim_row(ctx, None)


@row("board-nandsim-tree", runs=3, help="the nandsim board on a 512 MiB chip with the 20,000-file tree in its UBIFS rootfs: flashsmith build vs the same peer script")
def _board_nandsim_tree(ctx: Ctx) -> Row:
    tree, _ = rootfs_tree(ctx)
    return board_nandsim_row(ctx, tree)


@row("board-disk", runs=3, help="a GPT disk board (vfat boot with a 32 MiB image, the 20,000-file tree as squashfs root, empty ext4 data): flashsmith build vs fakeroot staging + genimage")
def _board_disk(ctx: Ctx) -> Row:
    """A disk board with the bench tree as its squashfs root, against genimage as users run it: the
    tree staged under fakeroot with busybox and the device table, genimage in the same session
    (mkfs.vfat + mcopy, mksquashfs, mke2fs, the GPT). The same partitions, offsets and filesystems."""
    tree, _ = rootfs_tree(ctx)
    repo = Path(__file__).resolve().parent.parent
    d = ctx.inputs / "board-disk"
    d.mkdir(parents=True, exist_ok=True)
    random_file(d / "image.fit", 32 << 20)
    (d / "rootfs.yaml").write_text(f"layers:\n  - skeleton: base\n  - overlay: {tree}\n  - busybox: /bin/busybox\n")
    (d / "board.yaml").write_text(
        "name: benchdisk\nflash: {type: disk, size: 512MiB, partition-table: gpt}\npartitions:\n"
        "  - {name: boot, size: 64MiB, type: esp, bootable: true, content: {vfat: {label: BOOT, files: [image.fit]}}}\n"
        "  - {name: root, size: 320MiB, content: {squashfs: {spec: rootfs.yaml, compression: gzip}}}\n"
        "  - {name: data, size: rest, content: {ext4: {empty: true, label: data}}}\n")
    (d / "genimage.cfg").write_text(
        'image boot.vfat {\n  vfat { label = "BOOT" files = { "image.fit" } }\n  size = 64M\n}\n'
        'image root.squashfs {\n  squashfs { compression = "gzip" }\n}\n'
        'image data.ext4 {\n  ext4 { label = "data" use-mke2fs = true }\n  empty = true\n  size = 126M\n}\n'
        'image benchdisk.img {\n  hdimage { partition-table-type = "gpt" align = 1M }\n'
        '  partition boot { image = "boot.vfat" partition-type-uuid = "U" bootable = true size = 64M }\n'
        '  partition root { image = "root.squashfs" partition-type-uuid = "L" size = 320M }\n'
        '  partition data { image = "data.ext4" partition-type-uuid = "L" }\n  size = 512M\n}\n')
    applets = subprocess.run(["/bin/busybox", "--list-full"], capture_output=True, text=True, check=True).stdout
    (d / "applets.txt").write_text("".join(a + "\n" for a in applets.split() if a != "bin/busybox"))
    fs, peer = ctx.file("flashsmith"), ctx.file("peer")
    os.environ["SOURCE_DATE_EPOCH"] = "1700000000"

    def check(_: dict) -> tuple[bool, str]:
        tables = []
        for p in (Path(fs) / "benchdisk.img", Path(peer) / "benchdisk.img"):
            r = subprocess.run(["sfdisk", "--json", str(p)], capture_output=True, text=True)
            parts = json.loads(r.stdout)["partitiontable"]["partitions"] if r.returncode == 0 else []
            tables.append([(q["start"], q["type"]) for q in parts])
        roots = [count_entries(["unsquashfs", "-lls", str(p)]) for p in (Path(fs) / "root.img", Path(peer) / "root.squashfs")]
        ok = len(tables[0]) == 3 and [t for _, t in tables[0]] == [t for _, t in tables[1]] and [s for s, _ in tables[0]] == [s for s, _ in tables[1]] and roots[0] >= roots[1] > ROOTFS_FILES
        return ok, f"partition starts and types {'equal' if ok else 'DIFFER'} ({tables[0]} vs {tables[1]}); squashfs entries {roots[0]:,} vs {roots[1]:,}"

    return Row(
        commands=[
            Cmd("flashsmith", [ctx.flashsmith, "build", str(d), "-o", fs]),
            Cmd("fakeroot+genimage", ["sh", str(Path(__file__).resolve().parent / "peers" / "board-disk.sh"), peer, str(d), str(repo), str(tree)]),
        ],
        describe="512 MiB GPT: 64 MiB vfat with a 32 MiB boot image, squashfs (gzip) of busybox + the base skeleton + 20,000 files, empty ext4; the peers stage the tree under fakeroot and run genimage",
        check=check,
    )


if __name__ == "__main__":
    sys.exit(main())

// flashsmith-fuzz: long fuzzing campaigns over Flashsmith's parsers (scripts/fuzz.sh drives it;
// docs/fuzzing.md). Two engines:
//   run TARGET…       the seeded mutators of FlashsmithFuzz, in worker processes this one supervises:
//                     a crash, hang or memory blow-up ends a worker, is recorded, and the campaign goes
//                     on from the next input (input N is a pure function of the seeds and N).
//   libfuzzer TARGET  libFuzzer's coverage-guided engine (a build with -DFLASHSMITH_LIBFUZZER and
//                     sanitizer coverage: scripts/fuzz.sh --engine libfuzzer).
import FlashsmithFuzz
import Foundation
#if canImport(Glibc)
import Glibc
#endif

let usage = """
    usage: flashsmith-fuzz list
           flashsmith-fuzz run [TARGET…] [--execs N] [--start N] [--seconds S] [--jobs J] [--seeds DIR] [--out DIR] [--base N] [--report FILE]
           flashsmith-fuzz input TARGET INDEX [--seeds DIR] -o FILE     (the bytes of input INDEX)
           flashsmith-fuzz repro TARGET FILE…                           (runs files once, in this process)
           flashsmith-fuzz libfuzzer TARGET [libFuzzer options and corpus folders]
    """

/// A line to standard output at once (a campaign's log shows progress as it happens).
func say(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("flashsmith-fuzz: \(message)\n".utf8))
    exit(64)
}

/// Options after the positional arguments (`--name value`).
struct Arguments {
    var positional: [String] = []
    var options: [String: String] = [:]

    init(_ args: ArraySlice<String>, flags: Set<String>) {
        var i = args.startIndex
        while i < args.endIndex {
            let a = args[i]
            if a.hasPrefix("-") && a != "-" && flags.contains(a) {
                guard i + 1 < args.endIndex else { fail("\(a) needs a value") }
                options[a] = args[i + 1]
                i += 2
            } else if a.hasPrefix("--") {
                fail("unknown option \(a)")
            } else {
                positional.append(a)
                i += 1
            }
        }
    }

    func int(_ name: String, _ fallback: Int) -> Int {
        guard let s = options[name] else { return fallback }
        let digits = s.replacingOccurrences(of: "_", with: "")
        guard let v = Int(digits), v >= 0 else { fail("\(name): expected a number, found '\(s)'") }
        return v
    }

    func double(_ name: String) -> Double? {
        guard let s = options[name] else { return nil }
        guard let v = Double(s), v > 0 else { fail("\(name): expected seconds, found '\(s)'") }
        return v
    }
}

func target(_ name: String) -> FuzzTarget {
    guard let t = FuzzTargets.named(name) else { fail("unknown target '\(name)'; targets: \(FuzzTargets.all.map(\.name).joined(separator: ", "))") }
    return t
}

let args = CommandLine.arguments
guard args.count > 1 else { fail(usage) }
switch args[1] {
case "list":
    for t in FuzzTargets.all { print(t.name + String(repeating: " ", count: max(1, 20 - t.name.count)) + t.summary) }
case "run":
    let a = Arguments(args.dropFirst(2), flags: ["--execs", "--start", "--seconds", "--jobs", "--seeds", "--out", "--base", "--report"])
    let targets = a.positional.isEmpty ? FuzzTargets.all : a.positional.map(target)
    let campaign = Campaign(
        execs: a.int("--execs", 1_000_000), start: a.int("--start", 0), seconds: a.double("--seconds"), seeds: a.options["--seeds"] ?? FuzzTargets.defaultSeeds,
        out: a.options["--out"] ?? "fuzz-out", base: UInt64(a.int("--base", 0x666C_6173_6873_6D74)))
    // Parsers run side by side on `--jobs` workers, each parser's inputs in order.
    let report = a.options["--report"]
    let results = Campaign.runAll(targets, jobs: max(1, a.int("--jobs", 1)), campaign) { soFar in
        if let report { try? Data(Campaign.table(soFar, start: campaign.start).utf8).write(to: URL(fileURLWithPath: report + ".partial")) }
    }
    let table = Campaign.table(results, start: campaign.start)
    say("\n" + table)
    if let report {
        try? Data(table.utf8).write(to: URL(fileURLWithPath: report))
        unlink(report + ".partial")
    }
    exit(results.allSatisfy(\.clean) ? 0 : 1)
case "worker":
    let a = Arguments(args.dropFirst(2), flags: ["--start", "--count", "--seconds", "--seeds", "--status", "--base"])
    guard a.positional.count == 1, let status = a.options["--status"] else { fail(usage) }
    Worker.run(
        target(a.positional[0]), seeds: a.options["--seeds"] ?? FuzzTargets.defaultSeeds, start: a.int("--start", 0), count: a.int("--count", 1000),
        seconds: a.double("--seconds"), status: status, base: UInt64(a.int("--base", 0x666C_6173_6873_6D74)))
case "input":
    let a = Arguments(args.dropFirst(2), flags: ["-o", "--seeds", "--base"])
    guard a.positional.count == 2, let index = Int(a.positional[1]), let out = a.options["-o"] else { fail(usage) }
    let t = target(a.positional[0])
    let seeds = (try? t.loadSeeds(from: a.options["--seeds"] ?? FuzzTargets.defaultSeeds)) ?? []
    let bytes = t.input(index: index, seeds: seeds, base: UInt64(a.int("--base", 0x666C_6173_6873_6D74)))
    try Data(bytes).write(to: URL(fileURLWithPath: out))
case "repro":
    guard args.count >= 4 else { fail(usage) }
    let t = target(args[2])
    let scratch = try FuzzScratch(seeds: FuzzTargets.defaultSeeds, prefix: "flashsmith-fuzz-repro")
    try t.prepare(scratch)
    for file in args[3...] {
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: file)))
        let cpu0 = FuzzMeter.threadCPU(), rss0 = FuzzMeter.peakRSS()
        do {
            try t.run(bytes, scratch)
            print("\(file): accepted", terminator: "")
        } catch {
            print("\(file): refused: \(error)", terminator: "")
        }
        print(" (\(FuzzMeter.threadCPU() - cpu0) s CPU, peak RSS +\((FuzzMeter.peakRSS() - rss0) >> 20) MiB)")
    }
case "libfuzzer":
    #if FLASHSMITH_LIBFUZZER
    guard args.count >= 3 else { fail(usage) }
    LibFuzzer.run(target(args[2]), arguments: [args[0]] + args[3...])
    #else
    fail("this build has no libFuzzer: build it with scripts/fuzz.sh --engine libfuzzer")
    #endif
default:
    fail(usage)
}

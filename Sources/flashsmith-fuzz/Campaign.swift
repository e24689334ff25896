import FlashsmithFuzz
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Supervises workers over one target until `execs` inputs are done: each crash, hang or memory
/// blow-up is saved under OUT/TARGET/ (the input, the worker's last output and a symbolicated
/// stack from re-running the input), and a new worker goes on from the next input.
struct Campaign {
    var execs: Int
    /// The first input of every parser (`--start`): a campaign cut short goes on where it stopped,
    /// as inputs are a pure function of their number.
    var start = 0
    var seconds: Double?
    var seeds: String
    var out: String
    var base: UInt64

    struct Event {
        var kind: String
        var index: Int
        var file: String
        /// The first frame in Flashsmith's own sources (not the fuzz harness), or the trap message.
        var site: String
    }

    struct Result {
        var target: String
        var execs = 0
        var accepted = 0
        var events: [Event] = []
        var peakRSS = 0
        var peakGrowth = 0
        var slowest = 0.0
        var slowestIndex = -1
        var seconds = 0.0
        var workers = 0
        func count(_ kind: String) -> Int { events.filter { $0.kind == kind }.count }
        var crashSites: Set<String> { Set(events.filter { $0.kind == "crash" }.map(\.site)) }
        var clean: Bool { events.isEmpty }
    }

    func run(_ target: FuzzTarget) -> Result {
        var r = Result(target: target.name)
        let dir = "\(out)/\(target.name)"
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        guard let seedBytes = try? target.loadSeeds(from: seeds) else { fail("\(target.name): no seeds in \(seeds)") }
        let begin = Date()
        var next = start
        let end = start + execs
        say("\(target.name): \(execs) inputs (#\(start) to #\(end - 1)) from \(seedBytes.count) seed(s)")
        while next < end {
            let elapsed = Date().timeIntervalSince(begin)
            if let seconds, elapsed >= seconds { break }
            let statusPath = "\(dir)/.status"
            guard let status = try? StatusMap(path: statusPath, create: true) else { fail("cannot create \(statusPath)") }
            var arguments = ["worker", target.name, "--start", "\(next)", "--count", "\(end - next)", "--seeds", seeds, "--status", statusPath, "--base", "\(base)"]
            if let seconds { arguments += ["--seconds", "\(max(1, seconds - elapsed))"] }
            let log = "\(dir)/.worker.log"
            var lastReport = Date()
            let (exitStatus, signalled) = spawn(arguments, log: log, environment: ["SWIFT_BACKTRACE": "enable=no"]) {
                guard Date().timeIntervalSince(lastReport) >= 300 else { return }
                lastReport = Date()
                let done = r.execs + Int(status[.execs])
                say("  \(target.name): \(done) execs, \(Int(Double(done) / max(Date().timeIntervalSince(begin), 0.001))) /s, \(r.events.count) finding(s), \(Int(Date().timeIntervalSince(begin))) s")
            }
            r.workers += 1
            r.execs += Int(status[.execs])
            r.accepted += Int(status[.accepted])
            r.peakRSS = max(r.peakRSS, Int(status[.peakRSS]))
            r.peakGrowth = max(r.peakGrowth, Int(status[.peakGrowth]))
            if Double(status[.slowestNanos]) / 1e9 > r.slowest {
                r.slowest = Double(status[.slowestNanos]) / 1e9
                r.slowestIndex = Int(status[.slowestIndex])
            }
            let index = Int(status[.index])
            var state = status.state
            if state == .running && (signalled || exitStatus != 0) { state = .crash }  // killed before it could say (SIGKILL)
            switch state {
            case .finished:
                guard status[.execs] > 0 else { fail("\(target.name): a worker finished without running an input (see \(log))") }
                next += Int(status[.execs])
            case .running:
                fail("\(target.name): a worker ended without a status (exit \(exitStatus); see \(log))")
            case .crash, .hang, .memory:
                let kind = state == .crash ? "crash" : state == .hang ? "hang" : "memory"
                if state != .memory { r.execs += 1 }  // the input in progress ran too
                let input = target.input(index: index, seeds: seedBytes, base: base)
                let file = "\(dir)/\(kind)-\(index).bin"
                try? Data(input).write(to: URL(fileURLWithPath: file))
                var site = ""
                if state == .crash {
                    let workerLog = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
                    let trace = reproduce(target.name, file)
                    try? (workerLog + "\n--- reproduced (flashsmith-fuzz repro \(target.name) \(file)):\n" + trace).write(toFile: "\(dir)/\(kind)-\(index).txt", atomically: true, encoding: .utf8)
                    site = Self.site(trace: trace, log: workerLog, signal: Int32(status[.signal]))
                } else {
                    site = state == .hang ? "more than 2 s of CPU (or 20 s of wall time)" : "peak RSS +\(status[.peakGrowth] >> 20) MiB"
                }
                r.events.append(Event(kind: kind, index: index, file: file, site: site))
                say("  \(target.name): \(kind) on input #\(index) (\(input.count) bytes): \(file)\n    \(site)")
                next = index + 1
            }
            let s = Date().timeIntervalSince(begin)
            say("  \(target.name): \(r.execs) execs, \(Int(Double(r.execs) / max(s, 0.001))) /s, \(r.events.count) finding(s), \(Int(s)) s")
        }
        r.seconds = Date().timeIntervalSince(begin)
        unlink("\(dir)/.status")
        return r
    }

    /// Runs this executable with `arguments`, output to `log`; returns (status, killed by a signal).
    func spawn(_ arguments: [String], log: String, environment: [String: String], timeout: Double? = nil, progress: () -> Void = {}) -> (Int32, Bool) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        p.arguments = arguments
        p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        guard let h = FileHandle(forWritingAtPath: log) else { fail("cannot write \(log)") }
        defer { try? h.close() }
        p.standardOutput = h
        p.standardError = h
        do { try p.run() } catch { fail("cannot start a worker: \(error)") }
        let deadline = timeout.map { Date().addingTimeInterval($0) }
        while p.isRunning {
            if let deadline, Date() >= deadline {
                kill(p.processIdentifier, SIGKILL)
                break
            }
            progress()
            usleep(200_000)
        }
        p.waitUntilExit()
        return (p.terminationStatus, p.terminationReason == .uncaughtSignal)
    }

    /// The input run again in a fresh process with Swift's backtracer on: the stack of the trap.
    func reproduce(_ target: String, _ file: String) -> String {
        let log = file + ".repro"
        defer { unlink(log) }
        _ = spawn(
            ["repro", target, file], log: log,
            environment: ["SWIFT_BACKTRACE": "enable=yes,interactive=no,color=no,threads=crashed,registers=none,images=none,limit=48,timeout=60s"],
            timeout: 180)
        return (try? String(contentsOfFile: log, encoding: .utf8)) ?? "(no output)"
    }

    /// `Sources/X/File.swift:123 (function)` of the first frame outside the fuzz harness, with the
    /// trap message and the signal.
    static func site(trace: String, log: String, signal: Int32) -> String {
        let lines = (log + "\n" + trace).split(separator: "\n").map(String.init)
        let message = lines.first { $0.contains("Fatal error") || $0.contains("Crash") }?.trimmingCharacters(in: .whitespaces)
        var frame: String?
        for l in lines where !l.contains("/Sources/FlashsmithFuzz/") && !l.contains("/Sources/flashsmith-fuzz/") {
            guard let r = l.range(of: "/Sources/"), let file = l[r.upperBound...].split(separator: " ").first else { continue }
            frame = "Sources/" + file
            if let fn = l.range(of: " in "), let name = l[fn.upperBound...].prefix(100).components(separatedBy: " at ").first {
                frame! += " (\(name))"
            }
            break
        }
        let sig = "signal \(signal) (\(String(cString: strsignal(signal))))"
        return [frame, message, sig].compactMap { $0 }.joined(separator: " — ")
    }

    /// Parsers whose inputs cost the most (dtc, argument parsing, password hashing, compression):
    /// started first, so the slowest does not run alone at the end.
    static let slowFirst = ["its", "cli-options", "users-table", "archive-compressed"]

    /// Runs the targets `jobs` at a time, the slow ones first; results in the targets' order.
    /// `finished` is called (under a lock) with the results so far each time a parser is done, so a
    /// campaign stopped early still leaves the figures of every parser it finished.
    static func runAll(_ targets: [FuzzTarget], jobs: Int, _ campaign: Campaign, finished: @escaping @Sendable ([Result]) -> Void = { _ in }) -> [Result] {
        let order = targets.indices.sorted { a, b in
            let ra = slowFirst.firstIndex(of: targets[a].name) ?? slowFirst.count, rb = slowFirst.firstIndex(of: targets[b].name) ?? slowFirst.count
            return (ra, a) < (rb, b)
        }
        final class Shared: @unchecked Sendable {
            let lock = NSLock()
            var next = 0
            var results: [Int: Result] = [:]
        }
        let shared = Shared()
        // Threads, not concurrentPerform: that runs no more iterations at once than there are cores.
        let lanes = (0..<min(jobs, targets.count)).map { _ in
            Thread {
            while true {
                shared.lock.lock()
                let i = shared.next
                shared.next += 1
                shared.lock.unlock()
                guard i < order.count else { return }
                let r = campaign.run(targets[order[i]])
                shared.lock.lock()
                shared.results[order[i]] = r
                finished(targets.indices.compactMap { shared.results[$0] })
                shared.lock.unlock()
            }
            }
        }
        for lane in lanes { lane.start() }
        while true {
            shared.lock.lock()
            let done = shared.results.count
            shared.lock.unlock()
            if done == targets.count { break }
            usleep(500_000)
        }
        return targets.indices.compactMap { shared.results[$0] }
    }

    static func table(_ results: [Result], start: Int = 0) -> String {
        var rows = start == 0 ? [] : ["Inputs from #\(start) on (`--start \(start)`).", ""]
        rows += ["| parser | execs | accepted | crashes (sites) | hangs | memory | peak RSS | slowest input | time |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for r in results {
            rows.append(
                "| \(r.target) | \(r.execs) | \(r.accepted) | \(r.count("crash")) (\(r.crashSites.count)) | \(r.count("hang")) | \(r.count("memory")) | \(r.peakRSS >> 20) MiB | \(String(format: "%.3f", r.slowest)) s | \(Int(r.seconds)) s |")
        }
        var text = rows.joined(separator: "\n") + "\n"
        for r in results where !r.events.isEmpty {
            text += "\n\(r.target):\n"
            for e in r.events { text += "  \(e.kind) #\(e.index) \(e.file): \(e.site)\n" }
        }
        return text
    }
}

#if canImport(Glibc)
import Glibc
#endif

/// What counts as a failure besides a crash (the issue's bar): an input of at most 1 MiB that takes
/// more than 2 s, or makes the process grow by more than 256 MiB.
public struct FuzzLimits: Sendable {
    /// CPU time of the parsing thread: a loaded machine stretches wall time, not CPU time.
    public var cpuSeconds: Double = 2
    /// Wall time, for inputs that block rather than compute (a read that never returns).
    public var wallSeconds: Double = 20
    public var memoryBytes = 256 << 20

    public init() {}
}

/// Clocks and memory of this process.
public enum FuzzMeter {
    public static func threadCPU() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    public static func wall() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    /// Sets the peak resident size back to the current one (Linux's /proc/self/clear_refs "5");
    /// false where that is not possible (the peak then only grows).
    @discardableResult
    public static func resetPeakRSS() -> Bool {
        let fd = open("/proc/self/clear_refs", O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        return write(fd, "5", 1) == 1
    }

    /// The process's peak resident size so far (bytes).
    public static func peakRSS() -> Int {
        var u = rusage()
        getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &u)
        return u.ru_maxrss * 1024
    }

    /// The process's resident size now (bytes), from /proc/self/statm.
    public static func currentRSS() -> Int {
        guard let text = try? readFile("/proc/self/statm") else { return 0 }
        let fields = String(decoding: text, as: UTF8.self).split(separator: " ")
        guard fields.count > 1, let pages = Int(fields[1]) else { return 0 }
        return pages * sysconf(Int32(_SC_PAGESIZE))
    }

    /// The resident size's high-water mark and current value (bytes), from /proc/self/status: the
    /// mark ``resetPeakRSS()`` resets (getrusage's maxrss also keeps the peaks of exited threads).
    /// Nil where /proc is not there.
    public static func residentHighWater() -> (peak: Int, now: Int)? {
        let fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 8192) { buf -> (Int, Int)? in
            var n = 0
            while n < buf.count {
                let r = read(fd, buf.baseAddress! + n, buf.count - n)
                if r < 0 && errno == EINTR { continue }
                guard r > 0 else { break }
                n += r
            }
            func field(_ name: String) -> Int? {
                let key = Array(name.utf8)
                var i = 0
                while i + key.count <= n {
                    if (i == 0 || buf[i - 1] == 0x0A) && buf[i] == key[0] && (0..<key.count).allSatisfy({ buf[i + $0] == key[$0] }) {
                        var j = i + key.count, v = 0
                        while j < n, buf[j] == 0x20 || buf[j] == 0x09 { j += 1 }
                        while j < n, buf[j] >= 0x30 && buf[j] <= 0x39 { v = v * 10 + Int(buf[j] - 0x30); j += 1 }
                        return v * 1024  // kB
                    }
                    i += 1
                }
                return nil
            }
            guard let peak = field("VmHWM:"), let now = field("VmRSS:") else { return nil }
            return (peak, now)
        }
    }
}

/// A hang or a memory blow-up (crashes end the process: the campaign executable reports them).
public struct FuzzFinding: Sendable, CustomStringConvertible {
    public enum Kind: String, Sendable { case hang, memory }
    public var kind: Kind
    public var target: String
    public var index: Int
    public var input: [UInt8]
    public var detail: String
    public var description: String { "\(target): \(kind.rawValue) on input #\(index) (\(input.count) bytes): \(detail)" }
}

public struct FuzzStats: Sendable {
    public var target: String
    public var execs = 0
    /// Inputs the parser accepted (ran without throwing): mutations that are not all refused at once.
    public var accepted = 0
    public var slowestCPU = 0.0
    public var slowestIndex = -1
    /// Growth of the peak resident size over the campaign (bytes).
    public var peakGrowth = 0
    public var peakRSS = 0
    public var findings: [FuzzFinding] = []
    public var seconds = 0.0
}

/// Runs a target over inputs `start ..< start + count` (see ``Mutator/input(index:seeds:target:base:)``)
/// in this process, checking time and memory after each.
public struct FuzzRunner {
    public let target: FuzzTarget
    public let seeds: [[UInt8]]
    public let scratch: FuzzScratch
    public var base: UInt64
    public var limits = FuzzLimits()
    /// Called with each input's index and bytes before it runs (the campaign executable keeps them
    /// for its crash handler and watchdog).
    public var willRun: ((Int, [UInt8]) -> Void)?
    /// Called after each input; return false to stop (a finding the caller wants to act on).
    public var didRun: ((Int, FuzzStats) -> Bool)?

    /// Peak growth after which the peak is reset (the error in charging growth to an input).
    static let resetStep = 16 << 20

    public init(target: FuzzTarget, seedsFolder: String, base: UInt64 = 0x666C_6173_6873_6D74) throws {
        try self.init(target: target, inputs: try target.loadSeeds(from: seedsFolder), seedsFolder: seedsFolder, base: base)
    }

    /// A runner over given inputs (inputs 0 ..< inputs.count are these, unchanged).
    public init(target: FuzzTarget, inputs: [[UInt8]], seedsFolder: String, base: UInt64 = 0x666C_6173_6873_6D74) throws {
        self.target = target
        self.seeds = inputs
        self.scratch = try FuzzScratch(seeds: seedsFolder, prefix: "flashsmith-fuzz-\(target.name)")
        self.base = base
        try target.prepare(scratch)
    }

    public func input(_ index: Int) -> [UInt8] {
        target.input(index: index, seeds: seeds, base: base)
    }

    /// Runs until `count` inputs are done, `seconds` have passed, or `didRun` says stop.
    public func run(from start: Int = 0, count: Int, seconds: Double? = nil) -> FuzzStats {
        var stats = FuzzStats(target: target.name)
        let begin = FuzzMeter.wall()
        // An input's memory is the peak during it over the resident size before it. The peak is
        // reset whenever it has grown by a little (so growth is charged to the input that made it,
        // within that little), or never where the system cannot (then: growth over the start,
        // from getrusage).
        let precise = FuzzMeter.resetPeakRSS() && FuzzMeter.residentHighWater() != nil
        func measure() -> (peak: Int, now: Int) {
            if precise, let m = FuzzMeter.residentHighWater() { return m }
            return (FuzzMeter.peakRSS(), 0)
        }
        var baseline = precise ? measure().now : FuzzMeter.peakRSS()
        var highest = measure().peak
        var index = start
        while index < start + count {
            if let seconds, FuzzMeter.wall() - begin >= seconds { break }
            let bytes = input(index)
            willRun?(index, bytes)
            let cpu0 = FuzzMeter.threadCPU(), wall0 = FuzzMeter.wall()
            do {
                try target.run(bytes, scratch)
                stats.accepted += 1
            } catch {}
            let cpu = FuzzMeter.threadCPU() - cpu0, wall = FuzzMeter.wall() - wall0
            stats.execs += 1
            if cpu > stats.slowestCPU { (stats.slowestCPU, stats.slowestIndex) = (cpu, index) }
            let peak = measure().peak
            highest = max(highest, peak)
            stats.peakRSS = highest
            stats.peakGrowth = max(stats.peakGrowth, peak - baseline)
            if cpu > limits.cpuSeconds || wall > limits.wallSeconds {
                let detail = "took \(format(cpu)) s of CPU, \(format(wall)) s of wall time (limit \(format(limits.cpuSeconds)) s CPU, \(format(limits.wallSeconds)) s wall)"
                stats.findings.append(FuzzFinding(kind: .hang, target: target.name, index: index, input: bytes, detail: detail))
            }
            if peak - baseline > limits.memoryBytes, !stats.findings.contains(where: { $0.kind == .memory }) {
                let detail = "peak resident size grew by \((peak - baseline) >> 20) MiB (limit \(limits.memoryBytes >> 20) MiB)"
                stats.findings.append(FuzzFinding(kind: .memory, target: target.name, index: index, input: bytes, detail: detail))
            }
            if precise && peak - baseline > Self.resetStep {
                FuzzMeter.resetPeakRSS()
                baseline = measure().now
            }
            index += 1
            if let didRun, !didRun(index - 1, stats) { break }
        }
        stats.seconds = FuzzMeter.wall() - begin
        return stats
    }
}

func format(_ v: Double) -> String {
    let hundredths = Int((v * 100).rounded())
    return "\(hundredths / 100).\(hundredths % 100 < 10 ? "0" : "")\(hundredths % 100)"
}

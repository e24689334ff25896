import FlashsmithFuzz
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// What a worker tells its supervisor, in a small file both map: a crash cannot send a message,
/// but the slots it updated before each input survive it.
enum StatusSlot: Int, CaseIterable {
    case state, index, execs, accepted, peakRSS, signal, cpuStartNanos, wallStartNanos, slowestNanos, slowestIndex, peakGrowth
}

enum WorkerState: Int64 {
    case running = 0, finished, crash, hang, memory
}

/// The status file, mapped shared.
final class StatusMap: @unchecked Sendable {
    static let size = 4096
    let slots: UnsafeMutablePointer<Int64>

    init(path: String, create: Bool) throws {
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path]) }
        defer { close(fd) }
        if create { ftruncate(fd, 0) }
        ftruncate(fd, off_t(Self.size))
        guard let p = mmap(nil, Self.size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0), p != MAP_FAILED else {
            throw CocoaError(.fileReadUnknown, userInfo: [NSFilePathErrorKey: path])
        }
        slots = p.bindMemory(to: Int64.self, capacity: Self.size / 8)
    }

    subscript(_ s: StatusSlot) -> Int64 {
        get { slots[s.rawValue] }
        set { slots[s.rawValue] = newValue }
    }

    var state: WorkerState { WorkerState(rawValue: self[.state]) ?? .running }
}

/// Globals the signal handler and the watchdog read (set once before the campaign starts).
nonisolated(unsafe) var workerStatus: StatusMap?
nonisolated(unsafe) var workerClock = clockid_t(0)

func nanos(_ clock: clockid_t) -> Int64 {
    var ts = timespec()
    clock_gettime(clock, &ts)
    return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
}

enum Worker {
    static let fatalSignals = [SIGSEGV, SIGBUS, SIGILL, SIGTRAP, SIGABRT, SIGFPE]

    static func run(_ target: FuzzTarget, seeds: String, start: Int, count: Int, seconds: Double?, status path: String, base: UInt64) -> Never {
        let status: StatusMap
        do { status = try StatusMap(path: path, create: false) } catch { fail("cannot map \(path): \(error)") }
        workerStatus = status
        status[.state] = WorkerState.running.rawValue
        status[.index] = Int64(start)
        pthread_getcpuclockid(pthread_self(), &workerClock)
        installCrashHandlers()
        startWatchdog()

        var runner: FuzzRunner
        do { runner = try FuzzRunner(target: target, seedsFolder: seeds, base: base) } catch { fail("\(target.name): \(error)") }
        runner.limits.cpuSeconds = .infinity  // the watchdog stops a hang while it happens
        runner.limits.wallSeconds = .infinity
        runner.willRun = { index, _ in
            status[.cpuStartNanos] = nanos(workerClock)
            status[.wallStartNanos] = nanos(CLOCK_MONOTONIC)
            status[.index] = Int64(index)
        }
        runner.didRun = { _, stats in
            status[.execs] = Int64(stats.execs)
            status[.accepted] = Int64(stats.accepted)
            status[.peakRSS] = Int64(stats.peakRSS)
            status[.peakGrowth] = Int64(stats.peakGrowth)
            status[.slowestNanos] = Int64(stats.slowestCPU * 1e9)
            status[.slowestIndex] = Int64(stats.slowestIndex)
            if stats.findings.contains(where: { $0.kind == .memory }) {
                status[.state] = WorkerState.memory.rawValue
                return false
            }
            return true
        }
        _ = runner.run(from: start, count: count, seconds: seconds)
        if status.state == .running { status[.state] = WorkerState.finished.rawValue }
        msync(status.slots, StatusMap.size, MS_SYNC)
        exit(status.state == .finished ? 0 : 3)
    }

    /// A fatal signal marks the status (the supervisor saves the input from its index) and is
    /// raised again with the default action, so the exit status still names it.
    static func installCrashHandlers() {
        let stackSize = 1 << 16
        var ss = stack_t()
        ss.ss_sp = UnsafeMutableRawPointer.allocate(byteCount: stackSize, alignment: 16)
        ss.ss_size = stackSize
        sigaltstack(&ss, nil)
        for sig in fatalSignals {
            var action = sigaction()
            action.__sigaction_handler.sa_handler = { sig in
                if let s = workerStatus {
                    s.slots[StatusSlot.signal.rawValue] = Int64(sig)
                    s.slots[StatusSlot.state.rawValue] = WorkerState.crash.rawValue
                }
                signal(sig, SIG_DFL)
                raise(sig)
            }
            action.sa_flags = Int32(bitPattern: UInt32(truncatingIfNeeded: SA_ONSTACK) | UInt32(truncatingIfNeeded: SA_RESETHAND))
            sigaction(sig, &action, nil)
        }
    }

    /// Ends the worker when one input has used more than 2 s of CPU (or 20 s of wall time), or
    /// when its supervisor is gone.
    static func startWatchdog() {
        let parent = getppid()
        let t = Thread {
            let cpuLimit: Int64 = 2_000_000_000, wallLimit: Int64 = 20_000_000_000
            while true {
                usleep(100_000)
                if getppid() != parent { _exit(4) }  // a worker never outlives its supervisor
                guard let s = workerStatus else { continue }
                let index = s[.index]
                let cpu = nanos(workerClock) - s[.cpuStartNanos], wall = nanos(CLOCK_MONOTONIC) - s[.wallStartNanos]
                if (cpu > cpuLimit || wall > wallLimit) && s[.index] == index && s[.cpuStartNanos] != 0 {
                    s[.slowestNanos] = max(s[.slowestNanos], cpu)
                    s[.state] = WorkerState.hang.rawValue
                    msync(s.slots, StatusMap.size, MS_SYNC)
                    _exit(3)
                }
            }
        }
        t.start()
    }
}

import Foundation
import Synchronization
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// What one QEMU run produced.
public struct QEMUResult: Sendable {
    /// Everything QEMU wrote (serial console, monitor, its own errors), carriage returns removed.
    public var log: String
    /// Path of the log file (kept as long as the caller keeps its folder).
    public var logPath: String
    /// The child's PID (gone by the time the result exists).
    public var pid: Int32
    /// Wall time from start until QEMU was gone.
    public var duration: Duration
    /// QEMU's exit status when it ended by itself (guest `poweroff`), nil when the harness killed it.
    public var exitStatus: Int32?
    /// The signal that ended the child, if one did (SIGTERM from the harness, normally).
    public var terminationSignal: Int32?
    /// True when the overall timeout ended the run.
    public var timedOut: Bool
    /// The `killOn` marker whose appearance ended the run, if any.
    public var killedOn: String?
    /// Seconds from start at which each watched marker first appeared.
    public var markerTimes: [String: Double]

    public var seconds: Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }

    public func contains(_ text: String) -> Bool { log.contains(text) }

    /// The last `n` lines of the log, for failure messages.
    public func tail(_ n: Int = 40) -> String {
        log.split(separator: "\n", omittingEmptySubsequences: false).suffix(n).joined(separator: "\n")
    }

    /// A one-line account of how the run ended, for failure messages and timing prints.
    public var summary: String {
        let how: String
        if timedOut {
            how = "timed out"
        } else if let k = killedOn {
            how = "killed on '\(k)'"
        } else {
            how = "exited with status \(exitStatus.map(String.init) ?? "?")"
        }
        return String(format: "%@ after %.2f s (log %@)", how, seconds, logPath)
    }
}

public struct QEMUError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Runs QEMU (or any long-lived child) with its output in a log file, watching the log for markers.
///
/// QEMU is started with posix_spawn (clean signal mask and dispositions) and reaped with waitpid.
/// It is killed by its PID on every way out of ``run(_:_:log:timeout:markers:killOn:killDelay:)``:
/// after a `killOn` marker, on timeout, when the polling throws, and, through a process-wide registry
/// of live PIDs, when the test process receives SIGINT/SIGTERM/SIGHUP/SIGQUIT, crashes, or exits.
/// When `setpriv` (util-linux) is present QEMU also gets `PR_SET_PDEATHSIG=SIGKILL`, which covers a
/// test process killed by SIGKILL.
public enum QEMU {
    /// Starts `executable arguments…` with stdin from /dev/null and stdout+stderr into `log`, then polls
    /// the log every 50 ms until the child exits by itself, a `killOn` marker appears (the child is
    /// killed `killDelay` later so the rest of the line is flushed), or `timeout` passes (killed).
    /// `markers` (and `killOn`) are timed: ``QEMUResult/markerTimes``.
    public static func run(
        _ executable: String,
        _ arguments: [String],
        log logPath: String,
        timeout: Duration = .seconds(120),
        markers: [String] = [],
        killOn: [String] = [],
        killDelay: Duration = .milliseconds(300)
    ) throws -> QEMUResult {
        LiveChildren.installHandlers()
        guard let exePath = executable.contains("/") ? executable : which(executable) else {
            throw QEMUError("\(executable) not found on PATH")
        }
        var argv = [exePath] + arguments
        if let setpriv = which("setpriv") {
            // PR_SET_PDEATHSIG: the child dies with the thread that started it (this one, which waits
            // for it), which covers a test process killed by SIGKILL.
            argv = [setpriv, "--pdeathsig", "KILL", "--"] + argv
        }
        let logFD = open(logPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard logFD >= 0 else { throw QEMUError("cannot create \(logPath): \(String(cString: strerror(errno)))") }
        defer { close(logFD) }

        let clock = ContinuousClock()
        let start = clock.now
        let pid = try spawn(argv, output: logFD)
        let slot = LiveChildren.register(pid)
        var status: Int32?  // waitpid status once reaped
        defer {
            // Every way out, a throw included: the child is gone before this returns.
            if status == nil { _ = stop(pid, slot: slot) }
        }

        var times: [String: Double] = [:]
        var killedOn: String?
        var timedOut = false
        let watched = markers + killOn.filter { !markers.contains($0) }
        func elapsed() -> Double { seconds(clock.now - start) }
        while status == nil {
            let exited = hasExited(pid)
            let text = readLog(logPath)
            for m in watched where times[m] == nil && text.contains(m) {
                times[m] = elapsed()
            }
            if exited {
                status = reap(pid, slot: slot)
            } else if let k = killOn.first(where: { times[$0] != nil }) {
                killedOn = k
                Thread.sleep(forTimeInterval: seconds(killDelay))
                status = stop(pid, slot: slot)
            } else if clock.now - start > timeout {
                timedOut = true
                status = stop(pid, slot: slot)
            } else {
                Thread.sleep(forTimeInterval: 0.05)
            }
        }
        let duration = clock.now - start
        let log = readLog(logPath)
        keepLog(logPath)
        for m in watched where times[m] == nil && log.contains(m) { times[m] = elapsed() }
        let endedByItself = killedOn == nil && !timedOut
        let st = status ?? -1
        let exitedNormally = st >= 0 && st & 0x7F == 0
        return QEMUResult(
            log: log, logPath: logPath, pid: pid, duration: duration,
            exitStatus: endedByItself && exitedNormally ? (st >> 8) & 0xFF : nil,
            terminationSignal: st >= 0 && !exitedNormally ? st & 0x7F : nil,
            timedOut: timedOut, killedOn: killedOn, markerTimes: times
        )
    }

    static func seconds(_ d: Duration) -> Double {
        Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }

    /// posix_spawn with stdin from /dev/null, stdout and stderr to `output`, and a clean signal state:
    /// no blocked signals and every disposition default. (Foundation's Process passes on the calling
    /// thread's signal mask, and test-runner threads block SIGTERM and SIGINT: QEMU would ignore them.)
    static func spawn(_ argv: [String], output: Int32) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, output, 1)
        posix_spawn_file_actions_adddup2(&actions, output, 2)

        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigmask(&attr, &none)
        var all = sigset_t()
        sigfillset(&all)
        sigdelset(&all, SIGKILL)
        sigdelset(&all, SIGSTOP)
        posix_spawnattr_setsigdefault(&attr, &all)
        posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        let env = ProcessInfo.processInfo.environment.map { "\($0.key)=\($0.value)" }
        var cArgs: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
        var cEnv: [UnsafeMutablePointer<CChar>?] = env.map { strdup($0) } + [nil]
        defer {
            for p in cArgs { free(p) }
            for p in cEnv { free(p) }
        }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, argv[0], &actions, &attr, &cArgs, &cEnv)
        guard rc == 0 else { throw QEMUError("posix_spawn \(argv[0]): \(String(cString: strerror(rc)))") }
        return pid
    }

    /// Whether `pid` has exited, without reaping it (so its PID cannot be reused while it is registered).
    static func hasExited(_ pid: pid_t) -> Bool {
        var info = siginfo_t()
        guard waitid(P_PID, id_t(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0 else {
            return errno == ECHILD  // not our child any more: gone
        }
        return info.si_signo == SIGCHLD
    }

    /// Unregisters `pid`, then reaps it; returns its wait status (-1 when it was reaped elsewhere).
    static func reap(_ pid: pid_t, slot: Int) -> Int32 {
        LiveChildren.unregister(slot)
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            if errno != EINTR { return -1 }
        }
        return status
    }

    /// SIGTERM, up to 2 s grace, SIGKILL; then reaps the child and returns its wait status.
    static func stop(_ pid: pid_t, slot: Int) -> Int32 {
        if !hasExited(pid) {
            kill(pid, SIGTERM)
            let deadline = Date().addingTimeInterval(2)
            while !hasExited(pid) && Date() < deadline { Thread.sleep(forTimeInterval: 0.02) }
            if !hasExited(pid) { kill(pid, SIGKILL) }
        }
        return reap(pid, slot: slot)
    }

    /// With `FLASHSMITH_QEMU_LOGS=DIR` set, every QEMU log is also copied into DIR (for CI artefacts
    /// and for reading a passing run; test folders are removed when the test ends).
    static func keepLog(_ path: String) {
        guard let dir = ProcessInfo.processInfo.environment["FLASHSMITH_QEMU_LOGS"], !dir.isEmpty else { return }
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let parent = URL(fileURLWithPath: path).deletingLastPathComponent().lastPathComponent
        let name = "\(parent)-\(URL(fileURLWithPath: path).lastPathComponent)"
        try? FileManager.default.removeItem(atPath: "\(dir)/\(name)")
        try? FileManager.default.copyItem(atPath: path, toPath: "\(dir)/\(name)")
    }

    static func readLog(_ path: String) -> String {
        guard let d = FileManager.default.contents(atPath: path) else { return "" }
        return String(decoding: d, as: UTF8.self).replacingOccurrences(of: "\r", with: "")
    }
}

// MARK: - Registry of live children, killed on signals and at exit

/// PIDs of running QEMU children in a fixed table a signal handler can read without locks.
enum LiveChildren {
    static let capacity = 64
    /// Slot table: 0 = free. Written under `lock`, read (racily, but only whole aligned Int32s) by handlers.
    nonisolated(unsafe) static let pids: UnsafeMutablePointer<pid_t> = {
        let p = UnsafeMutablePointer<pid_t>.allocate(capacity: capacity)
        p.initialize(repeating: 0, count: capacity)
        return p
    }()
    /// Previous dispositions, restored (and chained to) by the handler. Indexed by signal number.
    nonisolated(unsafe) static let previous: UnsafeMutablePointer<sigaction> = {
        let p = UnsafeMutablePointer<sigaction>.allocate(capacity: 65)
        p.initialize(repeating: sigaction(), count: 65)
        return p
    }()
    static let lock = Mutex<Bool>(false)  // value: handlers installed

    /// Signals that end the process by request: kill the children, then re-raise with the old action.
    static let terminating: [Int32] = [SIGINT, SIGTERM, SIGHUP, SIGQUIT]
    /// Crash signals: kill the children, restore the old action and return (the fault recurs and the
    /// previous handler, e.g. Swift's backtracer, or the default action takes over).
    static let crashing: [Int32] = [SIGABRT, SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP]

    static func register(_ pid: pid_t) -> Int {
        lock.withLock { _ in
            for i in 0..<capacity where pids[i] == 0 {
                pids[i] = pid
                return i
            }
            return -1
        }
    }

    static func unregister(_ slot: Int) {
        guard slot >= 0 else { return }
        lock.withLock { _ in pids[slot] = 0 }
    }

    /// Async-signal-safe: only kill(2) on the table's entries.
    static func killAll() {
        for i in 0..<capacity {
            let pid = pids[i]
            if pid > 0 { kill(pid, SIGKILL) }
        }
    }

    static func installHandlers() {
        lock.withLock { installed in
            guard !installed else { return }
            installed = true
            _ = pids
            _ = previous
            for sig in terminating + crashing {
                var old = sigaction()
                sigaction(sig, nil, &old)
                if old.sa_flags & SA_SIGINFO == 0, let h = old.__sigaction_handler.sa_handler, unsafeBitCast(h, to: Int.self) == 1 {
                    continue  // SIG_IGN (e.g. SIGHUP under nohup): the process will not end by it, so neither does QEMU
                }
                var action = sigaction()
                action.__sigaction_handler.sa_handler = liveChildrenSignalHandler
                sigemptyset(&action.sa_mask)
                action.sa_flags = SA_ONSTACK
                sigaction(sig, &action, previous.advanced(by: Int(sig)))
            }
            atexit { LiveChildren.killAll() }
        }
    }
}

private func liveChildrenSignalHandler(_ sig: Int32) {
    LiveChildren.killAll()
    sigaction(sig, LiveChildren.previous.advanced(by: Int(sig)), nil)
    if sig == SIGINT || sig == SIGTERM || sig == SIGHUP || sig == SIGQUIT {
        raise(sig)
    }
}

extension QEMUResult {
    /// The log's lines, without the carriage returns of the serial console.
    public var lines: [String] { log.split(separator: "\n").map { $0.trimmingCharacters(in: CharacterSet(charactersIn: "\r")) } }

    /// What follows `marker` on the first line that has it (anywhere on the line: a marker may
    /// follow the firmware's escape sequences), or nil.
    public func line(_ marker: String) -> String? {
        for l in lines { if let r = l.range(of: marker) { return String(l[r.upperBound...]) } }
        return nil
    }
}

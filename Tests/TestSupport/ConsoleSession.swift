import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A long-lived child (QEMU, or `flashsmith boot`) driven through its console: its output goes to a
/// log file the test waits on, its standard input is a socket (no SIGPIPE) or a pseudo-terminal the test types into.
///
/// Killed by its PID on every way out as ``QEMU/run(_:_:log:timeout:markers:killOn:killDelay:)``'s
/// children are: ``stop()``, `deinit`, the process-wide registry on SIGINT/SIGTERM/crash/exit, and
/// PDEATHSIG through `setpriv` when present.
public final class ConsoleSession {
    public let logPath: String
    public let pid: pid_t
    private let slot: Int
    private var input: Int32
    private let inputIsSocket: Bool
    private var status: Int32?
    private let start = ContinuousClock.now
    /// Log offset from which ``wait(for:timeout:)`` searches (moved past each text found).
    public private(set) var cursor = 0

    /// Starts `executable arguments…`; `environment` entries are added to this process's. With
    /// `terminal`, standard input is the slave of a new pseudo-terminal (raw mode; a program sees an
    /// interactive user), else one end of a Unix socket pair.
    public init(_ executable: String, _ arguments: [String], log: String, environment: [String: String] = [:], terminal: Bool = false) throws {
        LiveChildren.installHandlers()
        guard let exe = executable.contains("/") ? executable : which(executable) else { throw QEMUError("\(executable) not found on PATH") }
        var argv = [exe] + arguments
        if let setpriv = which("setpriv") { argv = [setpriv, "--pdeathsig", "KILL", "--"] + argv }
        logPath = log
        let logFD = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard logFD >= 0 else { throw QEMUError("cannot create \(log): \(String(cString: strerror(errno)))") }
        defer { close(logFD) }
        let (writeEnd, readEnd) = try terminal ? Self.pseudoTerminal() : Self.socketEnds()
        defer { close(readEnd) }
        input = writeEnd
        inputIsSocket = !terminal
        var env = ProcessInfo.processInfo.environment
        for (k, v) in environment { env[k] = v }
        do {
            pid = try Self.spawn(argv, stdin: readEnd, output: logFD, environment: env)
        } catch {
            close(writeEnd)
            throw error
        }
        slot = LiveChildren.register(pid)
    }

    deinit { stop() }

    /// Seconds since the start.
    public var elapsed: Double { QEMU.seconds(ContinuousClock.now - start) }

    /// Everything the child wrote so far, carriage returns removed.
    public var log: String { QEMU.readLog(logPath) }

    /// Types `text` (a socket or terminal applies back-pressure: QEMU takes it as the guest's UART does).
    public func send(_ text: String) throws {
        var bytes = Array(text.utf8)
        var done = 0
        while done < bytes.count {
            // A socket end: a child that is gone gives EPIPE, not a SIGPIPE that ends the test process.
            let n = bytes.withUnsafeMutableBytes { b in
                inputIsSocket ? Glibc.send(input, b.baseAddress! + done, b.count - done, Int32(MSG_NOSIGNAL)) : write(input, b.baseAddress! + done, b.count - done)
            }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw QEMUError("writing to the console of \(pid): \(String(cString: strerror(errno)))") }
            done += n
        }
        bytes.removeAll()
    }

    /// Waits until `text` appears in the log past ``cursor`` (then moves the cursor past it), the
    /// child exits, or `timeout` passes. Returns whether it appeared.
    @discardableResult
    public func wait(for text: String, timeout: Duration) -> Bool {
        let deadline = ContinuousClock.now + timeout
        while true {
            let all = log
            let utf8 = Array(all.utf8)
            if cursor <= utf8.count, let r = String(decoding: utf8[cursor...], as: UTF8.self).range(of: text) {
                let tail = String(decoding: utf8[cursor...], as: UTF8.self)
                cursor += tail[..<r.upperBound].utf8.count
                return true
            }
            if hasExited || ContinuousClock.now > deadline { return false }
            Thread.sleep(forTimeInterval: 0.05)
        }
    }

    /// Types `key` every `interval` until `text` appears past the cursor (cursor moved past it), as a
    /// user holds a key to stop U-Boot's autoboot with bootdelay=0: a key typed before U-Boot sets up
    /// its UART is lost (QEMU 10's pl011 empties its receive FIFO then), so one early key is not enough.
    @discardableResult
    public func hold(_ key: String, every interval: Duration = .milliseconds(20), until text: String, timeout: Duration) -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline && !hasExited {
            if wait(for: text, timeout: .zero) { return true }
            guard (try? send(key)) != nil else { return false }
            Thread.sleep(forTimeInterval: QEMU.seconds(interval))
        }
        return wait(for: text, timeout: .zero)
    }

    /// Waits for any of `texts` past the cursor; returns the first found (cursor moved past it) or nil.
    public func wait(forAny texts: [String], timeout: Duration) -> String? {
        let deadline = ContinuousClock.now + timeout
        while true {
            let utf8 = Array(log.utf8)
            let tail = cursor <= utf8.count ? String(decoding: utf8[cursor...], as: UTF8.self) : ""
            let hits = texts.compactMap { t in tail.range(of: t).map { (t, $0) } }
            if let first = hits.min(by: { $0.1.lowerBound < $1.1.lowerBound }) {
                cursor += tail[..<first.1.upperBound].utf8.count
                return first.0
            }
            if hasExited || ContinuousClock.now > deadline { return nil }
            Thread.sleep(forTimeInterval: 0.05)
        }
    }

    /// Whether the child is gone (reaped).
    public var hasExited: Bool {
        if status != nil { return true }
        guard QEMU.hasExited(pid) else { return false }
        status = QEMU.reap(pid, slot: slot)
        return true
    }

    /// Waits up to `timeout` for the child to exit by itself; returns its exit code, nil when it has not
    /// exited (still running) or died by a signal.
    public func waitForExit(timeout: Duration) -> Int32? {
        let deadline = ContinuousClock.now + timeout
        while !hasExited && ContinuousClock.now < deadline { Thread.sleep(forTimeInterval: 0.05) }
        guard let st = status, st >= 0, st & 0x7F == 0 else { return nil }
        return (st >> 8) & 0xFF
    }

    /// Stops the child (SIGTERM, SIGKILL after 2 s) unless it is gone, and closes its input.
    public func stop() {
        if status == nil { status = QEMU.stop(pid, slot: slot) }
        if input >= 0 {
            close(input)
            input = -1
        }
        QEMU.keepLog(logPath)
    }

    /// The last `n` lines of the log, for failure messages.
    public func tail(_ n: Int = 40) -> String {
        log.split(separator: "\n", omittingEmptySubsequences: false).suffix(n).joined(separator: "\n")
    }

    /// A connected pair of Unix stream sockets: (the test's end, the child's stdin).
    static func socketEnds() throws -> (write: Int32, read: Int32) {
        var fds: [Int32] = [0, 0]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &fds) == 0 else {
            throw QEMUError("socketpair: \(String(cString: strerror(errno)))")
        }
        return (fds[0], fds[1])
    }

    /// A pseudo-terminal in raw mode: (master, slave). /dev/ptmx with the ioctls behind unlockpt and
    /// ptsname (Swift's Glibc module does not export posix_openpt).
    static func pseudoTerminal() throws -> (write: Int32, read: Int32) {
        let master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC)
        guard master >= 0 else { throw QEMUError("open /dev/ptmx: \(String(cString: strerror(errno)))") }
        var unlock: Int32 = 0
        var number: UInt32 = 0
        let tiocsptlck: UInt = 0x4004_5431, tiocgptn: UInt = 0x8004_5430
        guard ioctl(master, tiocsptlck, &unlock) == 0, ioctl(master, tiocgptn, &number) == 0 else {
            let e = String(cString: strerror(errno))
            close(master)
            throw QEMUError("/dev/ptmx: unlock or number: \(e)")
        }
        let name = "/dev/pts/\(number)"
        let slave = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC)
        guard slave >= 0 else {
            let e = String(cString: strerror(errno))
            close(master)
            throw QEMUError("open \(name): \(e)")
        }
        var t = termios()
        tcgetattr(slave, &t)
        cfmakeraw(&t)
        tcsetattr(slave, TCSANOW, &t)
        return (master, slave)
    }

    /// posix_spawn with `stdin`, stdout and stderr to `output`, a clean signal mask and dispositions.
    static func spawn(_ argv: [String], stdin: Int32, output: Int32, environment: [String: String]) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, stdin, 0)
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
        let env = environment.map { "\($0.key)=\($0.value)" }
        let cArgs: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
        let cEnv: [UnsafeMutablePointer<CChar>?] = env.map { strdup($0) } + [nil]
        defer {
            for p in cArgs { free(p) }
            for p in cEnv { free(p) }
        }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, argv[0], &actions, &attr, cArgs, cEnv)
        guard rc == 0 else { throw QEMUError("posix_spawn \(argv[0]): \(String(cString: strerror(rc)))") }
        return pid
    }
}

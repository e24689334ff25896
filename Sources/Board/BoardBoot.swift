import FlashsmithCore
#if canImport(Glibc)
import Glibc
#endif

/// `flashsmith boot OUTDIR`: starts QEMU on what `flashsmith build` wrote for a board with `qemu:`
/// (the command line in OUTDIR/qemu.args, one argument per line; drive file names relative to OUTDIR).
///
/// QEMU's output is copied to standard output as it comes (serial console: the user sees U-Boot
/// and the kernel come up); standard input is left to QEMU. The chip image is used with
/// `snapshot=on` unless `persist`: the guest's writes (saveenv) do not change the build's output.
/// QEMU is stopped by its PID on every way out (SIGTERM, then SIGKILL; the terminal restored): the
/// `until` text seen, the timeout, a closed stdout, SIGINT/SIGTERM/
/// SIGHUP to flashsmith; with `setpriv` (util-linux) present it also dies with flashsmith (PDEATHSIG).
public enum BoardBoot {
    public struct Failure: FlashsmithError, Equatable {
        public var message: String
        public var category: ErrorCategory
        public var description: String { message }
        public init(message: String, category: ErrorCategory) {
            self.message = message
            self.category = category
        }
    }

    public struct Result: Sendable {
        /// QEMU's exit status when it ended by itself.
        public var exitStatus: Int32?
        /// True when the `until` text appeared (QEMU was then stopped).
        public var reached: Bool
        public var seconds: Double
    }

    /// The command line: qemu.args, with `snapshot=on` on the pflash drive unless `persist`.
    public static func arguments(outputFolder: String, persist: Bool) throws -> [String] {
        let path = "\(outputFolder)/qemu.args"
        guard FileIO.kind(of: path) != .missing else {
            throw Failure(message: "\(path): missing (expected the QEMU command line that flashsmith build writes for a board with qemu:)", category: .usage)
        }
        var args = String(decoding: try FileIO.readAll(path), as: UTF8.self).split(separator: "\n").map(String.init)
        guard !args.isEmpty else { throw Failure(message: "\(path): empty (expected a QEMU command, one argument per line)", category: .data) }
        // File names in drive options are relative to the output folder.
        let folder = outputFolder.hasPrefix("/") ? outputFolder : BoardBootImages.absolute(outputFolder)
        for i in args.indices where args[i].hasPrefix("if=") {
            args[i] = args[i].split(separator: ",", omittingEmptySubsequences: false).map { o in
                // QEMU's option syntax doubles a comma inside a value.
                o.hasPrefix("file=") && !o.hasPrefix("file=/") ? "file=\(folder.replacing(",", with: ",,"))/\(o.dropFirst(5))" : String(o)
            }.joined(separator: ",")
            if !persist && args[i].hasPrefix("if=pflash,") { args[i] += ",snapshot=on" }
        }
        return args
    }

    nonisolated(unsafe) static var child: pid_t = 0
    /// The terminal's state before QEMU's stdio backend made it raw and non-blocking (QEMU puts it
    /// back only when it exits normally): restored on every way out, the signal handler included.
    nonisolated(unsafe) static var savedTerminal = termios()
    nonisolated(unsafe) static var savedFlags: Int32 = -1
    nonisolated(unsafe) static var haveTerminal = false

    static func restoreTerminal() {
        if haveTerminal { tcsetattr(0, TCSANOW, &savedTerminal) }
        if savedFlags >= 0 { _ = fcntl(0, F_SETFL, savedFlags) }
    }

    /// SIGTERM (QEMU exits cleanly and restores what it changed), SIGKILL after a second.
    static func stop(_ pid: pid_t, _ status: inout Int32) {
        kill(pid, SIGTERM)
        for _ in 0..<100 {
            let r = waitpid(pid, &status, WNOHANG)
            if r == pid || (r < 0 && errno != EINTR) { return }
            usleep(10_000)
        }
        kill(pid, SIGKILL)
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    }

    /// Runs the QEMU command of `outputFolder`; its output to `echo` (stdout) as it comes. A throwing
    /// `echo` (a closed stdout) ends the run.
    public static func run(outputFolder: String, persist: Bool, until: String?, timeout: Double?, echo: ([UInt8]) throws -> Void) throws -> Result {
        var argv = try arguments(outputFolder: outputFolder, persist: persist)
        guard let exe = ExternalTool.which(argv[0]) else {
            throw Failure(message: "\(argv[0]): not found on PATH (Debian: apt-get install qemu-system-arm)", category: .io)
        }
        argv[0] = exe
        if let setpriv = ExternalTool.which("setpriv") { argv = [setpriv, "--pdeathsig", "KILL", "--"] + argv }

        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { throw Failure(message: "pipe: \(FileIO.errnoText())", category: .io) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addclose(&actions, fds[0])
        posix_spawn_file_actions_adddup2(&actions, fds[1], 1)
        posix_spawn_file_actions_adddup2(&actions, fds[1], 2)
        posix_spawn_file_actions_addclose(&actions, fds[1])
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
        let cargs = argv.map { strdup($0) } + [nil]
        defer { for a in cargs { free(a) } }
        haveTerminal = isatty(0) == 1 && tcgetattr(0, &savedTerminal) == 0
        savedFlags = fcntl(0, F_GETFL)
        // SIGINT/SIGTERM/SIGHUP to flashsmith: QEMU goes first (installed before it starts, so no
        // signal finds it running without them). A closed stdout (`boot | head`) is a write error
        // that ends the run, not a death by SIGPIPE that would leave the terminal raw.
        signal(SIGPIPE, SIG_IGN)
        for s in [SIGINT, SIGTERM, SIGHUP] {
            signal(s) { sig in
                if BoardBoot.child > 0 { kill(BoardBoot.child, SIGKILL) }
                BoardBoot.restoreTerminal()
                signal(sig, SIG_DFL)
                raise(sig)
            }
        }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, argv[0], &actions, &attr, cargs, environ)
        close(fds[1])
        guard rc == 0 else {
            close(fds[0])
            throw Failure(message: "\(argv[0]): cannot start: \(String(cString: strerror(rc)))", category: .io)
        }
        child = pid
        var status: Int32 = 0
        var reaped = false
        defer {
            if !reaped { stop(pid, &status) }
            child = 0
            close(fds[0])
            restoreTerminal()
        }
        var clock = timespec()
        clock_gettime(CLOCK_MONOTONIC, &clock)
        let start = Double(clock.tv_sec) + Double(clock.tv_nsec) / 1e9
        func now() -> Double {
            var t = timespec()
            clock_gettime(CLOCK_MONOTONIC, &t)
            return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9 - start
        }
        let needle = until.map { Array($0.utf8) } ?? []
        var window: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            // The timeout holds however much the guest prints.
            if let timeout, now() >= timeout {
                throw Failure(message: "boot \(outputFolder): \(until.map { "no '\($0)' within" } ?? "QEMU still running after") \(Int(timeout)) s; QEMU stopped", category: .data)
            }
            var p = pollfd(fd: fds[0], events: Int16(POLLIN), revents: 0)
            let wait = timeout.map { Int32(max(0, min(1000, (($0 - now()) * 1000).rounded(.up)))) } ?? 1000
            let r = poll(&p, 1, wait)
            if r < 0 && errno != EINTR { throw Failure(message: "poll: \(FileIO.errnoText())", category: .io) }
            if r > 0 {
                let n = read(fds[0], &buffer, buffer.count)
                if n < 0 {
                    if errno == EINTR || errno == EAGAIN { continue }
                    throw Failure(message: "reading QEMU's output: \(FileIO.errnoText())", category: .io)
                }
                if n > 0 {
                    let chunk = Array(buffer[0..<n])
                    try echo(chunk)  // a closed stdout (boot | head) ends the run: QEMU is stopped on the way out
                    if !needle.isEmpty {
                        window += chunk
                        if window.firstRange(of: needle) != nil {
                            // Let the rest of the line arrive, then stop QEMU.
                            usleep(300_000)
                            var more = pollfd(fd: fds[0], events: Int16(POLLIN), revents: 0)
                            if poll(&more, 1, 0) > 0 {
                                let m = read(fds[0], &buffer, buffer.count)
                                if m > 0 { try echo(Array(buffer[0..<m])) }
                            }
                            return Result(exitStatus: nil, reached: true, seconds: now())
                        }
                        if window.count > needle.count * 4 + 65536 { window.removeFirst(window.count - needle.count) }
                    }
                    continue
                }
                // EOF: QEMU closed its output (it is exiting).
                while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
                reaped = true
                let code: Int32 = status & 0x7F == 0 ? (status >> 8) & 0xFF : 128 + (status & 0x7F)
                return Result(exitStatus: code, reached: false, seconds: now())
            }
        }
    }
}

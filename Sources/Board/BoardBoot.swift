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
/// QEMU is killed by its PID on every way out: the `until` text seen, the timeout, SIGINT/SIGTERM/
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
                o.hasPrefix("file=") && !o.hasPrefix("file=/") ? "file=\(folder)/\(o.dropFirst(5))" : String(o)
            }.joined(separator: ",")
            if !persist && args[i].hasPrefix("if=pflash,") { args[i] += ",snapshot=on" }
        }
        return args
    }

    nonisolated(unsafe) static var child: pid_t = 0

    /// Runs QEMU in `outputFolder`; output to `echo` (stdout) as it comes.
    public static func run(outputFolder: String, persist: Bool, until: String?, timeout: Double?, echo: @escaping ([UInt8]) -> Void) throws -> Result {
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
        posix_spawnattr_setsigdefault(&attr, &all)
        posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        let cargs = argv.map { strdup($0) } + [nil]
        defer { for a in cargs { free(a) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, argv[0], &actions, &attr, cargs, environ)
        close(fds[1])
        guard rc == 0 else {
            close(fds[0])
            throw Failure(message: "\(argv[0]): cannot start: \(String(cString: strerror(rc)))", category: .io)
        }
        child = pid
        // SIGINT/SIGTERM/SIGHUP to flashsmith: QEMU goes first.
        for s in [SIGINT, SIGTERM, SIGHUP] {
            signal(s) { sig in
                if BoardBoot.child > 0 { kill(BoardBoot.child, SIGKILL) }
                signal(sig, SIG_DFL)
                raise(sig)
            }
        }
        var status: Int32 = 0
        var reaped = false
        defer {
            if !reaped {
                kill(pid, SIGKILL)
                while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
            }
            child = 0
            close(fds[0])
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
            var p = pollfd(fd: fds[0], events: Int16(POLLIN), revents: 0)
            let wait = timeout.map { max(0, Int32((($0 - now()) * 1000).rounded(.up))) } ?? 1000
            let r = poll(&p, 1, min(wait, 1000))
            if r < 0 && errno != EINTR { throw Failure(message: "poll: \(FileIO.errnoText())", category: .io) }
            if r > 0 {
                let n = read(fds[0], &buffer, buffer.count)
                if n > 0 {
                    let chunk = Array(buffer[0..<n])
                    echo(chunk)
                    if !needle.isEmpty {
                        window += chunk
                        if contains(window, needle) {
                            // Let the rest of the line arrive, then stop QEMU.
                            usleep(300_000)
                            var more = pollfd(fd: fds[0], events: Int16(POLLIN), revents: 0)
                            if poll(&more, 1, 0) > 0 {
                                let m = read(fds[0], &buffer, buffer.count)
                                if m > 0 { echo(Array(buffer[0..<m])) }
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
            if let timeout, now() >= timeout {
                throw Failure(message: "boot \(outputFolder): \(until.map { "no '\($0)' within" } ?? "QEMU still running after") \(Int(timeout)) s; QEMU stopped", category: .data)
            }
        }
    }

    static func contains(_ hay: [UInt8], _ needle: [UInt8]) -> Bool {
        guard hay.count >= needle.count, let first = needle.first else { return false }
        var i = 0
        while i <= hay.count - needle.count {
            if hay[i] == first && hay[i..<(i + needle.count)].elementsEqual(needle) { return true }
            i += 1
        }
        return false
    }
}

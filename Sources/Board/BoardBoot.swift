import FlashsmithCore
import RootFS
import UBootEnv
#if canImport(Glibc)
import Glibc
#endif

/// `flashsmith boot OUTDIR`: starts QEMU on what `flashsmith build` wrote for a board with `qemu:`
/// (the command line in OUTDIR/qemu.args, one argument per line; drive file names relative to OUTDIR).
///
/// QEMU's output is copied to standard output as it comes (serial console: the user sees U-Boot
/// and the kernel come up); standard input is left to QEMU when it is a terminal, and held, then
/// forwarded, when it is not (BoardConsole.swift). The chip image is used with
/// `snapshot=on` unless `persist`: the guest's writes (saveenv, a disk's filesystems) do not change the build's output.
/// QEMU is stopped by its PID on every way out (SIGTERM, then SIGKILL; the terminal restored): the
/// `until` or a `--fail-on` text seen, the timeout, a closed stdout, SIGINT/SIGTERM/
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

    /// What `flashsmith boot` does besides starting QEMU.
    public struct Options: Sendable {
        /// The guest's flash writes reach the chip image (no snapshot=on).
        public var persist = false
        /// Boot through the environment's `netboot` from QEMU's TFTP (OUTDIR): QEMU's user network, and
        /// a private copy of the chip whose environment says `bootcmd=run netboot` with QEMU's addresses.
        public var net = false
        /// Boot through `nfsboot` as `net` does through netboot, with the NFS root (OUTDIR/nfsroot)
        /// served by NFS-Ganesha beside QEMU in a private namespace (``NFSServer``). Needs root.
        public var nfs = false
        /// Stop QEMU (success) once this text appears.
        public var until: String?
        /// Piped input is held until this text appears (else the `until` text), then forwarded.
        public var sendAfter: String?
        /// Stop QEMU (failure naming the text) once one of these appears.
        public var failOn: [String] = []
        /// Stop QEMU (``ErrorCategory/timeout``) after this many seconds.
        public var timeout: Double?
        public init(persist: Bool = false, net: Bool = false, until: String? = nil, sendAfter: String? = nil, failOn: [String] = [], timeout: Double? = nil, nfs: Bool = false) {
            self.nfs = nfs
            self.persist = persist
            self.net = net
            self.until = until
            self.sendAfter = sendAfter
            self.failOn = failOn
            self.timeout = timeout
        }
    }

    /// `-nic none`: no NIC for a board that boots from its flash.
    public static let noNetwork = ["-nic", "none"]

    /// QEMU's user network with its built-in TFTP serving `tftp` (a folder; relative in qemu.args, to
    /// OUTDIR): the guest is 10.0.2.15, QEMU's host side 10.0.2.2 (``BoardNetwork/qemuUser``).
    /// virtio-net with `romfile=` (no iPXE ROM needed: U-Boot has its own driver).
    public static func userNetwork(tftp: String) -> [String] {
        ["-netdev", "user,id=net0,tftp=\(tftp.replacing(",", with: ",,"))", "-device", "virtio-net-pci,netdev=net0,romfile="]
    }

    /// The command line: qemu.args, with `snapshot=on` on the pflash drive unless `persist`; relative
    /// file names (drives, the TFTP folder) made absolute from OUTDIR. `net`: QEMU's user network in
    /// place of `-nic none`; `chip`: another file for the pflash drive (the copy `--net` boots).
    public static func arguments(outputFolder: String, persist: Bool, net: Bool = false, chip: String? = nil) throws -> [String] {
        let path = "\(outputFolder)/qemu.args"
        guard FileIO.kind(of: path) != .missing else {
            throw Failure(message: "\(path): missing (expected the QEMU command line that flashsmith build writes for a board with qemu:)", category: .usage)
        }
        var args = String(decoding: try FileIO.readAll(path), as: UTF8.self).split(separator: "\n").map(String.init)
        guard !args.isEmpty else { throw Failure(message: "\(path): empty (expected a QEMU command, one argument per line)", category: .data) }
        // File names in drive options are relative to the output folder.
        let folder = outputFolder.hasPrefix("/") ? outputFolder : BoardBootImages.absolute(outputFolder)
        let quoted = folder.replacing(",", with: ",,")
        for i in args.indices where args[i].hasPrefix("if=") || args[i].hasPrefix("user,") {
            args[i] = args[i].split(separator: ",", omittingEmptySubsequences: false).map { o in
                // QEMU's option syntax doubles a comma inside a value.
                if o.hasPrefix("file="), args[i].hasPrefix("if=pflash,"), let chip { return "file=\(chip.replacing(",", with: ",,"))" }
                if o == "tftp=." { return "tftp=\(quoted)" }
                return (o.hasPrefix("file=") || o.hasPrefix("tftp=")) && !o.dropFirst(5).hasPrefix("/") ? "\(o.prefix(5))\(quoted)/\(o.dropFirst(5))" : String(o)
            }.joined(separator: ",")
            // The flash chip, and a disk board's disk (if=none, behind a virtio device).
            if !persist && (args[i].hasPrefix("if=pflash,") || args[i].hasPrefix("if=none,")) { args[i] += ",snapshot=on" }
        }
        if net, let i = args.firstIndex(of: "-nic"), i + 1 < args.count, args[i + 1] == "none" {
            args.replaceSubrange(i...(i + 1), with: userNetwork(tftp: folder))
        }
        return args
    }

    /// The chip image qemu.args names for its pflash drive (absolute), else nil.
    static func chipImage(_ args: [String]) -> String? {
        guard let drive = args.first(where: { $0.hasPrefix("if=pflash,") }) else { return nil }
        return drive.split(separator: ",").first { $0.hasPrefix("file=") }.map { String($0.dropFirst(5)) }
    }

    /// For `--net`: a copy of the chip image in `folder` whose environment boots through `netboot`
    /// from QEMU's user network (bootcmd=run netboot, QEMU's addresses), whatever the board's `boot:`.
    /// The environment is where OUTDIR/chip-fw_env.config says; the build's own chip is not touched.
    static func netbootChip(outputFolder: String, args: [String], folder: String, command: String = "netboot") throws -> String {
        guard let chip = chipImage(args) else {
            throw Failure(message: "\(outputFolder)/qemu.args: --net needs the board's chip as a pflash drive (qemu: pflash:), and there is none", category: .usage)
        }
        let configPath = "\(outputFolder)/chip-fw_env.config"
        guard FileIO.kind(of: configPath) != .missing else {
            throw Failure(message: "\(configPath): missing (--net changes the environment where it says; the board has no env: partition?)", category: .usage)
        }
        let copy = "\(folder)/\(Manifest.nameOf(chip))"
        try FileIO.copyRange(chip, offset: 0, count: try FileIO.size(of: chip), to: copy)
        var config = try FWEnvConfig.load(configPath)
        for i in config.locations.indices { config.locations[i].device = copy }
        let blob = try EnvBlob.read(config: config, hints: EnvLayoutHints())
        var env = try blob.activeImage()
        guard env.value(of: Array(command.utf8)) != nil else {
            throw Failure(message: "\(outputFolder): the environment has no \(command) (the board builds no fit: or uimage: to fetch, or OUTDIR was built before netboot existed: build again)", category: .data)
        }
        let q = BoardNetwork.qemuUser
        var set: [(String, String)] = [("bootcmd", "run \(command)")]
        if let s = q.server { set.append(("serverip", "\(s)")) }
        if case let .address(a) = q.client { set.append(("ipaddr", "\(a)")) }
        if let m = q.netmask { set.append(("netmask", "\(m)")) }
        if let g = q.gateway { set.append(("gatewayip", "\(g)")) }
        for (k, v) in set { env.set(Array(k.utf8), Array(v.utf8)) }
        try EnvStore.perform(try blob.writes(storing: env))
        return copy
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

    /// A fresh private folder for `--net`'s chip copy.
    static func scratchFolder() throws -> String {
        let base = getenv("TMPDIR").map { String(cString: $0) } ?? "/tmp"
        var template = Array("\(base)/flashsmith-boot.XXXXXX".utf8CString)
        guard let p = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw Failure(message: "\(base): cannot create a folder for the chip copy: \(FileIO.errnoText())", category: .cannotCreate)
        }
        return String(cString: p)
    }

    /// Runs the QEMU command of `outputFolder`; its output to `echo` (stdout) as it comes. A throwing
    /// `echo` (a closed stdout) ends the run.
    ///
    /// Standard input: a terminal is left to QEMU (the user types at U-Boot or the shell). Anything
    /// else (a pipe, a file) is held: U-Boot would take its first byte as an autoboot interrupt even
    /// with bootdelay=0. It is forwarded once `sendAfter` appears, or without it the `until` text,
    /// after which the run lasts until QEMU exits (end the input with poweroff) or the timeout. With
    /// `sendAfter`, `until` counts only after it.
    public static func run(outputFolder: String, options o: Options, echo: ([UInt8]) throws -> Void) throws -> Result {
        // Said before anything is read or copied: what serving the NFS root needs and this host lacks.
        if o.nfs, let m = NFSServer.missing() { throw Failure(message: "boot --nfs: \(m)", category: .unavailable) }
        if o.nfs && (o.net || o.persist) {
            throw Failure(message: "boot: --nfs boots a copy of the chip through nfsboot: give it without \(o.net ? "--net" : "--persist")", category: .usage)
        }
        if o.net && o.persist {
            throw Failure(message: "boot: --net boots a copy of the chip with its bootcmd changed, --persist keeps the guest's writes in the build's chip: give one of them", category: .usage)
        }
        var argv = try arguments(outputFolder: outputFolder, persist: o.persist, net: o.net || o.nfs)
        var scratch: String?
        defer { if let scratch { AtomicFolder.removeTree(scratch) } }
        if o.net || o.nfs {
            let folder = try scratchFolder()
            scratch = folder
            let chip = try netbootChip(outputFolder: outputFolder, args: argv, folder: folder, command: o.nfs ? "nfsboot" : "netboot")
            // A throwaway copy: written in place (no snapshot overlay needed).
            argv = try arguments(outputFolder: outputFolder, persist: true, net: true, chip: chip)
        }
        guard let exe = ExternalTool.which(argv[0]) else {
            throw Failure(message: "\(argv[0]): not found on PATH (Debian: apt-get install qemu-system-arm)", category: .io)
        }
        argv[0] = exe
        if o.nfs, let folder = scratch {
            // QEMU in a private namespace beside the NFS server: killing the one PID stops them all.
            let root = (outputFolder.hasPrefix("/") ? outputFolder : BoardBootImages.absolute(outputFolder)) + "/nfsroot"
            mkdir("\(folder)/nfs", 0o700)
            argv = try NFSServer.wrap(argv, export: root, pseudo: BoardNetwork.nfsRootPath, state: "\(folder)/nfs")
        }
        if let setpriv = ExternalTool.which("setpriv") { argv = [setpriv, "--pdeathsig", "KILL", "--"] + argv }
        let session = ConsoleSession(options: o, outputFolder: outputFolder, piped: isatty(0) != 1)
        return try spawnAndWatch(argv, session: session, echo: echo)
    }

    static func spawnAndWatch(_ argv: [String], session: ConsoleSession, echo: ([UInt8]) throws -> Void) throws -> Result {
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { throw Failure(message: "pipe: \(FileIO.errnoText())", category: .io) }
        // QEMU's standard input: flashsmith's own (a terminal), or a pipe flashsmith feeds (held input).
        var input: [Int32] = [-1, -1]
        if session.piped {
            guard pipe(&input) == 0 else {
                close(fds[0])
                close(fds[1])
                throw Failure(message: "pipe: \(FileIO.errnoText())", category: .io)
            }
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addclose(&actions, fds[0])
        posix_spawn_file_actions_adddup2(&actions, fds[1], 1)
        posix_spawn_file_actions_adddup2(&actions, fds[1], 2)
        posix_spawn_file_actions_addclose(&actions, fds[1])
        if session.piped {
            posix_spawn_file_actions_addclose(&actions, input[1])
            posix_spawn_file_actions_adddup2(&actions, input[0], 0)
            posix_spawn_file_actions_addclose(&actions, input[0])
        }
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
        if session.piped { close(input[0]) }
        guard rc == 0 else {
            close(fds[0])
            if session.piped { close(input[1]) }
            throw Failure(message: "\(argv[0]): cannot start: \(String(cString: strerror(rc)))", category: .io)
        }
        child = pid
        var status: Int32 = 0
        var reaped = false
        defer {
            if !reaped { stop(pid, &status) }
            child = 0
            close(fds[0])
            if session.piped { close(input[1]) }
            restoreTerminal()
        }
        if session.piped { _ = fcntl(input[1], F_SETFL, fcntl(input[1], F_GETFL) | O_NONBLOCK) }
        var buffer = [UInt8](repeating: 0, count: 65536)
        var session = session
        session.toQEMU = input[1]
        while true {
            // The timeout holds however much the guest prints.
            try session.checkTimeout()
            var polls = [pollfd(fd: fds[0], events: Int16(POLLIN), revents: 0)]
            if session.readsInput { polls.append(pollfd(fd: 0, events: Int16(POLLIN), revents: 0)) }
            if session.hasPending { polls.append(pollfd(fd: input[1], events: Int16(POLLOUT), revents: 0)) }
            let r = poll(&polls, nfds_t(polls.count), session.pollWait)
            if r < 0 && errno != EINTR { throw Failure(message: "poll: \(FileIO.errnoText())", category: .io) }
            guard r > 0 else { continue }
            for p in polls.dropFirst() where p.revents != 0 {
                if p.fd == 0 { try session.readInput(&buffer) } else { session.flush() }
            }
            guard polls[0].revents != 0 else { continue }
            let n = read(fds[0], &buffer, buffer.count)
            if n < 0 {
                if errno == EINTR || errno == EAGAIN { continue }
                throw Failure(message: "reading QEMU's output: \(FileIO.errnoText())", category: .io)
            }
            if n > 0 {
                let chunk = Array(buffer[0..<n])
                try echo(chunk)  // a closed stdout (boot | head) ends the run: QEMU is stopped on the way out
                if let end = try session.watch(chunk) {
                    // Let the rest of the line arrive, then stop QEMU.
                    usleep(300_000)
                    var more = pollfd(fd: fds[0], events: Int16(POLLIN), revents: 0)
                    if poll(&more, 1, 0) > 0 {
                        let m = read(fds[0], &buffer, buffer.count)
                        if m > 0 { try echo(Array(buffer[0..<m])) }
                    }
                    if let failure = end.failure { throw failure }
                    return Result(exitStatus: nil, reached: true, seconds: session.now())
                }
                continue
            }
            // EOF: QEMU closed its output (it is exiting).
            while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
            reaped = true
            let code: Int32 = status & 0x7F == 0 ? (status >> 8) & 0xFF : 128 + (status & 0x7F)
            return Result(exitStatus: code, reached: session.untilReached, seconds: session.now())
        }
    }
}

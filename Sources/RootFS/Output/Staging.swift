import Crypto
import FlashsmithCore
#if canImport(Glibc)
import Glibc
#endif

/// What the disk filesystem writers (ext4 through e2fsprogs, squashfs through squashfs-tools)
/// share: a scratch folder and a temporary image beside the output, both removed on every exit
/// path (the image renamed over the output only when complete), the peer tools found or named by
/// their Debian package, and the identifiers derived from the manifest.
final class DiskStaging {
    let destination: String
    /// The scratch folder (`.NAME.flashsmith-stage-XXXXXX` beside the output).
    let folder: String
    /// The image being written (`.NAME.flashsmith-XXXXXX` beside the output).
    let image: String
    private var committed = false

    init(destination: String) throws {
        self.destination = destination
        let slash = destination.lastIndex(of: "/")
        let dir = slash.map { String(destination[..<$0]) } ?? "."
        let base = slash.map { String(destination[destination.index(after: $0)...]) } ?? destination
        let parent = dir.isEmpty ? "/" : dir
        try AtomicFolder.makeFolders(parent)
        var template = Array("\(parent)/.\(base).flashsmith-stage-XXXXXX".utf8CString)
        guard template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) != nil else {
            throw FileError.cannotCreate(path: destination, reason: "cannot make a scratch folder beside it: \(FileIO.errnoText())")
        }
        folder = String(cString: template.map { UInt8(bitPattern: $0) })
        var imageTemplate = Array("\(parent)/.\(base).flashsmith-XXXXXX".utf8CString)
        let fd = imageTemplate.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else {
            let reason = FileIO.errnoText()
            AtomicFolder.removeTree(folder)
            throw FileError.cannotCreate(path: destination, reason: reason)
        }
        image = String(cString: imageTemplate.map { UInt8(bitPattern: $0) })
        // A new output gets 0644 less the umask; a replaced one keeps its permission bits.
        var st = stat()
        let mode: mode_t
        if stat(destination, &st) == 0 {
            mode = st.st_mode & 0o7777
        } else {
            let mask = umask(0)
            umask(mask)
            mode = 0o644 & ~mask
        }
        fchmod(fd, mode)
        close(fd)
    }

    /// Renames the finished image over the destination.
    func commit() throws {
        guard rename(image, destination) == 0 else {
            throw FileError.cannotCreate(path: destination, reason: FileIO.errnoText())
        }
        committed = true
    }

    deinit {
        AtomicFolder.removeTree(folder)
        if !committed { unlink(image) }
    }
}

enum DiskTool {
    /// `name` on PATH (or /usr/sbin, /sbin, where e2fsprogs lives), or an error naming the
    /// Debian package that provides it.
    static func require(_ name: String, package: String, for output: String) throws -> String {
        if let p = ExternalTool.which(name) { return p }
        for dir in ["/usr/sbin", "/sbin"] where access("\(dir)/\(name)", X_OK) == 0 { return "\(dir)/\(name)" }
        throw RootFSError(path: output, message: "\(name) not found: writing this format needs it (Debian package \(package); scripts/install-deps.sh installs it)", category: .unavailable)
    }

    /// Runs `executable` through `env` with `environment` set (a nil value removes the variable),
    /// its standard input a pipe that `input` writes (or /dev/null without one). The output and
    /// errors are captured as ``ExternalTool`` captures them.
    struct Output {
        var status: Int32
        var stdout: [UInt8]
        var stderr: [UInt8]
    }

    static func run(_ executable: String, _ arguments: [String], environment: [(String, String?)] = [], input: ((Int32) throws -> Void)? = nil) throws -> Output {
        var envArgs: [String] = []
        for (k, v) in environment {
            if let v { envArgs.append("\(k)=\(v)") } else { envArgs = ["-u", k] + envArgs }
        }
        let argv = envArgs + [executable] + arguments
        guard let input else {
            let out = try ExternalTool.run(unchecked: "env", argv)
            return Output(status: out.status, stdout: out.stdout, stderr: out.stderr)
        }
        return try runFeeding("env", argv, input: input)
    }

    /// ExternalTool's run with a pipe on standard input. SIGPIPE is ignored meanwhile: a tool that
    /// stops reading makes the writer fail with EPIPE, and its own message says why.
    private static func runFeeding(_ executable: String, _ arguments: [String], input: (Int32) throws -> Void) throws -> Output {
        func tempFile() throws -> (Int32, String) {
            var template = Array("/tmp/flashsmith-tool-XXXXXX".utf8CString)
            let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
            guard fd >= 0 else { throw FileError.cannotCreate(path: "/tmp/flashsmith-tool-*", reason: FileIO.errnoText()) }
            return (fd, String(cString: template.map { UInt8(bitPattern: $0) }))
        }
        let (outFD, outPath) = try tempFile()
        let (errFD, errPath) = try tempFile()
        defer {
            close(outFD)
            close(errFD)
            unlink(outPath)
            unlink(errPath)
        }
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else { throw FileError.cannotCreate(path: "pipe", reason: FileIO.errnoText()) }
        for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, fds[0], 0)
        posix_spawn_file_actions_adddup2(&actions, outFD, 1)
        posix_spawn_file_actions_adddup2(&actions, errFD, 2)
        let command = ([executable] + arguments).joined(separator: " ")
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { for a in argv { free(a) } }
        var pid: pid_t = 0
        let rc = posix_spawnp(&pid, executable, &actions, nil, argv, environ)
        close(fds[0])
        guard rc == 0 else {
            close(fds[1])
            throw ExternalToolError.cannotStart(command: command, reason: FileIO.errnoText(rc))
        }
        let previous = signal(SIGPIPE, SIG_IGN)
        var feedError: Error?
        do { try input(fds[1]) } catch { feedError = error }
        close(fds[1])
        signal(SIGPIPE, previous)
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            if errno != EINTR { break }
        }
        let exit: Int32 = (status & 0x7F) == 0 ? (status >> 8) & 0xFF : 128 + (status & 0x7F)
        let out = Output(status: exit, stdout: try FileIO.readAll(outPath), stderr: try diagnostics(errPath))
        // The tool's own failure explains a broken pipe better than the writer's EPIPE.
        if let feedError, exit == 0 { throw feedError }
        return out
    }

    static func diagnostics(_ path: String) throws -> [UInt8] {
        let size = try FileIO.size(of: path)
        let limit = ExternalTool.maxDiagnostics
        guard size > limit else { return try FileIO.read(path, offset: 0, count: size) }
        return try FileIO.read(path, offset: 0, count: limit / 2) + Array("\n…\n".utf8) + FileIO.read(path, offset: size - limit / 2, count: limit / 2)
    }

    /// The first lines of what a tool said, for a one-line error.
    static func said(_ out: Output) -> String {
        let text = String(decoding: out.stderr, as: UTF8.self) + String(decoding: out.stdout, as: UTF8.self)
        return text.split(separator: "\n").map { String($0).trimmingSpaces() }.filter { !$0.isEmpty }.prefix(3).joined(separator: " / ")
    }

    /// A digest of the manifest: every entry's metadata and content and SOURCE_DATE_EPOCH, so the
    /// same inputs give the same identifiers and different contents different ones.
    static func digest(_ m: Manifest) throws -> [UInt8] {
        var h = SHA256()
        withUnsafeBytes(of: m.sourceDateEpoch.littleEndian) { h.update(bufferPointer: $0) }
        for e in m.sorted() {
            var text = "\(e.path)\0\(e.kind.rawValue)\0\(e.mode)\0\(e.uid)\0\(e.gid)\0\(e.mtime)\0\(e.target)\0\(e.major)\0\(e.minor)\0\(e.size)\0"
            for k in e.xattrs.keys.sorted() { text += "\(k)=\(e.xattrs[k] ?? [])\0" }
            h.update(data: Array(text.utf8))
            if e.kind == .file { try ContentReader.stream(e) { h.update(bufferPointer: $0) } }
        }
        return Array(h.finalize())
    }

    /// A UUID (version 8, RFC 9562 variant) from a manifest's ``digest(_:)``, `label` (what it
    /// identifies) and `extra` (options that change the image).
    static func derivedUUID(_ digest: [UInt8], label: String, extra: [Int] = []) -> [UInt8] {
        var h = SHA256()
        h.update(data: digest + Array(label.utf8))
        for v in extra { withUnsafeBytes(of: Int64(v).littleEndian) { h.update(bufferPointer: $0) } }
        var u = Array(h.finalize().prefix(16))
        u[6] = u[6] & 0x0F | 0x80
        u[8] = u[8] & 0x3F | 0x80
        return u
    }

    /// Writes a small scratch file (a configuration, a script, an xattr value).
    static func writeFile(_ path: String, _ bytes: [UInt8]) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw FileError.cannotCreate(path: path, reason: FileIO.errnoText()) }
        defer { close(fd) }
        try bytes.withUnsafeBytes { try FileIO.writeAll(fd, $0, path: path) }
    }

    /// Writes an entry's content to a scratch file.
    static func writeContent(_ e: Manifest.Entry, to path: String) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw FileError.cannotCreate(path: path, reason: FileIO.errnoText()) }
        defer { close(fd) }
        var offset = 0
        try ContentReader.stream(e) { chunk in
            try FileIO.writeAll(fd, chunk, path: path, offset: offset)
            offset += chunk.count
        }
    }

    static func uuidString(_ u: [UInt8]) -> String {
        let hex = u.map { b in String(b, radix: 16).count == 1 ? "0" + String(b, radix: 16) : String(b, radix: 16) }.joined()
        let c = Array(hex)
        return [0..<8, 8..<12, 12..<16, 16..<20, 20..<32].map { String(c[$0]) }.joined(separator: "-")
    }
}

#if canImport(Glibc)
import Glibc
#endif

/// The one way Flashsmith runs another program (dtc, e2fsprogs, squashfs-tools, mtools…): spawned
/// with `posix_spawnp`, its standard output and error captured in temporary files (no pipes to
/// deadlock on; standard input /dev/null or a pipe the caller feeds), and a failure turned into an ``ExternalToolError`` that carries the command line
/// and what the program said.
public enum ExternalTool {
    public struct Output: Sendable {
        public var status: Int32
        public var stdout: [UInt8]
        public var stderr: [UInt8]
    }

    /// `name`'s path: itself when it has a slash, else the first executable match on PATH.
    public static func which(_ name: String) -> String? {
        if name.contains("/") { return access(name, X_OK) == 0 ? name : nil }
        let path = getenv("PATH").map { String(cString: $0) } ?? "/usr/local/bin:/usr/bin:/bin"
        for dir in path.split(separator: ":") where access("\(dir)/\(name)", X_OK) == 0 { return "\(dir)/\(name)" }
        return nil
    }

    /// Runs `executable` (looked up on PATH) with `arguments`; throws unless it exits 0.
    @discardableResult
    public static func run(_ executable: String, _ arguments: [String]) throws -> Output {
        let out = try run(unchecked: executable, arguments)
        guard out.status == 0 else {
            throw ExternalToolError.failed(command: ([executable] + arguments).joined(separator: " "), status: out.status,
                                           message: String(decoding: out.stderr, as: UTF8.self).trimmingSpaces())
        }
        return out
    }

    /// Runs and returns whatever the exit status was. Standard input is /dev/null, or with `input`
    /// a pipe that `input` writes (then closed). SIGPIPE is ignored while it writes: a program that
    /// stops reading makes the writer fail with EPIPE, and that error is thrown only when the
    /// program itself exited 0 (otherwise its own message says more).
    public static func run(unchecked executable: String, _ arguments: [String], input: ((Int32) throws -> Void)? = nil) throws -> Output {
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
        var pipeFDs: [Int32] = [-1, -1]
        if input != nil {
            guard pipe(&pipeFDs) == 0 else { throw FileError.cannotCreate(path: "pipe", reason: FileIO.errnoText()) }
            for fd in pipeFDs { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        if input != nil {
            posix_spawn_file_actions_adddup2(&actions, pipeFDs[0], 0)
        } else {
            posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        }
        posix_spawn_file_actions_adddup2(&actions, outFD, 1)
        posix_spawn_file_actions_adddup2(&actions, errFD, 2)
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { for a in argv { free(a) } }
        var pid: pid_t = 0
        let rc = posix_spawnp(&pid, executable, &actions, nil, argv, environ)
        if input != nil { close(pipeFDs[0]) }
        guard rc == 0 else {
            if input != nil { close(pipeFDs[1]) }
            throw ExternalToolError.cannotStart(command: ([executable] + arguments).joined(separator: " "), reason: FileIO.errnoText(rc))
        }
        var feedError: Error?
        if let input {
            let previous = signal(SIGPIPE, SIG_IGN)
            do { try input(pipeFDs[1]) } catch { feedError = error }
            close(pipeFDs[1])
            signal(SIGPIPE, previous)
        }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            if errno != EINTR { break }
        }
        let exit: Int32 = (status & 0x7F) == 0 ? (status >> 8) & 0xFF : 128 + (status & 0x7F)
        let out = Output(status: exit, stdout: try FileIO.readAll(outPath), stderr: try diagnostics(errPath))
        if let feedError, exit == 0 { throw feedError }
        return out
    }

    /// What a program says on standard error is kept up to this many bytes, its start and its end
    /// (errors name the first lines, mkfs.ubifs's the last): dtc reports each duplicate property
    /// once per pair, 150 MB for an 82 KB .its with a thousand duplicates (found by fuzzing).
    public static let maxDiagnostics = 64 << 10

    static func diagnostics(_ path: String) throws -> [UInt8] {
        let size = try FileIO.size(of: path)
        guard size > maxDiagnostics else { return try FileIO.read(path, offset: 0, count: size) }
        let half = maxDiagnostics / 2
        return try FileIO.read(path, offset: 0, count: half) + Array("\n…\n".utf8) + FileIO.read(path, offset: size - half, count: half)
    }
}

public enum ExternalToolError: FlashsmithError, Equatable {
    case cannotStart(command: String, reason: String)
    case failed(command: String, status: Int32, message: String)

    public var category: ErrorCategory {
        switch self {
        case .cannotStart: return .unavailable
        case .failed: return .data
        }
    }

    public var description: String {
        switch self {
        case let .cannotStart(command, reason): return "cannot run '\(command)': \(reason)"
        case let .failed(command, status, message):
            let first = message.split(separator: "\n").prefix(3).joined(separator: " / ")
            return "'\(command)' exited with status \(status): \(first)"
        }
    }
}

import FlashsmithCore
#if canImport(Glibc)
import Glibc
#endif

/// A folder whose regular files are served and nothing else: every name is resolved one component at
/// a time under a directory file descriptor (`openat` with `O_NOFOLLOW`), never by a path string, so
/// nothing outside the folder can be opened, races (a component swapped for a symlink) included.
///
/// - A leading `/` is stripped, as tftp-hpa's `-s` (chroot) does: `/fit.img` is the folder's fit.img.
/// - `..` in a requested name is refused outright.
/// - A symlink is followed only while its target stays inside the folder (relative targets that do not
///   climb above it); an absolute target, or one climbing out, is refused. At most 40 links per name.
/// - Only regular files are served: directories, devices, FIFOs and sockets are refused (checked with
///   `fstatat` before opening, opened `O_NONBLOCK|O_NOCTTY`, and checked again on the open file).
public final class ConfinedFolder: @unchecked Sendable {
    public let path: String
    let rootFD: Int32

    static let maxSymlinks = 40

    /// Why a name is refused: the TFTP error to send and a message.
    public struct Refusal: Error, Equatable, Sendable {
        public let code: TFTPErrorCode
        public let message: String
    }

    /// An open regular file and its size.
    public struct OpenFile: Sendable {
        public let fd: Int32
        public let size: Int
    }

    public init(_ path: String) throws(FileError) {
        let fd = Glibc.open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw FileError.cannotOpen(path: path, reason: errno == ENOTDIR ? "not a folder" : FileIO.errnoText()) }
        self.path = path
        rootFD = fd
    }

    deinit { close(rootFD) }

    /// Opens the regular file `name` (bytes as the client sent them) inside the folder.
    public func open(_ name: [UInt8]) -> Result<OpenFile, Refusal> {
        var pending = components(of: Array(name.drop { $0 == UInt8(ascii: "/") }))
        if pending.contains([UInt8(ascii: "."), UInt8(ascii: ".")]) { return .failure(Refusal(code: .accessViolation, message: "'..' is not allowed")) }
        if pending.isEmpty { return .failure(Refusal(code: .accessViolation, message: "not a file")) }
        var stack: [Int32] = []  // directory fds below the root, deepest last
        defer { for fd in stack { close(fd) } }
        var links = 0
        while !pending.isEmpty {
            let component = pending.removeFirst()
            let dir = stack.last ?? rootFD
            if component == [UInt8(ascii: ".")] { continue }
            if component == [UInt8(ascii: "."), UInt8(ascii: ".")] {
                // Only from a symlink's target: climbs our own stack, never opens "..".
                guard let top = stack.popLast() else { return .failure(Refusal(code: .accessViolation, message: "symlink leads out of the folder")) }
                close(top)
                continue
            }
            var st = stat()
            let c = component + [0]
            guard fstatat(dir, c.withUnsafeBufferPointer { UnsafeRawPointer($0.baseAddress!).assumingMemoryBound(to: CChar.self) }, &st, AT_SYMLINK_NOFOLLOW) == 0 else {
                return .failure(errno == ENOENT || errno == ENOTDIR ? Refusal(code: .fileNotFound, message: "file not found") : Refusal(code: .accessViolation, message: FileIO.errnoText()))
            }
            switch st.st_mode & S_IFMT {
            case S_IFLNK:
                links += 1
                guard links <= Self.maxSymlinks, let target = readLink(dir, c), target.first != UInt8(ascii: "/") else {
                    return .failure(Refusal(code: .accessViolation, message: "symlink leads out of the folder"))
                }
                pending = components(of: target) + pending
            case S_IFDIR where !pending.isEmpty:
                let fd = c.withUnsafeBufferPointer { openat(dir, UnsafeRawPointer($0.baseAddress!).assumingMemoryBound(to: CChar.self), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) }
                guard fd >= 0 else { return .failure(Refusal(code: .accessViolation, message: FileIO.errnoText())) }
                stack.append(fd)
            case S_IFREG where pending.isEmpty:
                return openRegular(dir, c)
            default:
                return .failure(Refusal(code: pending.isEmpty ? .accessViolation : .fileNotFound, message: pending.isEmpty ? "not a regular file" : "file not found"))
            }
        }
        return .failure(Refusal(code: .accessViolation, message: "not a regular file"))
    }

    /// Opens a name `fstatat` saw as a regular file, and checks the open file again (it may have been
    /// replaced in between; `O_NOFOLLOW` keeps a symlink out, `O_NONBLOCK` a FIFO from blocking).
    func openRegular(_ dir: Int32, _ c: [UInt8]) -> Result<OpenFile, Refusal> {
        let fd = c.withUnsafeBufferPointer {
            openat(dir, UnsafeRawPointer($0.baseAddress!).assumingMemoryBound(to: CChar.self), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC)
        }
        guard fd >= 0 else { return .failure(Refusal(code: .accessViolation, message: FileIO.errnoText())) }
        var st = stat()
        guard fstat(fd, &st) == 0, st.st_mode & S_IFMT == S_IFREG, let size = Int(exactly: st.st_size) else {
            close(fd)
            return .failure(Refusal(code: .accessViolation, message: "not a regular file"))
        }
        return .success(OpenFile(fd: fd, size: size))
    }

    func readLink(_ dir: Int32, _ c: [UInt8]) -> [UInt8]? {
        var buffer = [UInt8](repeating: 0, count: Int(PATH_MAX))
        let n = c.withUnsafeBufferPointer { name in
            buffer.withUnsafeMutableBufferPointer { b in
                readlinkat(dir, UnsafeRawPointer(name.baseAddress!).assumingMemoryBound(to: CChar.self), UnsafeMutableRawPointer(b.baseAddress!).assumingMemoryBound(to: CChar.self), b.count)
            }
        }
        guard n > 0, n < buffer.count else { return nil }
        return Array(buffer[..<n])
    }

    /// Path components, empty ones (`a//b`) dropped.
    func components(of name: [UInt8]) -> [[UInt8]] {
        name.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: true).map(Array.init)
    }
}

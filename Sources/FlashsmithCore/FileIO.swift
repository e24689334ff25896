#if canImport(Glibc)
import Glibc
#endif

/// What a path names, from `stat(2)`.
public enum FileKind: Sendable, Equatable {
    case regular(size: Int)
    case characterDevice
    case blockDevice
    case directory
    case other
    case missing

    public var name: String {
        switch self {
        case .regular: return "a regular file"
        case .characterDevice: return "a character device"
        case .blockDevice: return "a block device"
        case .directory: return "a directory"
        case .other: return "a special file"
        case .missing: return "nothing"
        }
    }
}

/// Small, Foundation-free file helpers over file descriptors. Every failure is a ``FileError`` that
/// names the path and the offset.
public enum FileIO {
    public static func errnoText(_ e: Int32 = errno) -> String { String(cString: strerror(e)) }

    public static func kind(of path: String) -> FileKind {
        var st = stat()
        guard stat(path, &st) == 0 else { return .missing }
        return kind(mode: st.st_mode, size: Int(st.st_size))
    }

    /// Size of a regular file or a device (`lseek(SEEK_END)`: a block device's or an MTD
    /// partition's size). Nothing is read, so devices are accepted; FIFOs and sockets are not.
    public static func size(of path: String) throws -> Int {
        let fd = try openForReading(path, devices: true)
        defer { close(fd) }
        let end = lseek(fd, 0, SEEK_END)
        guard end >= 0 else { throw FileError.readFailed(path: path, offset: 0, reason: errnoText()) }
        return Int(end)
    }

    /// Opens `path` for reading: a regular file, or (`devices`) a block or character device where
    /// one is intended (an env partition, an MTD device). Anything else — a FIFO, a socket, a
    /// folder, a device where a file is expected — is a ``FileError/notARegularFile(path:kind:)``:
    /// the open itself never blocks (O_NONBLOCK, cleared once the type is known), so a FIFO
    /// without a writer is refused instead of waiting forever.
    public static func openForReading(_ path: String, devices: Bool = false) throws -> Int32 {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY)
        guard fd >= 0 else { throw FileError.cannotOpen(path: path, reason: errnoText()) }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            let reason = errnoText()
            close(fd)
            throw FileError.cannotOpen(path: path, reason: reason)
        }
        let kind = Self.kind(mode: st.st_mode, size: Int(st.st_size))
        switch kind {
        case .regular: break
        case .blockDevice where devices, .characterDevice where devices: break
        default:
            close(fd)
            throw FileError.notARegularFile(path: path, kind: kind.name)
        }
        let flags = fcntl(fd, F_GETFL)
        if flags >= 0 { _ = fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) }
        return fd
    }

    static func kind(mode: mode_t, size: Int) -> FileKind {
        switch mode & S_IFMT {
        case S_IFREG: return .regular(size: size)
        case S_IFCHR: return .characterDevice
        case S_IFBLK: return .blockDevice
        case S_IFDIR: return .directory
        default: return .other
        }
    }

    /// The whole file (`-` is standard input, which may be a pipe). A regular file only, or a
    /// device when `devices` (a read to its end).
    public static func readAll(_ path: String, devices: Bool = false) throws -> [UInt8] {
        let fd: Int32 = path == "-" ? STDIN_FILENO : try openForReading(path, devices: devices)
        defer { if fd != STDIN_FILENO { close(fd) } }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw FileError.readFailed(path: path, offset: out.count, reason: errnoText())
            }
            if n == 0 { break }
            out.append(contentsOf: chunk[0..<n])
        }
        return out
    }

    /// Exactly `count` bytes at `offset` (negative offsets count from the end), or a ``FileError``.
    /// A bounded read, so devices are accepted (an env copy on a block or MTD device). The range is
    /// checked against the file's (or device's) size before anything is allocated: a size taken
    /// from a config or a header never allocates more than the file holds.
    public static func read(_ path: String, offset: Int, count: Int) throws -> [UInt8] {
        let fd = try openForReading(path, devices: true)
        defer { close(fd) }
        let end = Int(lseek(fd, 0, SEEK_END))
        var start = offset
        if offset < 0 {
            start = end + offset
            guard end >= 0, start >= 0 else { throw FileError.shortRead(path: path, offset: offset, expected: count, found: 0) }
        }
        guard count >= 0 else { throw FileError.shortRead(path: path, offset: start, expected: count, found: 0) }
        let (last, overflow) = start.addingReportingOverflow(count)
        // A size known (regular file, block or MTD device): the whole range must lie inside it.
        if end > 0, overflow || last > end {
            throw FileError.shortRead(path: path, offset: start, expected: count, found: max(0, end - start))
        }
        guard !overflow else { throw FileError.shortRead(path: path, offset: start, expected: count, found: 0) }
        // Size unknown (lseek says 0 on some character devices): the buffer grows with what is read.
        var out = [UInt8](repeating: 0, count: end > 0 ? count : min(count, 1 << 20))
        var done = 0
        while done < count {
            if done == out.count { out += [UInt8](repeating: 0, count: min(count - done, out.count)) }
            let n = out.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + done, $0.count - done, off_t(start + done)) }
            if n < 0 {
                if errno == EINTR { continue }
                throw FileError.readFailed(path: path, offset: start + done, reason: errnoText())
            }
            if n == 0 { throw FileError.shortRead(path: path, offset: start, expected: count, found: done) }
            done += n
        }
        return out
    }

    /// Writes all of `bytes` to `fd` at the current position.
    public static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, path: String, offset: Int = 0) throws {
        var done = 0
        while done < bytes.count {
            let n = Glibc.write(fd, bytes.baseAddress! + done, bytes.count - done)
            if n < 0 {
                if errno == EINTR { continue }
                throw FileError.writeFailed(path: path, offset: offset + done, reason: errnoText())
            }
            done += n
        }
    }

    /// Writes all of `bytes` at absolute `offset` of `fd` (negative: from the end).
    public static func pwriteAll(_ fd: Int32, _ bytes: [UInt8], at offset: Int, path: String) throws {
        var start = offset
        if offset < 0 { start = Int(lseek(fd, 0, SEEK_END)) + offset }
        var done = 0
        try bytes.withUnsafeBytes { (p: UnsafeRawBufferPointer) throws in
            while done < p.count {
                let n = pwrite(fd, p.baseAddress! + done, p.count - done, off_t(start + done))
                if n < 0 {
                    if errno == EINTR { continue }
                    throw FileError.writeFailed(path: path, offset: start + done, reason: errnoText())
                }
                done += n
            }
        }
    }

    /// Writes `bytes` to standard output.
    public static func writeStdout(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { (p: UnsafeRawBufferPointer) throws in try writeAll(STDOUT_FILENO, p, path: "<stdout>") }
    }
}

extension FileIO {
    /// Reads `count` bytes of `path` from `offset` in chunks of up to 1 MiB and hands each to `body`
    /// (the one streaming loop every reader here uses: memory does not grow with the file).
    /// A file that ends early is a ``FileError/shortRead(path:offset:expected:found:)``.
    public static func forEachChunk(_ path: String, offset: Int, count: Int, _ body: (UnsafeRawBufferPointer) throws -> Void) throws {
        let fd = try openForReading(path)
        defer { close(fd) }
        guard offset >= 0, count >= 0, !offset.addingReportingOverflow(count).overflow else {
            throw FileError.shortRead(path: path, offset: offset, expected: count, found: 0)
        }
        let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
        defer { chunk.deallocate() }
        var done = 0
        while done < count {
            let n = pread(fd, chunk.baseAddress, min(chunk.count, count - done), off_t(offset + done))
            if n < 0 {
                if errno == EINTR { continue }
                throw FileError.readFailed(path: path, offset: offset + done, reason: errnoText())
            }
            if n == 0 { throw FileError.shortRead(path: path, offset: offset, expected: count, found: done) }
            try body(UnsafeRawBufferPointer(rebasing: chunk[0..<n]))
            done += n
        }
    }

    /// Copies `count` bytes of `path` from `offset` to `output`, atomically.
    public static func copyRange(_ path: String, offset: Int, count: Int, to output: String) throws {
        var out = try AtomicFile(destination: output)
        try forEachChunk(path, offset: offset, count: count) { try out.write($0) }
        try out.commit()
    }
}

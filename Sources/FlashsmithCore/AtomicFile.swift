import CLinux
#if canImport(Glibc)
import Glibc
#endif

/// Writes an output so that the destination is either left as it was or replaced whole: the bytes
/// go to a temporary file in the same folder, which is fsync'ed and renamed over the destination,
/// and the folder is fsync'ed. A failure at any step removes the temporary file. Missing parent
/// folders are created (`-o out/board/x.img` on a fresh clone).
///
/// Replacing an existing file keeps its permission bits; a new file gets 0644 (less the umask).
/// Character and block devices cannot be renamed over: callers write those in place, explicitly.
public struct AtomicFile: ~Copyable {
    public let destination: String
    private let temporaryPath: String
    private var fd: Int32
    private var written = 0
    private var finished = false
    private let durable: Bool

    /// Creates the temporary file beside `destination`. `durable`: fsync the file before the rename
    /// and the folder after it (environments and other small outputs that must survive a power
    /// cut); build outputs of hundreds of MiB pass false: still all-or-nothing through the rename,
    /// without waiting for the disk (fsync of a 136 MB image costs more than writing it).
    public init(destination: String, durable: Bool = true) throws {
        self.destination = destination
        self.durable = durable
        let slash = destination.lastIndex(of: "/")
        let dir = slash.map { String(destination[..<$0]) } ?? "."
        let base = slash.map { String(destination[destination.index(after: $0)...]) } ?? destination
        try AtomicFolder.makeFolders(dir)
        var template = Array("\(dir.isEmpty ? "/" : dir)/.\(base).flashsmith-XXXXXX".utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else { throw FileError.cannotCreate(path: destination, reason: FileIO.errnoText()) }
        self.fd = fd
        self.temporaryPath = String(cString: template.map { UInt8(bitPattern: $0) })
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
    }

    /// The temporary file's path, for programs that write the output themselves (mke2fs,
    /// mksquashfs): what they write there is committed or abandoned with the rest.
    public var temporaryFile: String { temporaryPath }

    /// The temporary file's descriptor, for writers that write to a descriptor themselves (libarchive).
    /// Whatever they write is committed or abandoned with the rest.
    public var descriptor: Int32 { fd }

    /// Appends `bytes` to the temporary file.
    public mutating func write(_ bytes: UnsafeRawBufferPointer) throws {
        do {
            try FileIO.writeAll(fd, bytes, path: temporaryPath, offset: written)
        } catch {
            abandon()
            throw FileError.writeFailed(path: destination, offset: written, reason: "\(error)")
        }
        written += bytes.count
    }

    public mutating func write(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { (p: UnsafeRawBufferPointer) throws in try write(p) }
    }

    /// Appends the buffers `vectors` points at, in order (writev, resumed after a partial write).
    /// The memory must stay valid for the call.
    public mutating func write(vectors: [iovec]) throws {
        var iov = vectors
        var first = 0
        while first < iov.count {
            let n = iov[first...].withUnsafeBufferPointer { writev(fd, $0.baseAddress!, Int32(min($0.count, 1024))) }
            if n < 0 {
                if errno == EINTR { continue }
                let reason = FileIO.errnoText()
                abandon()
                throw FileError.writeFailed(path: destination, offset: written, reason: reason)
            }
            written += n
            var left = n
            while first < iov.count && left >= iov[first].iov_len {
                left -= iov[first].iov_len
                first += 1
            }
            if left > 0 {
                iov[first].iov_base = iov[first].iov_base! + left
                iov[first].iov_len -= left
            }
        }
    }

    /// Bytes written so far (the temporary file's size).
    public var size: Int { written }

    /// Overwrites bytes already written, at `offset` (back-patching a header once the data's CRC is
    /// known); the range must lie inside what was written.
    public mutating func overwrite(_ bytes: [UInt8], at offset: Int) throws {
        precondition(offset >= 0 && offset + bytes.count <= written, "overwrite outside the written range")
        do {
            try FileIO.pwriteAll(fd, bytes, at: offset, path: temporaryPath)
        } catch {
            abandon()
            throw FileError.writeFailed(path: destination, offset: offset, reason: "\(error)")
        }
    }

    /// fsync (when durable), rename over the destination, fsync the folder (when durable).
    public consuming func commit() throws {
        guard !durable || fsync(fd) == 0 else {
            let reason = FileIO.errnoText()
            abandon()
            throw FileError.writeFailed(path: destination, offset: written, reason: "fsync: \(reason)")
        }
        close(fd)
        fd = -1
        // Not durable (large build outputs): swap the names, then drop the old file. A plain rename
        // over an existing file makes ext4 (auto_da_alloc) start writing the new file back inside
        // rename, which is the durability this output has chosen not to pay for; the swap is just
        // as atomic for readers. Only a regular file is swapped with; otherwise (or without renameat2), rename.
        var st = stat()
        if !durable, lstat(destination, &st) == 0, st.st_mode & S_IFMT == S_IFREG, flashsmith_rename_exchange(temporaryPath, destination) == 0 {
            unlink(temporaryPath)
            finished = true
            return
        }
        guard rename(temporaryPath, destination) == 0 else {
            let reason = FileIO.errnoText()
            unlink(temporaryPath)
            finished = true
            throw FileError.cannotCreate(path: destination, reason: "rename: \(reason)")
        }
        finished = true
        guard durable else { return }
        let slash = destination.lastIndex(of: "/")
        let dir = slash.map { String(destination[..<$0]) } ?? "."
        let dfd = open(dir.isEmpty ? "/" : dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dfd >= 0 {
            fsync(dfd)
            close(dfd)
        }
    }

    private mutating func abandon() {
        guard !finished else { return }
        if fd >= 0 { close(fd) }
        fd = -1
        unlink(temporaryPath)
        finished = true
    }

    deinit {
        if !finished {
            if fd >= 0 { close(fd) }
            unlink(temporaryPath)
        }
    }

    /// Writes `bytes` to `path` atomically in one call.
    public static func write(_ bytes: [UInt8], to path: String) throws {
        var f = try AtomicFile(destination: path)
        try f.write(bytes)
        try f.commit()
    }

    /// Replaces `path` with a copy of itself in which each `(offset, bytes)` patch is applied; the
    /// copy is streamed in 1 MiB chunks, so memory does not grow with the file.
    public static func patch(_ path: String, patches: [(offset: Int, bytes: [UInt8])]) throws {
        let fileSize = try FileIO.size(of: path)
        let resolved = patches.map { (offset: $0.offset < 0 ? fileSize + $0.offset : $0.offset, bytes: $0.bytes) }
        for p in resolved where p.offset < 0 || p.offset + p.bytes.count > fileSize {
            throw FileError.shortRead(path: path, offset: p.offset, expected: p.bytes.count, found: max(0, fileSize - p.offset))
        }
        let src = try FileIO.openForReading(path)
        defer { Glibc.close(src) }
        var out = try AtomicFile(destination: path)
        let chunkSize = 1 << 20
        var chunk = [UInt8](repeating: 0, count: chunkSize)
        var pos = 0
        while pos < fileSize {
            let want = min(chunkSize, fileSize - pos)
            let n = chunk.withUnsafeMutableBytes { pread(src, $0.baseAddress, want, off_t(pos)) }
            if n <= 0 { throw n == 0 ? FileError.shortRead(path: path, offset: pos, expected: want, found: 0) : FileError.readFailed(path: path, offset: pos, reason: FileIO.errnoText()) }
            for p in resolved where p.offset < pos + n && p.offset + p.bytes.count > pos {
                let lo = max(p.offset, pos), hi = min(p.offset + p.bytes.count, pos + n)
                for i in lo..<hi { chunk[i - pos] = p.bytes[i - p.offset] }
            }
            try chunk.withUnsafeBytes { (b: UnsafeRawBufferPointer) throws in try out.write(UnsafeRawBufferPointer(rebasing: b[0..<n])) }
            pos += n
        }
        try out.commit()
    }
}

import CArchive
import FlashsmithCore
#if canImport(Glibc)
import Glibc
#endif

/// Reads any archive libarchive knows (tar in every dialect, cpio in every dialect, mtree, …) under
/// any of its compressions, member by member, streaming the data.
///
/// mtree files are read as records only: their members' data would come from files named relative
/// to the current folder, so it is never read (and `checkfs` stays off).
public final class ArchiveReader {
    let archive: OpaquePointer
    public let path: String
    /// The archive file, opened by FileIO (a regular file only: a FIFO is refused, never waited on).
    let fd: Int32
    var count = 0
    var closed = false

    public init(path: String) throws {
        let fd = try FileIO.openForReading(path)
        guard let a = archive_read_new() else {
            close(fd)
            throw ArchiveFailure(path: path, message: "libarchive: out of memory", category: .io)
        }
        archive = a
        self.fd = fd
        self.path = path
        archive_read_support_filter_all(a)
        archive_read_support_format_tar(a)
        archive_read_support_format_gnutar(a)
        archive_read_support_format_cpio(a)
        archive_read_support_format_mtree(a)
        guard archive_read_open_fd(a, fd, 1 << 16) == ARCHIVE_OK else {
            let m = libarchiveError(a)
            archive_read_free(a)
            close(fd)
            closed = true
            throw ArchiveFailure(path: path, message: "expected a tar, cpio or mtree archive: \(m)")
        }
    }

    deinit {
        if !closed {
            archive_read_free(archive)
            close(fd)
        }
    }

    /// The format of the archive as libarchive names it (`POSIX pax interchange format`, `SVR4 cpio
    /// with no CRC`, …), known after the first `next()`.
    public var formatName: String { archive_format_name(archive).map { String(cString: $0) } ?? "unknown" }
    /// The outermost compression (`gzip`, `xz`, `zstd`, `lz4`, `bzip2`) or `none`.
    public var compressionName: String {
        let n = archive_filter_count(archive)
        guard n > 1 else { return "none" }
        return archive_filter_name(archive, 0).map { String(cString: $0) } ?? "unknown"
    }
    /// libarchive's format code (ARCHIVE_FORMAT_*), masked to the family.
    public var formatFamily: Int32 { archive_format(archive) & ARCHIVE_FORMAT_BASE_MASK }
    public static let familyTar = ARCHIVE_FORMAT_TAR
    public static let familyCpio = ARCHIVE_FORMAT_CPIO
    public static let familyMtree = ARCHIVE_FORMAT_MTREE

    /// The next member, or nil at the end.
    public func next() throws -> ArchiveMember? {
        var entry: OpaquePointer?
        let rc = archive_read_next_header(archive, &entry)
        if rc == ARCHIVE_EOF { return nil }
        guard rc == ARCHIVE_OK || rc == ARCHIVE_WARN, let e = entry else {
            throw ArchiveFailure(path: path, message: "entry \(count + 1): \(libarchiveError(archive))")
        }
        count += 1
        let hardlink = archive_entry_hardlink(e).map { String(cString: $0) }
        let entryName = archive_entry_pathname(e).map { String(cString: $0) } ?? ""
        // Numbers from the headers (octal, GNU base-256, pax decimal) can be anything up to 2^64:
        // each is checked against what it stands for, and a value beyond it names the entry.
        func number<T: FixedWidthInteger>(_ v: some BinaryInteger, _ field: String, max: T) throws -> T {
            guard let x = T(exactly: v), x >= 0, x <= max else {
                throw ArchiveFailure(path: path, message: "entry \(count) '\(entryName)': \(field) \(v): expected 0…\(max)")
            }
            return x
        }
        var m = ArchiveMember(
            path: entryName,
            kind: ArchiveMember.kind(fileType: UInt32(archive_entry_filetype(e)), hardlink: hardlink != nil),
            mode: UInt32(archive_entry_perm(e)) & 0o7777,
            uid: try number(archive_entry_uid(e), "uid", max: UInt32.max),
            gid: try number(archive_entry_gid(e), "gid", max: UInt32.max),
            mtime: Int64(archive_entry_mtime(e)),
            size: try number(archive_entry_size(e), "size", max: Int.max),
            inode: Int64(archive_entry_ino64(e)),
            links: UInt32(archive_entry_nlink(e))
        )
        if let hardlink { m.link = hardlink }
        if m.kind == .symlink { m.link = archive_entry_symlink(e).map { String(cString: $0) } ?? "" }
        if m.kind == .charDevice || m.kind == .blockDevice {
            // Linux's dev_t carries 12 bits of major and 20 of minor.
            m.deviceMajor = try number(archive_entry_rdevmajor(e), "device major", max: ArchiveMember.maxDeviceMajor)
            m.deviceMinor = try number(archive_entry_rdevminor(e), "device minor", max: ArchiveMember.maxDeviceMinor)
        }
        var name: UnsafePointer<CChar>?
        var value: UnsafeRawPointer?
        var size = 0
        archive_entry_xattr_reset(e)
        while archive_entry_xattr_next(e, &name, &value, &size) == ARCHIVE_OK {
            guard let name else { continue }
            let bytes = value.map { Array(UnsafeRawBufferPointer(start: $0, count: size)) } ?? []
            m.xattrs.append(ArchiveMember.Xattr(name: String(cString: name), value: bytes))
        }
        m.xattrs.sort { $0.name < $1.name }
        return m
    }

    /// Streams the current member's data to `body`.
    public func readData(_ body: (UnsafeRawBufferPointer) throws -> Void) throws {
        var block: UnsafeRawPointer?
        var size = 0
        var offset: la_int64_t = 0
        while true {
            let rc = archive_read_data_block(archive, &block, &size, &offset)
            if rc == ARCHIVE_EOF { return }
            guard rc == ARCHIVE_OK || rc == ARCHIVE_WARN else {
                throw ArchiveFailure(path: path, message: "entry \(count) data: \(libarchiveError(archive))")
            }
            if let block, size > 0 { try body(UnsafeRawBufferPointer(start: block, count: size)) }
        }
    }
}

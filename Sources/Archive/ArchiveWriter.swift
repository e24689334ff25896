import CArchive
import FlashsmithCore
#if canImport(Glibc)
import Glibc
#endif

/// The archive formats a root filesystem is written as, through libarchive:
/// - `tar`: POSIX pax, restricted (a plain ustar header unless a name, a size or xattrs need a pax
///   extended header); numeric owners only (no user/group names, which an extracting host would map
///   through its own passwd);
/// - `cpio`: SVR4 "newc" (`070701`), what the kernel unpacks as an initramfs (no xattrs: the format
///   has no place for them);
/// - `mtree`: BSD mtree text (type, mode, uid, gid, size, link, device, time, sha256), the record of
///   a folder's truth that `bsdtar` can turn into an archive (`bsdtar -cf out.tar @DIR.mtree`).
public enum ArchiveFormat: String, Sendable, CaseIterable {
    case tar, cpio, mtree
}

/// Compression filters (libarchive's), with the file-name suffixes that select them.
public enum ArchiveCompression: String, Sendable, CaseIterable {
    case none, gzip, xz, zstd, lz4, bzip2

    public var suffixes: [String] {
        switch self {
        case .none: return []
        case .gzip: return [".gz", ".tgz"]
        case .xz: return [".xz", ".txz"]
        case .zstd: return [".zst", ".tzst"]
        case .lz4: return [".lz4"]
        case .bzip2: return [".bz2", ".tbz2"]
        }
    }
}

/// Streams members into an archive written to a descriptor. Usage: `begin(member)`, then the
/// member's `size` bytes through `write`, for each member; `finish()` flushes the last block.
/// gzip is written on every core in independent blocks (``ParallelGzip``, as pigz), xz
/// single-threaded: the bytes depend on the input (and level) only.
public final class ArchiveWriter {
    let archive: OpaquePointer
    let path: String
    var current = ""
    var finished = false
    /// gzip on every core (see ``ParallelGzip``), fed by libarchive's write callback.
    var gzip: ParallelGzip?
    var box: Unmanaged<ParallelGzip>?

    /// `level`: the compression level (gzip 1–9, xz 0–9, zstd 1–19, lz4 1–9); nil for each
    /// filter's default (gzip 6).
    public init(descriptor: Int32, path: String, format: ArchiveFormat, compression: ArchiveCompression, level: Int? = nil) throws {
        guard let a = archive_write_new() else { throw ArchiveFailure(path: path, message: "libarchive: out of memory", category: .io) }
        archive = a
        self.path = path
        do {
            if compression == .gzip {
                try configure(format: format, compression: .none, level: nil)
                let gz = try ParallelGzip(descriptor: descriptor, path: path, level: level ?? 6)
                gzip = gz
                let box = Unmanaged.passRetained(gz)
                self.box = box
                let write: @convention(c) (OpaquePointer?, UnsafeMutableRawPointer?, UnsafeRawPointer?, Int) -> la_ssize_t = { _, client, buffer, length in
                    guard let client else { return -1 }
                    let gz = Unmanaged<ParallelGzip>.fromOpaque(client).takeUnretainedValue()
                    do {
                        try gz.write(UnsafeRawBufferPointer(start: buffer, count: length))
                        return la_ssize_t(length)
                    } catch {
                        gz.failure = error
                        return -1
                    }
                }
                try check(archive_write_open2(a, box.toOpaque(), nil, write, nil, nil), "open")
            } else {
                try configure(format: format, compression: compression, level: level)
                try check(archive_write_open_fd(a, descriptor), "open")
            }
        } catch {
            archive_write_free(a)
            finished = true
            throw error
        }
    }

    deinit {
        if !finished { archive_write_free(archive) }
        box?.release()
    }

    func check(_ rc: Int32, _ what: String) throws {
        if let f = gzip?.failure { throw f }
        guard rc == ARCHIVE_OK || rc == ARCHIVE_WARN else {
            throw ArchiveFailure(path: path, message: "\(what)\(current.isEmpty ? "" : " (\(current))"): \(libarchiveError(archive))", category: .io)
        }
    }

    func configure(format: ArchiveFormat, compression: ArchiveCompression, level: Int?) throws {
        let a = archive
        switch format {
        case .tar:
            try check(archive_write_set_format_pax_restricted(a), "tar format")
            // Written in 256 KiB blocks; the last one not padded (as bsdtar writes a regular file).
            try check(archive_write_set_bytes_per_block(a, 256 << 10), "block size")
            try check(archive_write_set_bytes_in_last_block(a, 1), "last block")
        case .cpio:
            try check(archive_write_set_format_cpio_newc(a), "cpio newc format")
            // Written in 256 KiB blocks; the last one not padded (as bsdcpio writes a regular file).
            try check(archive_write_set_bytes_per_block(a, 256 << 10), "block size")
            try check(archive_write_set_bytes_in_last_block(a, 1), "last block")
        case .mtree:
            try check(archive_write_set_format_mtree(a), "mtree format")
            try check(archive_write_set_bytes_per_block(a, 64 << 10), "block size")
            try check(archive_write_set_bytes_in_last_block(a, 1), "last block")
            try check(archive_write_set_format_option(a, "mtree", "uname", nil), "mtree options")
            try check(archive_write_set_format_option(a, "mtree", "gname", nil), "mtree options")
            try check(archive_write_set_format_option(a, "mtree", "flags", nil), "mtree options")
            try check(archive_write_set_format_option(a, "mtree", "nlink", nil), "mtree options")
            try check(archive_write_set_format_option(a, "mtree", "sha256", "1"), "mtree options")
        }
        let levelText = level.map { String($0) }
        switch compression {
        case .none: break
        case .gzip:
            try check(archive_write_add_filter_gzip(a), "gzip")
            try check(archive_write_set_filter_option(a, "gzip", "timestamp", nil), "gzip:!timestamp")
            if let levelText { try check(archive_write_set_filter_option(a, "gzip", "compression-level", levelText), "gzip level") }
        case .xz:
            try check(archive_write_add_filter_xz(a), "xz")
            try check(archive_write_set_filter_option(a, "xz", "threads", "1"), "xz threads")
            if let levelText { try check(archive_write_set_filter_option(a, "xz", "compression-level", levelText), "xz level") }
        case .zstd:
            try check(archive_write_add_filter_zstd(a), "zstd")
            if let levelText { try check(archive_write_set_filter_option(a, "zstd", "compression-level", levelText), "zstd level") }
        case .lz4:
            try check(archive_write_add_filter_lz4(a), "lz4")
            if let levelText { try check(archive_write_set_filter_option(a, "lz4", "compression-level", levelText), "lz4 level") }
        case .bzip2:
            try check(archive_write_add_filter_bzip2(a), "bzip2")
            if let levelText { try check(archive_write_set_filter_option(a, "bzip2", "compression-level", levelText), "bzip2 level") }
        }
    }

    /// Writes a member's header.
    public func begin(_ m: ArchiveMember) throws {
        guard let e = archive_entry_new() else { throw ArchiveFailure(path: path, message: "libarchive: out of memory", category: .io) }
        defer { archive_entry_free(e) }
        current = m.path
        archive_entry_set_pathname(e, m.path)
        archive_entry_set_filetype(e, m.fileType)
        archive_entry_set_perm(e, mode_t(m.mode & 0o7777))
        archive_entry_set_uid(e, la_int64_t(m.uid))
        archive_entry_set_gid(e, la_int64_t(m.gid))
        archive_entry_set_mtime(e, time_t(m.mtime), 0)
        archive_entry_set_ino64(e, la_int64_t(m.inode))
        archive_entry_set_nlink(e, UInt32(m.links))
        archive_entry_set_dev(e, 0)
        switch m.kind {
        case .symlink:
            archive_entry_set_symlink(e, m.link)
        case .hardlink:
            archive_entry_set_hardlink(e, m.link)
        case .charDevice, .blockDevice:
            archive_entry_set_rdevmajor(e, dev_t(m.deviceMajor))
            archive_entry_set_rdevminor(e, dev_t(m.deviceMinor))
        default: break
        }
        archive_entry_set_size(e, la_int64_t(m.size))
        for x in m.xattrs {
            x.value.withUnsafeBytes { archive_entry_xattr_add_entry(e, x.name, $0.baseAddress, $0.count) }
        }
        try check(archive_write_header(archive, e), "header")
    }

    /// Writes member data (the sizes must add up to the member's `size`).
    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        guard !bytes.isEmpty else { return }
        let n = archive_write_data(archive, bytes.baseAddress, bytes.count)
        guard n == bytes.count else {
            if let f = gzip?.failure { throw f }
            throw ArchiveFailure(path: path, message: "data (\(current)): \(n < 0 ? libarchiveError(archive) : "short write")", category: .io)
        }
    }

    public func write(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try write($0) }
    }

    /// Closes the archive (pads the last block, ends the compressed stream).
    public func finish() throws {
        current = ""
        try check(archive_write_close(archive), "close")
        archive_write_free(archive)
        finished = true
        try gzip?.finish()
    }
}

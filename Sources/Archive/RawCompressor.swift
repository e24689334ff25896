import CArchive
import FlashsmithCore
#if canImport(Glibc)
import Glibc
#endif

/// Compresses a file with one of libarchive's write filters over its "raw" format (no archive
/// around the data): the stream formats U-Boot's decompressors read (gzip, bzip2, lzma-alone, LZ4
/// frame, zstd). Streams in 1 MiB chunks; gzip is written without a timestamp, so the bytes depend
/// on the input only.
public enum RawCompressor {
    public enum Algorithm: String, Sendable, CaseIterable {
        case gzip, bzip2, lzma, lz4, zstd
    }

    public struct Failure: FlashsmithError, Equatable {
        public var operation: String
        public var message: String
        public var category: ErrorCategory { .io }
        public var description: String { "libarchive \(operation): \(message)" }
    }

    /// Writes `input` compressed with `algorithm` to `output` (a scratch file of the caller's: it is
    /// written in place).
    public static func compress(_ input: String, algorithm: Algorithm, output: String) throws {
        guard let a = archive_write_new() else { throw Failure(operation: "archive_write_new", message: "out of memory") }
        defer { archive_write_free(a) }
        func check(_ rc: Int32, _ op: String) throws {
            guard rc == ARCHIVE_OK || rc == ARCHIVE_WARN else {
                throw Failure(operation: op, message: archive_error_string(a).map { String(cString: $0) } ?? "error \(rc)")
            }
        }
        try check(archive_write_set_format_raw(a), "archive_write_set_format_raw")
        switch algorithm {
        case .gzip:
            try check(archive_write_add_filter_gzip(a), "archive_write_add_filter_gzip")
            try check(archive_write_set_filter_option(a, "gzip", "timestamp", nil), "gzip:!timestamp")
            try check(archive_write_set_filter_option(a, "gzip", "compression-level", "9"), "gzip:compression-level")
        case .bzip2: try check(archive_write_add_filter_bzip2(a), "archive_write_add_filter_bzip2")
        case .lzma: try check(archive_write_add_filter_lzma(a), "archive_write_add_filter_lzma")
        case .lz4: try check(archive_write_add_filter_lz4(a), "archive_write_add_filter_lz4")
        case .zstd: try check(archive_write_add_filter_zstd(a), "archive_write_add_filter_zstd")
        }
        try check(archive_write_open_filename(a, output), "archive_write_open_filename \(output)")
        guard let e = archive_entry_new() else { throw Failure(operation: "archive_entry_new", message: "out of memory") }
        defer { archive_entry_free(e) }
        archive_entry_set_pathname(e, "data")
        archive_entry_set_filetype(e, flashsmith_ae_ifreg())
        try check(archive_write_header(a, e), "archive_write_header")
        let fd = try FileIO.openForReading(input)
        defer { close(fd) }
        let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
        defer { chunk.deallocate() }
        var offset = 0
        while true {
            let n = Glibc.read(fd, chunk.baseAddress, chunk.count)
            if n < 0 {
                if errno == EINTR { continue }
                throw FileError.readFailed(path: input, offset: offset, reason: FileIO.errnoText())
            }
            if n == 0 { break }
            guard archive_write_data(a, chunk.baseAddress, n) == n else {
                throw Failure(operation: "archive_write_data", message: archive_error_string(a).map { String(cString: $0) } ?? "short write")
            }
            offset += n
        }
        try check(archive_write_close(a), "archive_write_close")
    }
}

/// Reads a compressed stream whole (gzip, xz, zstd, lz4, bzip2: libarchive's filters over its raw
/// format), for small files such as /proc/config.gz. At most `limit` bytes are accepted.
public enum RawDecompressor {
    public static func decompress(_ path: String, limit: Int = 64 << 20) throws -> [UInt8] {
        let fd = try FileIO.openForReading(path)
        defer { close(fd) }
        guard let a = archive_read_new() else { throw RawCompressor.Failure(operation: "archive_read_new", message: "out of memory") }
        defer { archive_read_free(a) }
        archive_read_support_filter_all(a)
        archive_read_support_format_raw(a)
        guard archive_read_open_fd(a, fd, 1 << 16) == ARCHIVE_OK else {
            throw ArchiveFailure(path: path, message: "expected a compressed stream: \(libarchiveError(a))")
        }
        var entry: OpaquePointer?
        guard archive_read_next_header(a, &entry) == ARCHIVE_OK else { throw ArchiveFailure(path: path, message: libarchiveError(a)) }
        var out: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = buf.withUnsafeMutableBytes { archive_read_data(a, $0.baseAddress, $0.count) }
            if n == 0 { break }
            guard n > 0 else { throw ArchiveFailure(path: path, message: "decompressing at \(out.count): \(libarchiveError(a))") }
            out += buf[0..<n]
            guard out.count <= limit else { throw ArchiveFailure(path: path, message: "expected at most \(limit) bytes once decompressed, found more") }
        }
        return out
    }
}

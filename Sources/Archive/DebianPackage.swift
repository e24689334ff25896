import CArchive
import FlashsmithCore
#if canImport(Glibc)
import Glibc
#endif

/// Debian binary packages (`deb(5)`): an `ar` archive holding `debian-binary`, `control.tar.*` and
/// `data.tar.*` (gz, xz, zst, bz2 or none). Unpacking the data part gives what `dpkg -x` gives: a
/// target sysroot to bundle binaries and libraries from, for any architecture, without root.
/// Entries are confined to the destination: absolute names and `..` components are refused (with
/// the entry named), and libarchive's secure-symlink mode refuses to write through a link.
/// Owners are not applied (the sysroot is a source of files, not an image).
public enum DebianPackage {
    public struct Failure: FlashsmithError, Equatable {
        public var path: String
        public var message: String
        public var category: ErrorCategory { .data }
        public var description: String { "\(path): \(message)" }
    }

    /// The outer archive, read by the inner one through libarchive's read callback.
    final class Outer {
        let archive: OpaquePointer
        init(_ a: OpaquePointer) { archive = a }
    }

    /// Unpacks `deb`'s data into `directory` (created if missing); returns the number of entries.
    /// The entry names are checked in a first pass, so a package with an entry that leaves the
    /// folder writes nothing at all.
    @discardableResult
    public static func extract(_ deb: String, into directory: String) throws -> Int {
        _ = try withDataMember(deb) { outer, member in try extractData(outer: outer, deb: deb, member: member, into: directory, write: false) }
        mkdir(directory, 0o755)
        return try withDataMember(deb) { outer, member in try extractData(outer: outer, deb: deb, member: member, into: directory, write: true) }
    }

    /// The first file of the package's data whose name (without `./`) satisfies `match`, read
    /// whole (at most 16 MiB): e.g. a kernel package's `boot/config-*`.
    public static func readFile(_ deb: String, where match: @escaping (String) -> Bool) throws -> (String, [UInt8])? {
        var found: (String, [UInt8])?
        _ = try withDataMember(deb) { outer, member in
            try withInner(outer: outer, deb: deb, member: member) { inner in
                var entry: OpaquePointer?
                while archive_read_next_header(inner, &entry) == ARCHIVE_OK, let e = entry {
                    var name = archive_entry_pathname(e).map { String(cString: $0) } ?? ""
                    while name.hasPrefix("./") { name.removeFirst(2) }
                    guard archive_entry_filetype(e) == flashsmith_ae_ifreg(), match(name) else { continue }
                    let size = Int(archive_entry_size(e))
                    guard size >= 0, size <= 16 << 20 else { throw Failure(path: deb, message: "\(member): \(name): \(size) bytes, expected 0…16 MiB") }
                    var bytes = [UInt8](repeating: 0, count: size)
                    let n = bytes.withUnsafeMutableBytes { archive_read_data(inner, $0.baseAddress, size) }
                    guard n == size else { throw Failure(path: deb, message: "\(member): \(name): short read") }
                    found = (name, bytes)
                    return
                }
            }
            return 0
        }
        return found
    }

    /// Opens the data member as an archive of its own and hands it to `body`.
    static func withInner(outer: OpaquePointer, deb: String, member: String, _ body: (OpaquePointer) throws -> Void) throws {
        guard let inner = archive_read_new() else { throw Failure(path: deb, message: "libarchive: out of memory") }
        defer { archive_read_free(inner) }
        archive_read_support_filter_all(inner)
        archive_read_support_format_tar(inner)
        let box = Unmanaged.passRetained(Outer(outer))
        defer { box.release() }
        guard archive_read_open(inner, box.toOpaque(), nil, readOuter, nil) == ARCHIVE_OK else {
            throw Failure(path: deb, message: "\(member): \(errorText(inner))")
        }
        try body(inner)
    }

    /// libarchive read callback: the inner archive reads the outer one's current member.
    static let readOuter: @convention(c) (OpaquePointer?, UnsafeMutableRawPointer?, UnsafeMutablePointer<UnsafeRawPointer?>?) -> la_ssize_t = { _, client, buffer in
        guard let client, let buffer else { return -1 }
        let o = Unmanaged<Outer>.fromOpaque(client).takeUnretainedValue()
        var block: UnsafeRawPointer?
        var size = 0
        var offset: la_int64_t = 0
        let rc = archive_read_data_block(o.archive, &block, &size, &offset)
        if rc == ARCHIVE_EOF { return 0 }
        guard rc == ARCHIVE_OK || rc == ARCHIVE_WARN else { return -1 }
        buffer.pointee = block
        return la_ssize_t(size)
    }

    /// Opens the ar archive and hands `body` the stream positioned at its data.tar.* member.
    static func withDataMember(_ deb: String, _ body: (OpaquePointer, String) throws -> Int) throws -> Int {
        let fd = try FileIO.openForReading(deb)
        defer { close(fd) }
        guard let outer = archive_read_new() else { throw Failure(path: deb, message: "libarchive: out of memory") }
        defer { archive_read_free(outer) }
        archive_read_support_format_ar(outer)
        guard archive_read_open_fd(outer, fd, 1 << 16) == ARCHIVE_OK else {
            throw Failure(path: deb, message: "expected a Debian package (an ar archive): \(errorText(outer))")
        }
        var entry: OpaquePointer?
        var members: [String] = []
        while true {
            let rc = archive_read_next_header(outer, &entry)
            if rc == ARCHIVE_EOF { break }
            guard rc == ARCHIVE_OK || rc == ARCHIVE_WARN, let entry else { throw Failure(path: deb, message: "ar member \(members.count + 1): \(errorText(outer))") }
            let name = archive_entry_pathname(entry).map { String(cString: $0) } ?? ""
            members.append(name)
            if name.hasPrefix("data.tar") { return try body(outer, name) }
        }
        throw Failure(path: deb, message: "expected a data.tar.* member, found \(members.isEmpty ? "none" : members.joined(separator: ", "))")
    }

    static func errorText(_ a: OpaquePointer) -> String { archive_error_string(a).map { String(cString: $0) } ?? "unknown error" }

    /// Entry names as dpkg writes them (`./usr/bin/x`), checked and placed under `directory`.
    static func confined(_ raw: String, deb: String, member: String, directory: String) throws -> String {
        var name = raw
        while name.hasPrefix("./") { name.removeFirst(2) }
        if name == "." || name.isEmpty { return directory }
        guard !name.hasPrefix("/"), !name.split(separator: "/").contains("..") else {
            throw Failure(path: deb, message: "\(member): entry '\(raw)': expected a path inside the package, found one that leaves it")
        }
        return "\(directory)/\(name)"
    }

    static func extractData(outer: OpaquePointer, deb: String, member: String, into directory: String, write: Bool) throws -> Int {
        guard let inner = archive_read_new(), let disk = archive_write_disk_new() else { throw Failure(path: deb, message: "libarchive: out of memory") }
        defer {
            archive_read_free(inner)
            archive_write_free(disk)
        }
        archive_read_support_filter_all(inner)
        archive_read_support_format_tar(inner)
        archive_write_disk_set_options(disk, ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_SECURE_SYMLINKS | ARCHIVE_EXTRACT_SECURE_NODOTDOT)
        let box = Unmanaged.passRetained(Outer(outer))
        defer { box.release() }
        guard archive_read_open(inner, box.toOpaque(), nil, readOuter, nil) == ARCHIVE_OK else {
            throw Failure(path: deb, message: "\(member): \(errorText(inner))")
        }
        var count = 0
        var entry: OpaquePointer?
        while true {
            let rc = archive_read_next_header(inner, &entry)
            if rc == ARCHIVE_EOF { break }
            guard rc == ARCHIVE_OK || rc == ARCHIVE_WARN, let entry else { throw Failure(path: deb, message: "\(member) entry \(count + 1): \(errorText(inner))") }
            let raw = archive_entry_pathname(entry).map { String(cString: $0) } ?? ""
            archive_entry_set_pathname(entry, try confined(raw, deb: deb, member: member, directory: directory))
            if let link = archive_entry_hardlink(entry) {
                archive_entry_set_hardlink(entry, try confined(String(cString: link), deb: deb, member: member, directory: directory))
            }
            guard write else {
                archive_read_data_skip(inner)
                count += 1
                continue
            }
            guard archive_write_header(disk, entry) >= ARCHIVE_WARN else { throw Failure(path: deb, message: "\(member): \(raw): \(errorText(disk))") }
            var block: UnsafeRawPointer?
            var size = 0
            var offset: la_int64_t = 0
            while true {
                let r = archive_read_data_block(inner, &block, &size, &offset)
                if r == ARCHIVE_EOF { break }
                guard r >= ARCHIVE_WARN else { throw Failure(path: deb, message: "\(member): \(raw): \(errorText(inner))") }
                guard archive_write_data_block(disk, block, size, offset) >= ARCHIVE_WARN else { throw Failure(path: deb, message: "\(member): \(raw): \(errorText(disk))") }
            }
            guard archive_write_finish_entry(disk) >= ARCHIVE_WARN else { throw Failure(path: deb, message: "\(member): \(raw): \(errorText(disk))") }
            count += 1
        }
        return count
    }
}

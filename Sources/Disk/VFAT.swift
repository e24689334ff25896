import FlashsmithCore
#if canImport(Glibc)
import Glibc
#endif

/// A vfat filesystem image holding a list of files, made rootless and reproducibly by the peer
/// tools: `mkfs.vfat` (dosfstools 4.2) with `--invariant` (no random or time-based values) and a
/// fixed volume id, then mtools' `mmd` and `mcopy` for the folders and files.
///
/// Every time stamp in the image is `SOURCE_DATE_EPOCH`: mtools takes "now" from that variable
/// (mcopy without `-m` ignores the source file's mtime), in UTC (`TZ=UTC`; FAT stores local time).
/// So two builds from the same inputs are byte-identical, whatever the sources' mtimes are.
/// The image is built in a temporary file beside the destination and renamed over it.
public enum VFATImage {
    /// One file of the image: its path inside the filesystem (`dtbs/virt.dtb`: folders are made)
    /// and the host file it is copied from.
    public struct File: Sendable, Equatable {
        public var name: String
        public var source: String

        public init(name: String, source: String) {
            self.name = name
            self.source = source
        }
    }

    /// FAT sizes mkfs.vfat can be told to use; nil lets it choose from the image size.
    public static let fatSizes = [12, 16, 32]

    /// Builds the image at `path`. `volumeID` nil is derived from `seed` (and the label);
    /// `label` is at most 11 characters (mkfs.vfat's limit), upper case as FAT stores it.
    public static func build(
        files: [File], size: Int, label: String = "", volumeID: UInt32? = nil, fatSize: Int? = nil, sourceDateEpoch: UInt32, seed: String = "", to path: String
    ) throws {
        try checkArguments(files: files, size: size, label: label, fatSize: fatSize, path: path)
        let id = volumeID ?? derivedVolumeID(seed: seed, label: label)
        let temp = try temporaryFile(beside: path, size: size)
        do {
            try format(temp, label: label, volumeID: id, fatSize: fatSize, path: path)
            try copy(files, into: temp, size: size, sourceDateEpoch: sourceDateEpoch, path: path)
            guard rename(temp, path) == 0 else { throw FileError.cannotCreate(path: path, reason: "rename: \(FileIO.errnoText())") }
        } catch {
            unlink(temp)
            throw error
        }
    }

    /// The first four bytes of SHA-256 over the seed and label (``GUID/derived(_:)``'s hash).
    public static func derivedVolumeID(seed: String, label: String) -> UInt32 {
        let u = nameBasedUUID(["vfat", seed, label])
        return UInt32(u[0]) << 24 | UInt32(u[1]) << 16 | UInt32(u[2]) << 8 | UInt32(u[3])
    }

    static let forbidden = Set("\"*:<>?\\|".unicodeScalars)

    static func checkArguments(files: [File], size: Int, label: String, fatSize: Int?, path: String) throws {
        guard size >= 64 << 10, size % 512 == 0 else { throw DiskError("\(path): vfat size \(size): expected a multiple of 512 bytes, at least 64KiB", category: .usage) }
        guard label.utf8.count <= 11, label.unicodeScalars.allSatisfy({ $0.isASCII && $0.value >= 0x20 && !forbidden.contains($0) }) else {
            throw DiskError("\(path): vfat label '\(label)': expected at most 11 ASCII characters without \" * : < > ? \\ |", category: .usage)
        }
        if let f = fatSize, !fatSizes.contains(f) { throw DiskError("\(path): FAT size \(f): expected 12, 16 or 32", category: .usage) }
        var seen: [String: String] = [:]
        var total = 0
        for f in files {
            let parts = f.name.split(separator: "/", omittingEmptySubsequences: false)
            guard !f.name.isEmpty, parts.allSatisfy({ !$0.isEmpty && $0 != "." && $0 != ".." && $0.utf16.count <= 255 }),
                  f.name.unicodeScalars.allSatisfy({ $0.value >= 0x20 && !forbidden.contains($0) })
            else {
                throw DiskError("\(path): vfat file name '\(f.name)': expected a relative path of names without \" * : < > ? \\ | or control characters", category: .usage)
            }
            let key = f.name.lowercased()
            if let other = seen[key] { throw DiskError("\(path): vfat file '\(f.name)' clashes with '\(other)' (FAT names ignore case)", category: .usage) }
            seen[key] = f.name
            guard case let .regular(n) = FileIO.kind(of: f.source) else {
                throw DiskError("\(f.source): vfat file '\(f.name)': expected a regular file, found \(FileIO.kind(of: f.source).name)", category: .noInput)
            }
            total += n
            if total > size { throw DiskError("\(path): vfat file '\(f.name)' (\(n) bytes) does not fit: the files so far need \(total) bytes, the image is \(ByteSize(bytes: size))") }
        }
        for f in files where seen[f.name.split(separator: "/").dropLast().joined(separator: "/").lowercased()] != nil {
            throw DiskError("\(path): vfat file '\(f.name)': a folder of its path is also a file", category: .usage)
        }
    }

    /// A new file beside `path`, `size` bytes of zeros (sparse).
    static func temporaryFile(beside path: String, size: Int) throws -> String {
        let slash = path.lastIndex(of: "/")
        let dir = slash.map { String(path[..<$0]) } ?? "."
        let base = slash.map { String(path[path.index(after: $0)...]) } ?? path
        try AtomicFolder.makeFolders(dir)
        var template = Array("\(dir.isEmpty ? "/" : dir)/.\(base).flashsmith-vfat-XXXXXX".utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else { throw FileError.cannotCreate(path: path, reason: FileIO.errnoText()) }
        defer { close(fd) }
        let temp = String(cString: template.map { UInt8(bitPattern: $0) })
        let mask = umask(0)
        umask(mask)
        fchmod(fd, 0o644 & ~mask)
        guard ftruncate(fd, off_t(size)) == 0 else {
            let reason = FileIO.errnoText()
            unlink(temp)
            throw FileError.writeFailed(path: path, offset: 0, reason: "ftruncate to \(size): \(reason)")
        }
        return temp
    }

    static func format(_ temp: String, label: String, volumeID: UInt32, fatSize: Int?, path: String) throws {
        var args = ["--invariant", "--mbr=n", "-i", hex8(volumeID)]
        if !label.isEmpty { args += ["-n", label] }
        if let fatSize { args += ["-F", String(fatSize)] }
        let out = try tool("mkfs.vfat", args + [temp], sourceDateEpoch: 0)
        guard out.status == 0 else { throw DiskError("\(path): mkfs.vfat failed: \(message(out))") }
    }

    /// Folders first (parents before children), then each file in order.
    /// FAT's time stamps start at 1980-01-01 00:00 (local time, here UTC); mtools turns an earlier
    /// time (SOURCE_DATE_EPOCH=0, the default of a build without one) into 2098.
    static let fatEpoch: UInt32 = 315_532_800

    static func copy(_ files: [File], into temp: String, size: Int, sourceDateEpoch given: UInt32, path: String) throws {
        let sourceDateEpoch = max(given, fatEpoch)
        var folders: [String] = []
        for f in files {
            let parts = f.name.split(separator: "/")
            for k in parts.indices.dropLast() {
                let folder = parts[...k].joined(separator: "/")
                if !folders.contains(folder) { folders.append(folder) }
            }
        }
        for folder in folders {
            let out = try tool("mmd", ["-i", temp, "::" + folder], sourceDateEpoch: sourceDateEpoch)
            guard out.status == 0 else { throw DiskError("\(path): vfat folder '\(folder)': mmd failed: \(message(out))") }
        }
        for f in files {
            let out = try tool("mcopy", ["-i", temp, f.source, "::" + f.name], sourceDateEpoch: sourceDateEpoch)
            guard out.status == 0 else {
                let said = message(out)
                if said.contains("Disk full") || said.contains("No free") {
                    let bytes = (try? FileIO.size(of: f.source)) ?? 0
                    throw DiskError("\(path): vfat file '\(f.name)' (\(bytes) bytes, from \(f.source)) does not fit in the \(ByteSize(bytes: size)) image (mcopy: disk full)")
                }
                throw DiskError("\(path): vfat file '\(f.name)': mcopy failed: \(said)")
            }
        }
    }

    /// The paths of the files and folders in the FAT filesystem at `offset` of `path` (a disk
    /// image's partition, or 0: a filesystem image), as mtools reads them (`mdir -/ -b`), at most `limit`.
    public static func list(path: String, offset: Int = 0, limit: Int = 10_000) throws -> [String] {
        let image = offset == 0 ? path : "\(path)@@\(offset)"
        let out = try tool("mdir", ["-/", "-b", "-i", image, "::/"], sourceDateEpoch: 0)
        guard out.status == 0 else { throw DiskError("\(path): mdir cannot read the FAT filesystem\(offset == 0 ? "" : " at \(offset)"): \(message(out))") }
        return String(decoding: out.stdout, as: UTF8.self).split(separator: "\n").prefix(limit).map { l in
            l.hasPrefix("::") ? String(l.dropFirst(2)) : String(l)
        }
    }

    /// Runs a dosfstools or mtools program through env(1) with the variables that make it
    /// reproducible and independent of the user's configuration.
    static func tool(_ name: String, _ arguments: [String], sourceDateEpoch: UInt32) throws -> ExternalTool.Output {
        guard ExternalTool.which(name) != nil || ExternalTool.which("/usr/sbin/" + name) != nil || ExternalTool.which("/sbin/" + name) != nil else {
            throw DiskError("\(name) not found: vfat images need dosfstools (mkfs.vfat) and mtools (apt install dosfstools mtools)", category: .unavailable)
        }
        let path = ExternalTool.which(name) ?? ExternalTool.which("/usr/sbin/" + name) ?? ("/sbin/" + name)
        let env = ["SOURCE_DATE_EPOCH=\(sourceDateEpoch)", "TZ=UTC", "LC_ALL=C.UTF-8", "MTOOLS_SKIP_CHECK=1", "MTOOLSRC=/dev/null"]
        return try ExternalTool.run(unchecked: "env", env + [path] + arguments)
    }

    static func message(_ out: ExternalTool.Output) -> String {
        let text = String(decoding: out.stderr + out.stdout, as: UTF8.self).trimmingSpaces()
        return text.split(separator: "\n").prefix(3).joined(separator: " / ")
    }
}

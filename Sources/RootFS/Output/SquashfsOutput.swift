import Archive
import FlashsmithCore
#if canImport(Glibc)
import Glibc
#endif

/// How a squashfs image is made (`rootfs build -o x.squashfs`, a board's `squashfs:` partition).
public struct SquashfsOptions: Sendable, Equatable {
    /// mksquashfs's compressors (`-comp`), each one Linux reads.
    public enum Compression: String, Sendable, CaseIterable {
        case gzip, xz, zstd, lz4, lzo

        /// The levels `-Xcompression-level` takes, or nil when the compressor has none.
        public var levels: ClosedRange<Int>? {
            switch self {
            case .gzip, .lzo: return 1...9
            case .zstd: return 1...22
            case .xz, .lz4: return nil
            }
        }
    }

    public var compression: Compression = .gzip
    /// `-Xcompression-level` (default mksquashfs's: gzip 9, zstd 15, lzo 8).
    public var level: Int?
    /// The data block size: a power of two, 4 KiB … 1 MiB (default 128 KiB, as mksquashfs).
    public var blockSize = 128 << 10
    /// Threads mksquashfs uses (default: the online CPUs). The image does not depend on it.
    public var processors: Int?

    public init(compression: Compression = .gzip) { self.compression = compression }
}

public struct SquashfsSummary: Sendable, Equatable {
    public var imageSize: Int
    public var compression: SquashfsOptions.Compression
    public var blockSize: Int
    public var entries: Int
    /// What the image could not hold as the manifest says (one line each).
    public var notes: [String]
}

/// A manifest written as a squashfs image by mksquashfs (squashfs-tools 4.5.1 and later), rootless
/// and reproducibly: the manifest goes to mksquashfs's tar reader as an uncompressed tar stream
/// on a pipe (entries in the manifest's order, owners, modes, device numbers, hard links, long
/// names and xattrs such as `security.capability` in PAX records), with `-reproducible`, every
/// time clamped to SOURCE_DATE_EPOCH (which is also the creation time), no staging tree. The
/// tar reader makes the root folder itself: its mode comes from `-root-mode`, its owner from the
/// user mksquashfs runs as (a user namespace maps it when the manifest's root owner is not the
/// caller), its time is SOURCE_DATE_EPOCH. Tar has no socket type: sockets are left out, with a
/// note.
public enum SquashfsOutput {
    @discardableResult
    public static func write(_ m: Manifest, to path: String, options o: SquashfsOptions) throws -> SquashfsSummary {
        try check(o, manifest: m, path: path)
        let mksquashfs = try DiskTool.require("mksquashfs", package: "squashfs-tools", for: path)
        let plan = try OutputPlan(m)
        let root = m["/"]
        var notes: [String] = []
        var command = [mksquashfs]
        if let root, root.uid != getuid() || root.gid != getgid() {
            // The tar reader gives the root folder mksquashfs's own uid and gid.
            let unshare = try DiskTool.require("unshare", package: "util-linux", for: path)
            command = [unshare, "--user", "--map-user=\(root.uid)", "--map-group=\(root.gid)", mksquashfs]
        }
        if m.sourceDateEpoch > Int64(time(nil)) {
            throw RootFSError(path: path, message: "SOURCE_DATE_EPOCH \(m.sourceDateEpoch) is in the future: mksquashfs's tar reader would give the root folder the clock's time, and the image would not be reproducible", category: .usage)
        }
        if let root, root.mtime != m.sourceDateEpoch {
            notes.append("squashfs: the root folder's time is SOURCE_DATE_EPOCH (\(m.sourceDateEpoch)), not \(root.mtime) (mksquashfs's tar reader makes the root itself)")
        }
        let staging = try DiskStaging(destination: path)
        var args = ["-", staging.image, "-tar", "-noappend", "-reproducible", "-exit-on-error", "-quiet", "-no-progress",
                    "-comp", o.compression.rawValue, "-b", String(o.blockSize), "-processors", String(o.processors ?? max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))),
                    "-root-mode", "0" + String((root?.mode ?? 0o755) & 0o7777, radix: 8)]
        if let level = o.level { args += ["-Xcompression-level", String(level)] }
        var sockets: [String] = []
        let out = try DiskTool.run(command[0], Array(command.dropFirst()) + args, environment: [("SOURCE_DATE_EPOCH", String(m.sourceDateEpoch))]) { fd in
            sockets = try streamTar(plan, to: fd, path: path)
        }
        guard out.status == 0 else {
            let said = DiskTool.said(out)
            if command.count > 1, said.hasPrefix("unshare:"), let root {
                throw RootFSError(path: path, message: "the root folder must belong to \(root.uid):\(root.gid), and building as \(getuid()):\(getgid()) that needs a user namespace, which this system refuses (\(said))", category: .unavailable)
            }
            throw RootFSError(path: path, message: "\(command.count > 1 ? "unshare … " : "")mksquashfs exited with status \(out.status): \(said)")
        }
        if !sockets.isEmpty {
            notes.append("squashfs: mksquashfs's tar reader has no type for sockets: \(sockets.count) left out (\(sockets.prefix(5).joined(separator: ", "))\(sockets.count > 5 ? ", …" : ""))")
        }
        let size = try FileIO.size(of: staging.image)
        try staging.commit()
        return SquashfsSummary(imageSize: size, compression: o.compression, blockSize: o.blockSize, entries: m.count - sockets.count, notes: notes)
    }

    static func check(_ o: SquashfsOptions, manifest m: Manifest, path: String) throws {
        guard o.blockSize >= 4096, o.blockSize <= 1 << 20, o.blockSize & (o.blockSize - 1) == 0 else {
            throw RootFSError(path: path, message: "squashfs block size: expected a power of two from 4 KiB to 1 MiB, found \(o.blockSize)", category: .usage)
        }
        if let level = o.level {
            guard let range = o.compression.levels else {
                throw RootFSError(path: path, message: "squashfs \(o.compression.rawValue) takes no compression level (found \(level)); gzip and lzo take 1…9, zstd 1…22", category: .usage)
            }
            guard range.contains(level) else {
                throw RootFSError(path: path, message: "squashfs \(o.compression.rawValue) level: expected \(range.lowerBound)…\(range.upperBound), found \(level)", category: .usage)
            }
        }
        if let p = o.processors, p < 1 || p > 1024 { throw RootFSError(path: path, message: "processors: expected 1…1024, found \(p)", category: .usage) }
        guard m.sourceDateEpoch >= 0, m.sourceDateEpoch <= Int64(UInt32.max) else {
            throw RootFSError(path: path, message: "squashfs holds times 0…\(UInt32.max); SOURCE_DATE_EPOCH is \(m.sourceDateEpoch)", category: .usage)
        }
        // squashfs-tools 4.5.1's tar reader computes the device number in an int: a minor of 2^19
        // or more overflows and both numbers come out as the largest.
        for e in m.sorted() where e.kind.isDevice && e.minor >= 1 << 19 && !(e.major == 4095 && e.minor == 1_048_575) {
            throw RootFSError(path: path, message: "\(e.path): device \(e.major),\(e.minor): mksquashfs's tar reader (squashfs-tools 4.5.1) corrupts minors of 524288 or more (\(e.source))")
        }
    }

    /// The manifest as an uncompressed tar on `fd`, the root folder and sockets left out (the
    /// sockets' paths returned).
    static func streamTar(_ plan: OutputPlan, to fd: Int32, path: String) throws -> [String] {
        let w = try ArchiveWriter(descriptor: fd, path: path, format: .tar, compression: .none)
        var firstName: [Int64: String] = [:]
        var sockets: [String] = []
        for item in plan.items {
            if item.entry.path == "/" { continue }
            if item.entry.kind == .socket {
                sockets.append(item.entry.path)
                continue
            }
            let member = plan.member(item, format: .tar, firstName: firstName)
            if firstName[item.inode] == nil { firstName[item.inode] = item.name }
            try w.begin(member)
            if member.size > 0 { try ContentReader.stream(item.dataSource) { try w.write($0) } }
        }
        try w.finish()
        return sockets
    }
}

import FlashsmithCore
#if canImport(Glibc)
import Glibc
#endif

/// A root filesystem as data: every entry with its type, mode, owner, time, xattrs, link target or
/// device numbers, and where its bytes come from. Layers add and change entries; writers turn the
/// manifest into a folder, a tar or a cpio. Nothing here touches the disk except to read content.
///
/// Invariants kept by ``add(_:replace:)``: every path is absolute and normalised; every entry's
/// parent exists and is a directory (a path through a symlink of the manifest is placed where
/// the link leads, inside the root); times are clamped to ``sourceDateEpoch``.
public struct Manifest: Sendable {
    public enum Kind: String, Sendable, CaseIterable {
        case file, directory, symlink, hardlink
        case charDevice = "char", blockDevice = "block", fifo, socket

        public var isDevice: Bool { self == .charDevice || self == .blockDevice }

        /// The kind of an `lstat` result's `st_mode`.
        public init(fileType mode: mode_t) {
            switch mode & S_IFMT {
            case S_IFDIR: self = .directory
            case S_IFREG: self = .file
            case S_IFLNK: self = .symlink
            case S_IFCHR: self = .charDevice
            case S_IFBLK: self = .blockDevice
            case S_IFIFO: self = .fifo
            default: self = .socket
            }
        }
    }

    /// Where a file's bytes come from.
    public enum Content: Sendable, Equatable {
        case none
        /// A file on the build host, read (never through a symlink) when the output is written; its
        /// size, inode and device are recorded so a change in between is caught.
        case host(path: String, size: Int, device: UInt64, inode: UInt64)
        case bytes([UInt8])

        public var size: Int {
            switch self {
            case .none: return 0
            case let .host(_, size, _, _): return size
            case let .bytes(b): return b.count
            }
        }
    }

    public struct Entry: Sendable, Equatable {
        public var path: String
        public var kind: Kind
        /// Permission bits, 07777.
        public var mode: UInt32
        public var uid: UInt32 = 0
        public var gid: UInt32 = 0
        public var mtime: Int64 = 0
        /// Sorted by name.
        public var xattrs: [String: [UInt8]] = [:]
        /// Symlink target as written, or the manifest path a hard link shares its inode with.
        public var target: String = ""
        public var major: UInt32 = 0
        public var minor: UInt32 = 0
        public var content: Content = .none
        /// Which layer and input put it here, for messages.
        public var source: String

        public init(path: String, kind: Kind, mode: UInt32, source: String) {
            self.path = path
            self.kind = kind
            self.mode = mode
            self.source = source
        }

        public var size: Int { content.size }
    }

    public typealias Conflict = RootFSError

    public private(set) var entries: [String: Entry] = [:]
    /// How many symlinks the manifest holds: with none, placing a path is the identity.
    var symlinkCount = 0
    public let sourceDateEpoch: Int64
    /// What a layer could not do or chose to skip, for the build report.
    public var notes: [String] = []
    /// Write /usr/share/flashsmith/content.sha256 after the last layer (``ContentManifest``).
    public var contentManifest = false
    /// The machine every ELF file from the host must be built for (``Architecture``); nil until a
    /// board, `--arch`, busybox or the first bundled binary says.
    public var architecture: Architecture?

    public init(sourceDateEpoch: Int64) {
        self.sourceDateEpoch = sourceDateEpoch
        var root = Entry(path: "/", kind: .directory, mode: 0o755, source: "root")
        root.mtime = sourceDateEpoch
        entries["/"] = root
    }

    public subscript(path: String) -> Entry? { entries[path] }

    /// The one place entries change, keeping ``symlinkCount``.
    mutating func store(_ path: String, _ e: Entry?) {
        if entries[path]?.kind == .symlink { symlinkCount -= 1 }
        if e?.kind == .symlink { symlinkCount += 1 }
        entries[path] = e
    }
    public var count: Int { entries.count }

    /// Entries in the order every writer uses: a directory before its contents, names compared
    /// byte by byte component by component (so `/a`, `/a/b`, `/a-b`).
    public func sorted() -> [Entry] {
        // Sort keys: the path's bytes with '/' as 0, so plain byte order is the component order.
        var keyed: [([UInt8], Entry)] = entries.values.map { e in (e.path.utf8.map { $0 == UInt8(ascii: "/") ? 0 : $0 }, e) }
        keyed.sort { $0.0.lexicographicallyPrecedes($1.0) }
        return keyed.map(\.1)
    }

    public static func precedes(_ a: String, _ b: String) -> Bool {
        var a = a
        var b = b
        return a.withUTF8 { x in b.withUTF8 { y in precedes(x, y) } }
    }

    static func precedes(_ x: UnsafeBufferPointer<UInt8>, _ y: UnsafeBufferPointer<UInt8>) -> Bool {
        let n = min(x.count, y.count)
        var i = 0
        while i < n && x[i] == y[i] { i += 1 }
        if i == n { return x.count < y.count }
        // '/' ends a component: it sorts before every other byte.
        if x[i] == UInt8(ascii: "/") { return true }
        if y[i] == UInt8(ascii: "/") { return false }
        return x[i] < y[i]
    }

    /// `path` normalised: absolute, no `.`/empty components. `..` is refused (tables and specs name
    /// image paths; none of them needs to climb).
    public static func normalise(_ path: String, context: String) throws -> String {
        if isNormal(path) { return path }
        var parts: [Substring] = []
        for p in path.split(separator: "/") {
            if p.isEmpty || p == "." { continue }
            guard p != ".." else { throw Conflict(message: "\(context): path '\(path)': expected a path inside the image, found a '..' component") }
            parts.append(p)
        }
        return "/" + parts.joined(separator: "/")
    }

    /// Already absolute and normalised: starts with '/', no empty, '.' or '..' component, no trailing '/'.
    static func isNormal(_ path: String) -> Bool {
        let slash = UInt8(ascii: "/"), dot = UInt8(ascii: ".")
        var it = path.utf8.makeIterator()
        guard it.next() == slash else { return false }
        if path.utf8.count == 1 { return true }
        var length = 0
        var allDots = true
        while let c = it.next() {
            if c == slash {
                if length == 0 || (allDots && length <= 2) { return false }
                length = 0
                allDots = true
            } else {
                length += 1
                if c != dot { allDots = false }
            }
        }
        return !(length == 0 || (allDots && length <= 2))
    }

    /// The folder part of a path (`/a/b` → `/a`, `/a` → `/`).
    public static func parentPath(_ path: String) -> String { parent(path) }
    /// The last component of a path.
    public static func nameOf(_ path: String) -> String { name(path) }

    static func parent(_ path: String) -> String {
        guard let i = path.lastIndex(of: "/"), i != path.startIndex else { return "/" }
        return String(path[..<i])
    }

    static func name(_ path: String) -> String {
        guard let i = path.lastIndex(of: "/") else { return path }
        return String(path[path.index(after: i)...])
    }

    /// Where `path` lives in the image: its directories followed through the manifest's symlinks
    /// (confined to the root: an absolute target starts at the root, `..` stops there), the last
    /// component kept. Missing directories are left as named.
    public func place(_ path: String) -> String {
        if Self.isNormal(path) {
            // Every entry sits at a placed path: below an existing folder, nothing is a link.
            if symlinkCount == 0 { return path }
            if let p = entries[Self.parent(path)], p.kind == .directory { return path }
        }
        var done: [String] = []
        var pending = path.split(separator: "/").map(String.init)
        var hops = 0
        while pending.count > 1 {
            let name = pending.removeFirst()
            if name == "." || name.isEmpty { continue }
            if name == ".." {
                _ = done.popLast()
                continue
            }
            let candidate = "/" + (done + [name]).joined(separator: "/")
            if let e = entries[candidate], e.kind == .symlink, hops < 40 {
                hops += 1
                let t = e.target.split(separator: "/").map(String.init)
                if e.target.hasPrefix("/") { done = [] }
                pending = t + pending
            } else {
                done.append(name)
            }
        }
        let last = pending.first.map { [$0] } ?? []
        return "/" + (done + last).filter { !$0.isEmpty && $0 != "." }.joined(separator: "/")
    }

    /// Where a path finally leads in the image (every symlink followed, inside the root), or nil
    /// when it leads nowhere that exists.
    public func resolve(_ path: String) -> String? {
        var p = place(path)
        var hops = 0
        while let e = entries[p], e.kind == .symlink {
            hops += 1
            if hops > 40 { return nil }
            let t = e.target.hasPrefix("/") ? e.target : Self.parent(p) + "/" + e.target
            p = place(Sysroot.normalise(t))
        }
        return entries[p] == nil ? nil : p
    }

    /// Adds `entry` (its path placed through the manifest's symlinks; missing parent directories
    /// created 0755 root). An existing entry of the same kind is replaced (directories: their
    /// metadata updated, contents kept); one of another kind is a conflict naming both sources,
    /// unless `replace` (then it goes, with everything below it).
    @discardableResult
    public mutating func add(_ entry: Entry, replace: Bool = false, implied: Bool = false) throws -> String {
        var e = entry
        e.path = place(try Self.normalise(entry.path, context: entry.source))
        e.mtime = min(e.mtime, sourceDateEpoch)
        if e.path == "/" {
            guard e.kind == .directory else { throw Conflict(message: "\(e.source): the root must be a directory, found a \(e.kind.rawValue)") }
        } else {
            try ensureDirectory(Self.parent(e.path), for: e.source)
        }
        if let old = entries[e.path] {
            if old.kind == .directory && e.kind == .directory {
                if implied { return e.path }
                store(e.path, e)
                return e.path
            }
            if old.kind != e.kind {
                guard replace else {
                    throw Conflict(
                        message: "\(e.path): \(e.source) puts a \(e.kind.rawValue) where \(old.source) put a \(old.kind.rawValue); mark the layer 'replace: true' to allow it"
                    )
                }
                if old.kind == .directory { removeTree(e.path) }
            }
        }
        store(e.path, e)
        return e.path
    }

    /// Makes sure `path` (already placed) is a directory, creating it and its parents.
    mutating func ensureDirectory(_ path: String, for source: String) throws {
        if let e = entries[path] {
            guard e.kind == .directory else {
                throw Conflict(message: "\(source): needs \(path) to be a directory, but \(e.source) put a \(e.kind.rawValue) there")
            }
            return
        }
        try ensureDirectory(Self.parent(path), for: source)
        var d = Entry(path: path, kind: .directory, mode: 0o755, source: "implied by \(source)")
        d.mtime = sourceDateEpoch
        store(path, d)
    }

    /// Creates a directory (with parents) unless it exists; returns its placed path.
    @discardableResult
    public mutating func mkdir(_ path: String, source: String) throws -> String {
        let p = place(try Self.normalise(path, context: source))
        try ensureDirectory(p, for: source)
        return p
    }

    /// Removes an entry and everything below it.
    public mutating func removeTree(_ path: String) {
        let prefix = path == "/" ? "/" : path + "/"
        for k in entries.keys where k == path || k.hasPrefix(prefix) {
            if k != "/" { store(k, nil) }
        }
    }

    /// Changes an existing entry in place.
    public mutating func update(_ path: String, _ body: (inout Entry) throws -> Void) rethrows {
        guard var e = entries[path] else { return }
        try body(&e)
        e.mtime = min(e.mtime, sourceDateEpoch)
        store(path, e)
    }

    /// Paths at and below `path`, sorted.
    public func tree(_ path: String) -> [String] {
        let prefix = path == "/" ? "/" : path + "/"
        return entries.keys.filter { $0 == path || $0.hasPrefix(prefix) }.sorted(by: Self.precedes)
    }

    /// The bytes of a file entry (host content read through O_NOFOLLOW).
    public func contents(_ e: Entry) throws -> [UInt8] {
        switch e.content {
        case .none: return []
        case let .bytes(b): return b
        case .host:
            var out: [UInt8] = []
            try ContentReader.stream(e) { out.append(contentsOf: $0) }
            return out
        }
    }
}

/// Reads file content for writers: host files opened with O_NOFOLLOW and checked against what was
/// recorded when the layer was applied (same inode, same size), streamed in 1 MiB chunks.
public enum ContentReader {
    public static func stream(_ e: Manifest.Entry, _ body: (UnsafeRawBufferPointer) throws -> Void) throws {
        switch e.content {
        case .none: return
        case let .bytes(b): try b.withUnsafeBytes { try body($0) }
        case let .host(path, size, device, inode):
            // O_NONBLOCK: a file replaced by a FIFO meanwhile is refused below, never waited on.
            let fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK)
            guard fd >= 0 else { throw FileError.cannotOpen(path: path, reason: FileIO.errnoText()) }
            defer { close(fd) }
            var st = stat()
            guard fstat(fd, &st) == 0, st.st_mode & S_IFMT == S_IFREG, UInt64(st.st_ino) == inode, UInt64(st.st_dev) == device, Int(st.st_size) == size else {
                throw Manifest.Conflict(message: "\(path): changed while the image was built (for \(e.path)): expected a \(size)-byte regular file")
            }
            // At most 1 MiB, and no more than the file: small files (most of a rootfs) then come
            // from the heap rather than a fresh mapping each.
            let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: max(1, min(size, 1 << 20)), alignment: 16)
            defer { chunk.deallocate() }
            var done = 0
            while done < size {
                let n = read(fd, chunk.baseAddress, min(chunk.count, size - done))
                if n < 0 {
                    if errno == EINTR { continue }
                    throw FileError.readFailed(path: path, offset: done, reason: FileIO.errnoText())
                }
                guard n > 0 else { throw FileError.shortRead(path: path, offset: done, expected: size, found: done) }
                try body(UnsafeRawBufferPointer(start: chunk.baseAddress, count: n))
                done += n
            }
        }
    }
}

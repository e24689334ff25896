import Archive
import CLinux
import Crypto
import FlashsmithCore
#if canImport(Glibc)
import Glibc
#endif

/// A root filesystem as a flat, comparable list, from a manifest (a spec), an archive (tar, cpio,
/// mtree; any compression) or a folder: what `rootfs ls` prints and `rootfs diff` compares.
/// Paths are normalised to `/x`. Hard links are listed as in tar: the first name in order is the
/// file, the others link to it, whatever the source's convention (cpio newc puts the data last).
public struct Listing: Sendable {
    public struct Item: Sendable, Equatable {
        public var path: String
        public var kind: Manifest.Kind
        public var mode: UInt32
        public var uid: UInt32
        public var gid: UInt32
        public var mtime: Int64
        public var size: Int
        public var link: String = ""
        public var major: UInt32 = 0
        public var minor: UInt32 = 0
        public var xattrs: [String: [UInt8]] = [:]
        public var sha256: String?
    }

    public var origin: String
    public var items: [Item]

    public static func normalise(_ name: String) -> String {
        var s = Substring(name)
        while s.hasPrefix("./") { s = s.dropFirst(2) }
        while s.hasPrefix("/") { s = s.dropFirst() }
        while s.hasSuffix("/") { s = s.dropLast() }
        if s.isEmpty || s == "." { return "/" }
        return "/" + s
    }

    static func hex(_ d: some Sequence<UInt8>) -> String { d.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined() }

    // MARK: sources

    public static func of(manifest m: Manifest, origin: String, digests: Bool) throws -> Listing {
        let plan = try OutputPlan(m)
        var first: [Int64: String] = [:]
        var items: [Item] = []
        for it in plan.items {
            let d = it.dataSource
            var item = Item(path: it.entry.path, kind: it.entry.kind == .hardlink ? .file : it.entry.kind, mode: d.mode, uid: d.uid, gid: d.gid, mtime: d.mtime, size: 0, xattrs: d.xattrs)
            switch it.entry.kind {
            case .file, .hardlink:
                if let f = first[it.inode] {
                    item.kind = .hardlink
                    item.link = f
                } else {
                    first[it.inode] = it.entry.path
                    item.size = d.size
                    if digests {
                        var h = SHA256()
                        try ContentReader.stream(d) { h.update(bufferPointer: $0) }
                        item.sha256 = hex(h.finalize())
                    }
                }
            case .symlink: item.link = d.target
            case .charDevice, .blockDevice:
                item.major = d.major
                item.minor = d.minor
            default: break
            }
            items.append(item)
        }
        return Listing(origin: origin, items: items)
    }

    public static func of(archive path: String, digests: Bool) throws -> Listing {
        let r = try ArchiveReader(path: path)
        var items: [Item] = []
        var byInode: [Int64: Int] = [:]
        var index: [String: Int] = [:]
        var isCpio = false
        while let m = try r.next() {
            isCpio = r.formatFamily == ArchiveReader.familyCpio
            let kind: Manifest.Kind = Manifest.Kind(rawValue: m.kind.rawValue) ?? .file
            // Only files have a size here (cpio stores a symlink's target as its data).
            var item = Item(path: normalise(m.path), kind: kind, mode: m.mode, uid: m.uid, gid: m.gid, mtime: m.mtime, size: kind == .file ? m.size : 0, link: m.link, major: m.deviceMajor, minor: m.deviceMinor)
            item.xattrs = Dictionary(m.xattrs.map { ($0.name, $0.value) }, uniquingKeysWith: { a, _ in a })
            if kind == .hardlink {
                item.link = normalise(m.link)
                // libarchive reports later cpio links as hard links; the data (on the last) is the file's.
                if m.size > 0, let i = index[item.link] {
                    items[i].size = m.size
                    if digests, r.formatFamily != ArchiveReader.familyMtree {
                        var h = SHA256()
                        try r.readData { h.update(bufferPointer: $0) }
                        items[i].sha256 = hex(h.finalize())
                    }
                }
            }
            var digest: String?
            if digests, kind == .file, m.size > 0, r.formatFamily != ArchiveReader.familyMtree {
                var h = SHA256()
                try r.readData { h.update(bufferPointer: $0) }
                digest = hex(h.finalize())
            }
            if isCpio, kind == .file, m.links > 1 {
                // newc: every link has the inode; the data comes with the last one.
                if let i = byInode[m.inode] {
                    item.kind = .hardlink
                    item.link = items[i].path
                    if m.size > 0 {
                        items[i].size = m.size
                        items[i].sha256 = digest
                    }
                    item.size = 0
                    items.append(item)
                    continue
                }
                byInode[m.inode] = items.count
            }
            index[item.path] = items.count
            if kind == .hardlink {
                item.size = 0
            } else if digests, kind == .file {
                item.sha256 = digest ?? (m.size == 0 ? hex(SHA256.hash(data: [UInt8]())) : nil)
            }
            items.append(item)
        }
        if digests {
            for i in items.indices where items[i].kind == .file && items[i].size == 0 && items[i].sha256 == nil {
                items[i].sha256 = hex(SHA256.hash(data: [UInt8]()))
            }
        }
        if r.formatFamily == ArchiveReader.familyMtree { try addRecordedXattrs(path, &items) }
        return Listing(origin: path, items: items.sorted { Manifest.precedes($0.path, $1.path) })
    }

    /// mtree has no keyword for xattrs: Flashsmith's folder record keeps them in comment lines
    /// `#xattr ./path name 0xHEX` at its end (which mtree readers skip).
    public static let xattrComment = "#xattr "

    /// mtree's escaping of names: bytes outside printable ASCII, space and backslash as `\\ooo`.
    public static func escape(_ name: String) -> String {
        var out = ""
        for b in name.utf8 {
            if b > 0x20 && b < 0x7F && b != UInt8(ascii: "\\") && b != UInt8(ascii: "#") {
                out.append(Character(Unicode.Scalar(b)))
            } else {
                let o = String(b, radix: 8)
                out += "\\" + String(repeating: "0", count: 3 - o.count) + o
            }
        }
        return out
    }

    static func unescape(_ s: Substring) -> String {
        var bytes: [UInt8] = []
        var u = Array(s.utf8)[...]
        while let c = u.first {
            if c == UInt8(ascii: "\\"), u.count >= 4, let v = UInt8(String(decoding: u.dropFirst().prefix(3), as: UTF8.self), radix: 8) {
                bytes.append(v)
                u = u.dropFirst(4)
            } else {
                bytes.append(c)
                u = u.dropFirst()
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    static func addRecordedXattrs(_ path: String, _ items: inout [Item]) throws {
        let text = String(decoding: try FileIO.readAll(path), as: UTF8.self)
        var index: [String: Int] = [:]
        for (i, it) in items.enumerated() { index[it.path] = i }
        for line in text.split(separator: "\n") where line.hasPrefix(xattrComment) {
            let f = line.dropFirst(xattrComment.count).split(separator: " ")
            guard f.count == 3, f[2].hasPrefix("0x"), let i = index[normalise(unescape(f[0]))] else { continue }
            var bytes: [UInt8] = []
            var h = f[2].dropFirst(2)
            while h.count >= 2, let b = UInt8(h.prefix(2), radix: 16) {
                bytes.append(b)
                h = h.dropFirst(2)
            }
            items[i].xattrs[String(f[1])] = bytes
        }
    }

    public static func of(directory: String, digests: Bool) throws -> Listing {
        var items: [Item] = []
        var first: [[UInt64]: String] = [:]
        func visit(_ host: String, _ path: String) throws {
            var st = stat()
            guard lstat(host, &st) == 0 else { throw FileError.cannotOpen(path: host, reason: FileIO.errnoText()) }
            let kind = Manifest.Kind(fileType: st.st_mode)
            var item = Item(path: path, kind: kind, mode: UInt32(st.st_mode & 0o7777), uid: st.st_uid, gid: st.st_gid, mtime: Int64(st.st_mtim.tv_sec), size: 0)
            item.xattrs = readXattrs(host)
            switch kind {
            case .file:
                let key = [UInt64(st.st_dev), UInt64(st.st_ino)]
                if st.st_nlink > 1, let f = first[key] {
                    item.kind = .hardlink
                    item.link = f
                } else {
                    if st.st_nlink > 1 { first[key] = path }
                    item.size = Int(st.st_size)
                    if digests {
                        var h = SHA256()
                        try FileIO.forEachChunk(host, offset: 0, count: item.size) { h.update(bufferPointer: $0) }
                        item.sha256 = hex(h.finalize())
                    }
                }
            case .symlink: item.link = try OverlayLayer.readLink(host)
            case .charDevice, .blockDevice:
                item.major = flashsmith_major(UInt64(st.st_rdev))
                item.minor = flashsmith_minor(UInt64(st.st_rdev))
            default: break
            }
            items.append(item)
            if kind == .directory {
                for n in SharedLibraryClosure.listDirectory(host).sorted(by: { Manifest.precedes($0, $1) }) {
                    try visit("\(host)/\(n)", path == "/" ? "/\(n)" : "\(path)/\(n)")
                }
            }
        }
        try visit(directory, "/")
        return Listing(origin: directory, items: items.sorted { Manifest.precedes($0.path, $1.path) })
    }

    static func readXattrs(_ path: String) -> [String: [UInt8]] {
        let n = llistxattr(path, nil, 0)
        guard n > 0 else { return [:] }
        var names = [CChar](repeating: 0, count: n)
        let got = llistxattr(path, &names, n)
        guard got > 0 else { return [:] }
        var out: [String: [UInt8]] = [:]
        for raw in names[0..<got].split(separator: 0) {
            let name = String(decoding: raw.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            let size = lgetxattr(path, name, nil, 0)
            guard size >= 0 else { continue }
            var value = [UInt8](repeating: 0, count: size)
            let r = value.withUnsafeMutableBytes { lgetxattr(path, name, $0.baseAddress, size) }
            if r >= 0 { out[name] = Array(value[0..<r]) }
        }
        return out
    }

    // MARK: printing

    static func xattrText(_ name: String, _ value: [UInt8]) -> String {
        if name == Capabilities.xattrName, let c = Capabilities.decode(value) { return c.text }
        return "0x" + hex(value)
    }

    public static func line(_ i: Item) -> String {
        var s = OutputPlan.name(i.path) + " type=\(i.kind.rawValue) mode=0\(String(i.mode, radix: 8)) uid=\(i.uid) gid=\(i.gid)"
        switch i.kind {
        case .file: s += " size=\(i.size)"
        case .symlink, .hardlink: s += " link=\(i.kind == .hardlink ? OutputPlan.name(i.link) : i.link)"
        case .charDevice, .blockDevice: s += " device=\(i.major),\(i.minor)"
        default: break
        }
        s += " time=\(i.mtime)"
        for k in i.xattrs.keys.sorted() { s += " xattr.\(k)=\(xattrText(k, i.xattrs[k] ?? []))" }
        if let d = i.sha256 { s += " sha256=\(d)" }
        return s
    }

    public var text: String { items.map { Self.line($0) + "\n" }.joined() }

    public static func json(_ i: Item) -> JSON {
        var f: [(String, JSON)] = [
            ("path", .string(i.path)), ("type", .string(i.kind.rawValue)), ("mode", .string("0" + String(i.mode, radix: 8))),
            ("uid", .int(Int(i.uid))), ("gid", .int(Int(i.gid))), ("mtime", .int(Int(i.mtime))),
        ]
        if i.kind == .file { f.append(("size", .int(i.size))) }
        if i.kind == .symlink || i.kind == .hardlink { f.append(("link", .string(i.link))) }
        if i.kind.isDevice {
            f.append(("major", .int(Int(i.major))))
            f.append(("minor", .int(Int(i.minor))))
        }
        if !i.xattrs.isEmpty { f.append(("xattrs", .object(i.xattrs.keys.sorted().map { ($0, .string(xattrText($0, i.xattrs[$0] ?? []))) }))) }
        if let d = i.sha256 { f.append(("sha256", .string(d))) }
        return .object(f)
    }

    public var json: JSON { .array(items.map(Self.json)) }
}

/// What differs between two listings, entry by entry.
public struct ListingDiff: Sendable {
    public enum Change: Sendable, Equatable {
        case onlyInFirst(Listing.Item)
        case onlyInSecond(Listing.Item)
        case changed(path: String, fields: [(String, String, String)])

        public static func == (a: Change, b: Change) -> Bool {
            switch (a, b) {
            case let (.onlyInFirst(x), .onlyInFirst(y)), let (.onlyInSecond(x), .onlyInSecond(y)): return x == y
            case let (.changed(p, f), .changed(q, g)): return p == q && f.map(\.0) == g.map(\.0) && f.map(\.1) == g.map(\.1) && f.map(\.2) == g.map(\.2)
            default: return false
            }
        }
    }

    public var changes: [Change] = []

    public init(_ a: Listing, _ b: Listing, times: Bool = true) {
        let bm = Dictionary(b.items.map { ($0.path, $0) }, uniquingKeysWith: { x, _ in x })
        let am = Dictionary(a.items.map { ($0.path, $0) }, uniquingKeysWith: { x, _ in x })
        let paths = Set(am.keys).union(bm.keys).sorted(by: Manifest.precedes)
        for p in paths {
            switch (am[p], bm[p]) {
            case let (x?, nil): changes.append(.onlyInFirst(x))
            case let (nil, y?): changes.append(.onlyInSecond(y))
            case let (x?, y?):
                var f: [(String, String, String)] = []
                func cmp(_ n: String, _ u: String, _ v: String) { if u != v { f.append((n, u, v)) } }
                cmp("type", x.kind.rawValue, y.kind.rawValue)
                cmp("mode", "0" + String(x.mode, radix: 8), "0" + String(y.mode, radix: 8))
                cmp("uid", String(x.uid), String(y.uid))
                cmp("gid", String(x.gid), String(y.gid))
                cmp("size", String(x.size), String(y.size))
                cmp("link", x.link, y.link)
                cmp("device", "\(x.major),\(x.minor)", "\(y.major),\(y.minor)")
                if times { cmp("time", String(x.mtime), String(y.mtime)) }
                let xa = x.xattrs.keys.sorted().map { "\($0)=\(Listing.xattrText($0, x.xattrs[$0] ?? []))" }.joined(separator: " ")
                let ya = y.xattrs.keys.sorted().map { "\($0)=\(Listing.xattrText($0, y.xattrs[$0] ?? []))" }.joined(separator: " ")
                cmp("xattrs", xa, ya)
                if let dx = x.sha256, let dy = y.sha256 { cmp("content", String(dx.prefix(16)), String(dy.prefix(16))) }
                if !f.isEmpty { changes.append(.changed(path: p, fields: f)) }
            default: break
            }
        }
    }

    public var text: String {
        changes.map { c -> String in
            switch c {
            case let .onlyInFirst(i): return "- " + Listing.line(i)
            case let .onlyInSecond(i): return "+ " + Listing.line(i)
            case let .changed(p, f): return "~ " + OutputPlan.name(p) + " " + f.map { "\($0.0): \($0.1) -> \($0.2)" }.joined(separator: ", ")
            }
        }.map { $0 + "\n" }.joined()
    }

    public var json: JSON {
        .array(
            changes.map { c in
                switch c {
                case let .onlyInFirst(i): return .object([("change", .string("only-in-first")), ("entry", Listing.json(i))])
                case let .onlyInSecond(i): return .object([("change", .string("only-in-second")), ("entry", Listing.json(i))])
                case let .changed(p, f):
                    return .object([
                        ("change", .string("changed")), ("path", .string(p)),
                        ("fields", .array(f.map { .object([("field", .string($0.0)), ("first", .string($0.1)), ("second", .string($0.2))]) })),
                    ])
                }
            }
        )
    }
}

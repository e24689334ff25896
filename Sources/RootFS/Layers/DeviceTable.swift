import FlashsmithCore

/// Buildroot's device table (`package/makedevs`, `docs/manual/makedev-syntax.adoc`):
/// ```
/// # name        type mode uid gid major minor start inc count
/// /dev/console  c    600  0   0   5     1     -     -   -
/// /dev/ttyS     c    666  0   0   4     64    0     1   4     → ttyS0..ttyS3, minors 64..67
/// /etc/shadow   f    600  0   0   -     -     -     -   -
/// /usr/bin/ping f    755  0   0   -     -     -     -   -
/// |xattr cap_net_raw+ep                                       → on the line above
/// ```
/// Types: `f` set an existing file's mode/owner (missing: error), `F` the same but optional, `d`
/// create a directory with its parents (or set an existing one), `r` set owner (and mode, unless
/// -1) on a directory and everything below it (symlinks keep their mode), `c`/`b` character/block
/// devices, `p` fifos. uid and gid are numbers or names from the image's own /etc/passwd and
/// /etc/group (so a users table applied before resolves). Mode is octal; `-1` (or `-`) keeps it.
/// Ranges: with count > 1, names get the numbers start…start+count-1 and minors grow by inc.
/// Limits (refused with the line): majors up to 4095 and minors up to 1048575, the last minor of a
/// range included (Linux's dev_t: 12 + 20 bits); at most 4096 names per line, 65536 per table.
/// `|xattr` supports file capabilities (libcap text) as makedevs does.
/// Differences from makedevs, all on the side of refusing or succeeding clearly: `..` in a name is
/// refused; names never follow a symlink out of the image; parents of nodes are created; a node
/// that exists with the same type is replaced instead of failing; `-` in a uid/gid means keep
/// (0 for new entries); new parent directories are 0755 (makedevs makes them 0777).
public struct DeviceTable: Sendable {
    public struct Line: Sendable, Equatable {
        public var number: Int
        public var name: String
        public var type: Character
        public var mode: UInt32?
        public var user: String
        public var group: String
        public var major: UInt32, minor: UInt32, start: UInt32, inc: UInt32, count: UInt32
        public var capabilities: [String] = []
    }

    public typealias Failure = RootFSError

    public var file: String
    public var lines: [Line]

    public static func load(_ path: String) throws -> DeviceTable {
        try parse(String(decoding: try FileIO.readAll(path), as: UTF8.self), file: path)
    }

    /// Linux's dev_t: 12 bits of major, 20 of minor (MINORBITS).
    public static let maxMajor: UInt32 = 0xFFF
    public static let maxMinor: UInt32 = 0xF_FFFF
    /// Names one range line makes, and all the ranges of a table together.
    public static let maxCount: UInt32 = 4096
    public static let maxNodes = 65536

    public static func parse(_ text: String, file: String) throws -> DeviceTable {
        var out: [Line] = []
        var nodes = 0
        for (i, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let n = i + 1
            let fields = raw.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" }).map(String.init)
            guard let first = fields.first, !first.hasPrefix("#") else { continue }
            if first == "|xattr" {
                guard fields.count >= 2 else { throw Failure(file: file, line: n, message: "expected '|xattr CAPABILITIES', found nothing after |xattr") }
                guard !out.isEmpty else { throw Failure(file: file, line: n, message: "|xattr must follow an entry line") }
                _ = try Capabilities.parse(fields[1], context: "\(file):\(n)")
                out[out.count - 1].capabilities.append(fields[1])
                continue
            }
            guard fields.count >= 5 else {
                throw Failure(file: file, line: n, message: "expected 'name type mode uid gid [major minor start inc count]', found \(fields.count) field(s)")
            }
            guard fields[1].count == 1, let type = fields[1].first, "fFdrcbp".contains(type) else {
                throw Failure(file: file, line: n, message: "type: expected one of f F d r c b p, found '\(fields[1])'")
            }
            var mode: UInt32?
            if fields[2] != "-" && fields[2] != "-1" {
                guard let m = UInt32(fields[2], radix: 8), m <= 0o7777 else {
                    throw Failure(file: file, line: n, message: "mode: expected an octal mode up to 7777 or -1, found '\(fields[2])'")
                }
                mode = m
            }
            func number(_ k: Int, _ what: String, max: UInt32) throws -> UInt32 {
                guard k < fields.count, fields[k] != "-" else { return 0 }
                guard let v = UInt32(fields[k]), v <= max else {
                    throw Failure(file: file, line: n, message: "\(what): expected a number up to \(max) or '-', found '\(fields[k])'")
                }
                return v
            }
            let line = Line(
                number: n, name: fields[0], type: type, mode: mode, user: fields[3], group: fields[4],
                major: try number(5, "major", max: Self.maxMajor), minor: try number(6, "minor", max: Self.maxMinor),
                start: try number(7, "start", max: Self.maxMinor), inc: try number(8, "inc", max: Self.maxMinor), count: try number(9, "count", max: Self.maxCount)
            )
            // A range's last name and minor are computed here, so they never overflow later.
            if line.count > 1 {
                let last = UInt64(line.minor) + UInt64(line.count - 1) * UInt64(line.inc)
                guard last <= UInt64(Self.maxMinor) else {
                    throw Failure(file: file, line: n, message: "minor \(line.minor) + \(line.count - 1) × \(line.inc) = \(last): expected at most \(Self.maxMinor) (Linux's 20-bit minor)")
                }
                nodes += Int(line.count)
                guard nodes <= Self.maxNodes else {
                    throw Failure(file: file, line: n, message: "count: the table makes more than \(Self.maxNodes) nodes")
                }
            }
            guard line.name.hasPrefix("/") else { throw Failure(file: file, line: n, message: "name: expected an absolute path, found '\(line.name)'") }
            guard !line.name.split(separator: "/").contains("..") else {
                throw Failure(file: file, line: n, message: "name '\(line.name)': expected a path inside the image, found a '..' component")
            }
            if "cb".contains(type), fields.count < 7 {
                throw Failure(file: file, line: n, message: "a device needs major and minor numbers, found \(fields.count) field(s)")
            }
            out.append(line)
        }
        return DeviceTable(file: file, lines: out)
    }

    public func apply(to m: inout Manifest) throws {
        let ids = try UserDatabase(manifest: m)
        for l in lines {
            let source = "device table \(file):\(l.number)"
            func fail(_ message: String) -> Failure { Failure(file: file, line: l.number, message: message) }
            func id(_ s: String, _ names: [String: UInt32], _ what: String, _ db: String) throws -> UInt32? {
                if s == "-" { return nil }
                if let v = UInt32(s) { return v }
                guard let v = names[s] else { throw fail("\(what) '\(s)': expected a number or a name in the image's \(db), found neither") }
                return v
            }
            let uid = try id(l.user, ids.users, "uid", "/etc/passwd")
            let gid = try id(l.group, ids.groups, "gid", "/etc/group")
            func setMeta(_ e: inout Manifest.Entry) {
                if let uid { e.uid = uid }
                if let gid { e.gid = gid }
                if let mode = l.mode, e.kind != .symlink { e.mode = mode }
            }
            var touched: [String] = []
            switch l.type {
            case "d":
                let p = try m.mkdir(l.name, source: source)
                m.update(p) { setMeta(&$0) }
                if m[p]?.source.hasPrefix("implied") == true { m.update(p) { $0.source = source } }
                touched = [p]
            case "f", "F":
                guard let p = m.resolve(l.name), let e = m[p], e.kind == .file || e.kind == .hardlink else {
                    if l.type == "F" { continue }
                    let found = m.resolve(l.name).flatMap { m[$0] }.map { "a \($0.kind.rawValue)" } ?? "nothing"
                    throw fail("\(l.name): expected a regular file in the image (type f; use F for optional files), found \(found)")
                }
                // A hard link shares its inode: the metadata lives on the file it points at.
                let owner = e.kind == .hardlink ? e.target : p
                m.update(owner) { setMeta(&$0) }
                touched = [owner]
            case "r":
                guard let p = m.resolve(l.name), m[p]?.kind == .directory else {
                    throw fail("\(l.name): expected a directory in the image (type r), found \(m.resolve(l.name).flatMap { m[$0] }.map { "a \($0.kind.rawValue)" } ?? "nothing")")
                }
                for q in m.tree(p) { m.update(q) { setMeta(&$0) } }
            default:
                let kind: Manifest.Kind = l.type == "c" ? .charDevice : l.type == "b" ? .blockDevice : .fifo
                guard l.major <= Self.maxMajor, l.minor <= Self.maxMinor, l.count <= Self.maxCount,
                      UInt64(l.minor) + UInt64(max(l.count, 1) - 1) * UInt64(l.inc) <= UInt64(Self.maxMinor) else {
                    throw fail("device \(l.major),\(l.minor) (count \(l.count), inc \(l.inc)): expected majors up to \(Self.maxMajor) and minors up to \(Self.maxMinor)")
                }
                let names: [(String, UInt32)] =
                    l.count > 1
                    ? (0..<l.count).map { i in ("\(l.name)\(UInt64(l.start) + UInt64(i))", l.minor + i * l.inc) }
                    : [(l.name, l.minor)]
                for (name, minor) in names {
                    var e = Manifest.Entry(path: name, kind: kind, mode: l.mode ?? 0o644, source: source)
                    e.uid = uid ?? 0
                    e.gid = gid ?? 0
                    e.mtime = m.sourceDateEpoch
                    if kind != .fifo {
                        e.major = l.major
                        e.minor = minor
                    }
                    touched.append(try m.add(e))
                }
            }
            if !l.capabilities.isEmpty {
                guard let p = touched.first else { throw fail("|xattr: the entry it follows is not a file") }
                let value = try Capabilities.parse(l.capabilities.joined(separator: " "), context: "\(file):\(l.number)").xattr()
                m.update(p) { $0.xattrs[Capabilities.xattrName] = value }
            }
        }
    }
}

/// Names and ids from the image's /etc/passwd and /etc/group.
struct UserDatabase {
    var users: [String: UInt32] = [:]
    var groups: [String: UInt32] = [:]

    init(manifest m: Manifest) throws {
        for (file, isUsers) in [("/etc/passwd", true), ("/etc/group", false)] {
            guard let p = m.resolve(file), let e = m[p], e.kind == .file else { continue }
            for line in String(decoding: try m.contents(e), as: UTF8.self).split(separator: "\n") {
                let f = line.split(separator: ":", omittingEmptySubsequences: false)
                guard f.count >= 3, let id = UInt32(f[2]) else { continue }
                if isUsers { users[String(f[0])] = id } else { groups[String(f[0])] = id }
            }
        }
    }
}

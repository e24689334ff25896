import FlashsmithCore

/// Buildroot's users table (`support/scripts/mkusers`, `docs/manual/makeusers-syntax.adoc`):
/// ```
/// # username uid group gid password home shell groups comment
/// alice      -2  alice -2  =secret  /home/alice /bin/sh video,audio Alice A.
/// daemon2    -1  daemon2 -1 *       -           -       -           -
/// ```
/// uid/gid `-1` pick the lowest free system id (100–999), `-2` the lowest free user id
/// (1000–1999); an existing name keeps its id. Passwords: `-` empty, `=clear` hashed, `!=clear`
/// hashed and locked (`!` prefix), anything else (`*`, `!`, a hash) copied. Hashes are crypt
/// SHA-512 (`$6$`) with a salt derived from the user name and SOURCE_DATE_EPOCH, so two builds
/// give the same bytes (mkusers uses a random salt). Home `-` means `/` and nothing created; a
/// home is created (0755) and everything in it owned by the user. Shell `-` means `/bin/false`.
/// Extra groups are created when missing (system ids for system users). `#` starts a comment
/// anywhere on a line, as in mkusers. Processing order as mkusers: primary groups with fixed
/// gids, then automatic ones, extra groups, users with fixed uids, then automatic ones.
/// /etc/passwd, /etc/group, /etc/shadow (and /etc/gshadow when present) are rewritten; lines of
/// existing accounts keep their place; a user or group that exists with another id is an error.
/// Fields copied into those files hold no ':' and no control character; clear-text passwords are
/// at most 512 bytes, and at most 64 per table (each is a SHA-512 crypt; give more as `$6$…`).
public struct UsersTable: Sendable {
    public struct User: Sendable, Equatable {
        public var line: Int
        public var name: String
        public var uid: Int64
        public var group: String
        public var gid: Int64
        public var password: String
        public var home: String
        public var shell: String
        public var groups: [String]
        public var comment: String
    }

    public typealias Failure = RootFSError

    public var file: String
    public var users: [User]

    static let system: ClosedRange<UInt32> = 100...999
    static let user: ClosedRange<UInt32> = 1000...1999

    public static func load(_ path: String) throws -> UsersTable {
        try parse(String(decoding: try FileIO.readAll(path), as: UTF8.self), file: path)
    }

    public static func parse(_ text: String, file: String) throws -> UsersTable {
        var out: [User] = []
        for (i, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let n = i + 1
            let line = raw.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
            var rest = Substring(line)
            var fields: [String] = []
            while fields.count < 8 {
                rest = rest.drop { $0 == " " || $0 == "\t" }
                guard !rest.isEmpty else { break }
                let f = rest.prefix { $0 != " " && $0 != "\t" }
                fields.append(String(f))
                rest = rest.dropFirst(f.count)
            }
            if fields.isEmpty { continue }
            guard fields.count == 8 else {
                throw Failure(file: file, line: n, message: "expected 'username uid group gid password home shell groups [comment]', found \(fields.count) field(s)")
            }
            guard fields[0] != "root" else { throw Failure(file: file, line: n, message: "user 'root': expected a new user; root comes from the skeleton") }
            let comment = String(rest.drop { $0 == " " || $0 == "\t" }).trimmingSpaces()
            func id(_ s: String, _ what: String) throws -> Int64 {
                guard let v = Int64(s), v == -1 || v == -2 || (v > 0 && v <= Int64(UInt32.max)) else {
                    throw Failure(file: file, line: n, message: "\(what): expected a positive number, -1 (system) or -2 (user), found '\(s)'")
                }
                return v
            }
            let u = User(
                line: n, name: fields[0], uid: fields[0] == "-" ? -1 : try id(fields[1], "uid"), group: fields[2], gid: try id(fields[3], "gid"),
                password: fields[4], home: fields[5], shell: fields[6] == "-" ? "/bin/false" : fields[6],
                groups: fields[7] == "-" ? [] : fields[7].split(separator: ",").map(String.init), comment: comment
            )
            for name in [u.name, u.group] + u.groups where name != "-" {
                guard !name.isEmpty, !name.contains(":"), !name.contains(","), !name.contains("/") else {
                    throw Failure(file: file, line: n, message: "name '\(name)': expected no ':', ',' or '/'")
                }
            }
            // Every field lands in a ':'-separated line of /etc/passwd, /etc/group or /etc/shadow:
            // a ':' or a control character (a stray CR, a newline) would add fields or lines there.
            // A clear-text password (=…) is hashed first, so it may hold anything.
            let verbatim: [(String, String)] = [
                ("username", u.name), ("group", u.group), ("home", u.home), ("shell", u.shell), ("comment", u.comment),
            ] + (u.password.hasPrefix("=") || u.password.hasPrefix("!=") ? [] : [("password", u.password)]) + u.groups.map { ("groups", $0) }
            for (what, value) in verbatim {
                if let bad = value.unicodeScalars.first(where: { $0 == ":" || $0.value < 0x20 || $0.value == 0x7F }) {
                    let shown = bad == ":" ? "':'" : "control character 0x\(String(bad.value, radix: 16))"
                    throw Failure(file: file, line: n, message: "\(what) '\(value.unicodeScalars.map { $0.value < 0x20 || $0.value == 0x7F ? "?" : String($0) }.joined())': expected no ':' or control characters (it goes into /etc/passwd, /etc/group, /etc/shadow), found \(shown)")
                }
            }
            let clearText = u.password.hasPrefix("!=") ? u.password.utf8.count - 2 : u.password.hasPrefix("=") ? u.password.utf8.count - 1 : 0
            if clearText > Self.maxPasswordLength {
                throw Failure(file: file, line: n, message: "password: expected at most \(Self.maxPasswordLength) bytes of clear text (libxcrypt's limit; SHA-512 crypt's time grows with its square), found \(clearText)")
            }
            guard u.home == "-" || (u.home.hasPrefix("/") && u.home != "/") else {
                throw Failure(file: file, line: n, message: "home: expected an absolute path other than / or '-', found '\(u.home)'")
            }
            guard !u.home.split(separator: "/").contains("..") else {
                throw Failure(file: file, line: n, message: "home '\(u.home)': expected a path inside the image, found a '..' component")
            }
            out.append(u)
        }
        return UsersTable(file: file, users: out)
    }

    /// One of passwd/group/shadow/gshadow as lines split on ':', with its entry in the image; lines
    /// are found by name and by id (field 2) through indexes, so applying a table is linear.
    struct Database {
        var path: String?
        var lines: [[String]] = []
        private var byName: [String: Int] = [:]
        private(set) var byID: [UInt32: String] = [:]

        init(path: String?, lines: [[String]] = []) {
            self.path = path
            self.lines = lines
            for (i, l) in lines.enumerated() {
                guard let name = l.first else { continue }
                if byName[name] == nil { byName[name] = i }
                if l.count > 2, let id = UInt32(l[2]), byID[id] == nil { byID[id] = name }
            }
        }

        func index(_ name: String) -> Int? { byName[name] }
        func id(_ name: String) -> UInt32? { byName[name].flatMap { lines[$0].count > 2 ? UInt32(lines[$0][2]) : nil } }

        mutating func upsert(_ fields: [String]) {
            if let i = byName[fields[0]] {
                lines[i] = fields
            } else {
                byName[fields[0]] = lines.count
                lines.append(fields)
            }
            if fields.count > 2, let id = UInt32(fields[2]), byID[id] == nil { byID[id] = fields[0] }
        }

        var text: [UInt8] { Array(lines.map { $0.joined(separator: ":") + "\n" }.joined().utf8) }
    }

    /// Members of the groups (field 3 of /etc/group and /etc/gshadow), kept as a user is added to
    /// each: a member added again moves to the end, as before; written back once.
    struct Members {
        var order: [Int: [String: Int]] = [:]
        var next = 0

        mutating func add(_ name: String, toLine i: Int, of db: Database) {
            if order[i] == nil {
                let existing = db.lines[i].count > 3 ? db.lines[i][3].split(separator: ",").map(String.init) : []
                var o: [String: Int] = [:]
                for m in existing where o[m] == nil {
                    o[m] = next
                    next += 1
                }
                order[i] = o
            }
            order[i]?[name] = next
            next += 1
        }

        func write(into db: inout Database) {
            for (i, o) in order {
                while db.lines[i].count < 4 { db.lines[i].append("") }
                db.lines[i][3] = o.sorted { $0.value < $1.value }.map(\.key).joined(separator: ",")
            }
        }
    }

    /// Clear-text passwords hashed per table: SHA-512 crypt costs milliseconds each by design, so a
    /// table with more is refused (hash them beforehand and give the `$6$…` string).
    public static let maxHashedPasswords = 64
    /// libxcrypt's CRYPT_MAX_PASSPHRASE_SIZE.
    public static let maxPasswordLength = 512

    static func database(_ m: Manifest, _ file: String, required: Bool) throws -> Database {
        guard let p = m.resolve(file), let e = m[p], e.kind == .file else { return Database(path: required ? file : nil) }
        let text = String(decoding: try m.contents(e), as: UTF8.self)
        return Database(path: p, lines: text.split(separator: "\n").map { $0.split(separator: ":", omittingEmptySubsequences: false).map(String.init) })
    }

    public func apply(to m: inout Manifest) throws {
        var passwd = try Self.database(m, "/etc/passwd", required: true)
        var group = try Self.database(m, "/etc/group", required: true)
        var shadow = try Self.database(m, "/etc/shadow", required: true)
        var gshadow = try Self.database(m, "/etc/gshadow", required: false)
        var groupMembers = Members(), gshadowMembers = Members()
        var hashes: [String: String] = [:]
        func fail(_ u: User, _ message: String) -> Failure { Failure(file: file, line: u.line, message: message) }
        // Ids are only ever added: the lowest free one of a range never goes down, so each range's
        // search goes on from where the last one stopped.
        var searchFrom: [String: UInt32] = [:]
        func free(_ range: ClosedRange<UInt32>, _ used: [UInt32: String], _ u: User, _ what: String) throws -> UInt32 {
            let key = "\(what) \(range.lowerBound)"
            var v = searchFrom[key] ?? range.lowerBound
            while v <= range.upperBound, used[v] != nil { v += 1 }
            searchFrom[key] = v
            guard v <= range.upperBound else { throw fail(u, "no free \(what) left in \(range)") }
            return v
        }
        func addGroup(_ name: String, _ wanted: Int64, _ u: User) throws {
            if let existing = group.id(name) {
                if wanted > 0, UInt32(wanted) != existing {
                    throw fail(u, "group '\(name)' exists with gid \(existing), the table asks for \(wanted)")
                }
                return
            }
            let gid: UInt32
            if wanted > 0 {
                gid = UInt32(wanted)
                if let other = group.byID[gid] {
                    throw fail(u, "gid \(gid) for group '\(name)' is already group '\(other)'")
                }
            } else {
                gid = try free(wanted == -2 ? Self.user : Self.system, group.byID, u, "gid")
            }
            group.upsert([name, "x", String(gid), ""])
            if gshadow.path != nil { gshadow.upsert([name, "*", "", ""]) }
        }
        // Primary groups: fixed gids first, then automatic ones; then extra groups.
        for u in users where u.gid > 0 { try addGroup(u.group, u.gid, u) }
        for u in users where u.gid < 0 { try addGroup(u.group, u.gid, u) }
        for u in users {
            let range: Int64 = u.uid < 0 ? u.uid : (u.uid <= 999 ? -1 : -2)
            for g in u.groups { try addGroup(g, range, u) }
        }
        var homes: [(String, UInt32, UInt32, User)] = []
        for u in users.filter({ $0.uid > 0 }) + users.filter({ $0.uid < 0 }) where u.name != "-" {
            guard let gid = group.id(u.group) else { throw fail(u, "group '\(u.group)' missing") }
            var uid: UInt32
            if let i = passwd.index(u.name), passwd[i].count > 3, let old = UInt32(passwd.lines[i][2]) {
                if u.uid > 0, UInt32(u.uid) != old { throw fail(u, "user '\(u.name)' exists with uid \(old), the table asks for \(u.uid)") }
                if passwd.lines[i][3] != String(gid) { throw fail(u, "user '\(u.name)' exists with gid \(passwd.lines[i][3]), the table gives group \(u.group) (\(gid))") }
                uid = old
            } else if u.uid > 0 {
                uid = UInt32(u.uid)
                if let other = passwd.byID[uid] {
                    throw fail(u, "uid \(uid) for '\(u.name)' is already user '\(other)'")
                }
            } else {
                uid = try free(u.uid == -2 ? Self.user : Self.system, passwd.byID, u, "uid")
            }
            let home = u.home == "-" ? "/" : u.home
            passwd.upsert([u.name, "x", String(uid), String(gid), u.comment, home, u.shell])
            shadow.upsert([u.name, try password(u, m.sourceDateEpoch, cache: &hashes), "", "", "", "", "", "", ""])
            for g in u.groups {
                guard let i = group.index(g) else { continue }
                groupMembers.add(u.name, toLine: i, of: group)
                if gshadow.path != nil, let j = gshadow.index(g) { gshadowMembers.add(u.name, toLine: j, of: gshadow) }
            }
            if u.home != "-" { homes.append((u.home, uid, gid, u)) }
        }
        groupMembers.write(into: &group)
        gshadowMembers.write(into: &gshadow)
        let source = "users table \(file)"
        func write(_ db: Database, _ mode: UInt32) throws {
            guard let path = db.path else { return }
            if m[path] != nil {
                m.update(path) { $0.content = .bytes(db.text) }
            } else {
                var e = Manifest.Entry(path: path, kind: .file, mode: mode, source: source)
                e.content = .bytes(db.text)
                e.mtime = m.sourceDateEpoch
                try m.add(e)
            }
        }
        try write(passwd, 0o644)
        try write(group, 0o644)
        try write(shadow, 0o600)
        try write(gshadow, 0o600)
        try applyHomes(homes, source: source, to: &m)
    }

    /// Creates every home and gives everything in it to its user, in one pass over the image: an
    /// entry inside several homes (one nested in another) belongs to the last of them in order.
    func applyHomes(_ homes: [(String, UInt32, UInt32, User)], source: String, to m: inout Manifest) throws {
        guard !homes.isEmpty else { return }
        var owner: [String: (order: Int, uid: UInt32, gid: UInt32)] = [:]
        for (k, (home, uid, gid, u)) in homes.enumerated() {
            let p = try m.mkdir(home, source: "\(source):\(u.line)")
            owner[p] = (k, uid, gid)
        }
        for path in m.entries.keys {
            var best: (order: Int, uid: UInt32, gid: UInt32)?
            var p = path
            while true {
                if let o = owner[p], o.order > (best?.order ?? -1) { best = o }
                guard p != "/", let slash = p.lastIndex(of: "/") else { break }
                p = slash == p.startIndex ? "/" : String(p[..<slash])
            }
            guard let b = best else { continue }
            m.update(path) {
                $0.uid = b.uid
                $0.gid = b.gid
            }
        }
    }

    /// The shadow field for `u`'s password; clear-text ones hashed once per user and text.
    func password(_ u: User, _ epoch: Int64, cache: inout [String: String]) throws -> String {
        let p = u.password
        if p == "-" { return "" }
        let (locked, clear): (Bool, String)
        if p.hasPrefix("!=") {
            (locked, clear) = (true, String(p.dropFirst(2)))
        } else if p.hasPrefix("=") {
            (locked, clear) = (false, String(p.dropFirst()))
        } else {
            return p
        }
        let key = u.name + "\u{0}" + clear
        if cache[key] == nil {
            guard cache.count < Self.maxHashedPasswords else {
                throw Failure(file: file, line: u.line, message: "password: expected at most \(Self.maxHashedPasswords) clear-text (=…) passwords in one table (each costs a SHA-512 crypt), found more: give the others hashed ($6$…)")
            }
            cache[key] = hash(clear, u, epoch)
        }
        return (locked ? "!" : "") + (cache[key] ?? "")
    }

    func hash(_ clear: String, _ u: User, _ epoch: Int64) -> String {
        SHA512Crypt.hash(password: Array(clear.utf8), salt: SHA512Crypt.salt(seed: Array("flashsmith:\(u.name):\(epoch)".utf8)))
    }
}

extension UsersTable.Database {
    subscript(_ i: Int) -> [String] { lines[i] }
}

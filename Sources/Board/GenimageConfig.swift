import FlashsmithCore

/// A genimage.cfg, read as genimage 16–19 reads it (libconfuse's syntax, genimage's option tables),
/// strictly: an unknown option or section is an error naming the file, the line and the nearest
/// valid option; every size is checked where it is read.
/// ```
/// include("flash.cfg")                     # spliced in here (--includepath dirs, then the cwd)
/// image sdcard.img {                       # a titled section; one image-type section inside
///     hdimage { partition-table-type = "gpt" gpt-location = 64K }
///     partition boot {                     # partitions: titled, any number
///         image = "boot.vfat"  size = 32M  bootable = true
///     }
/// }
/// image boot.vfat { vfat { files = { "Image", 'boot.scr' } file dtb/x.dtb { image = "x.dtb" } } size = 32M }
/// ```
/// Strings are unquoted words, `"…"` (C escapes, `${VAR}` and `${VAR:-default}` expanded) or
/// `'…'` (verbatim); a whole unquoted `${VAR}` is expanded too; an unset variable is empty, as in
/// libconfuse. Comments: `#`, `//`, `/* … */`. Lists: `= { a, b }`, `= a`, `+= …` appends.
/// Sizes: genimage's `strtoull(…, 0)` number (0x hex, leading-0 octal) and one suffix k/K, M, G
/// (×1024ⁿ) or s (×512), `%` only for an image's size; anything after the suffix is refused
/// (genimage would ignore it: `64MiB` is 64M there).
public struct GenimageConfig: Sendable {
    /// Where something was written: the file (as the config or include named it) and its line.
    public struct Location: Sendable, Equatable, CustomStringConvertible {
        public var file: String
        public var line: Int
        public var description: String { "\(file):\(line)" }
    }

    /// `key = value` (a string) or a list option's values.
    public struct Option: Sendable, Equatable {
        public var name: String
        public var values: [String]
        public var at: Location
        public var string: String { values.last ?? "" }
    }

    /// A section: `image NAME { … }`, `hdimage { … }`, `partition NAME { … }`, `flash NAME { … }`.
    public struct Section: Sendable, Equatable {
        public var kind: String
        public var title: String?
        public var at: Location
        /// In the order written; a repeated scalar option: the last one counts (as in libconfuse).
        public var options: [Option] = []
        public var sections: [Section] = []

        public func option(_ name: String) -> Option? { options.last { $0.name == name } }
        public func string(_ name: String) -> String? { option(name)?.string }
        /// A list option's values (a `+=` appends; `=` starts over, as in libconfuse).
        public func list(_ name: String) -> [String] { option(name)?.values ?? [] }
        public func sections(_ kind: String) -> [Section] { sections.filter { $0.kind == kind } }
        /// A boolean option (validated when read), else `default`.
        public func bool(_ name: String, default d: Bool = false) -> Bool {
            guard let s = string(name) else { return d }
            return GenimageConfig.boolean(s) ?? d
        }
        /// What the section is called in messages: `image 'sdcard.img'`, `partition 'boot'`.
        public var label: String { title.map { "\(kind) '\($0)'" } ?? kind }
    }

    /// A refusal: `FILE:LINE: what was expected, what was found`.
    public struct Failure: FlashsmithError, Equatable {
        public var message: String
        public var category: ErrorCategory = .data
        public var description: String { message }
        public init(_ at: Location, _ message: String, category: ErrorCategory = .data) {
            self.message = "\(at): \(message)"
            self.category = category
        }
        public init(message: String, category: ErrorCategory) {
            self.message = message
            self.category = category
        }
    }

    /// Limits far beyond real configs; they keep a hostile file from costing much.
    public enum Limits {
        public static let fileBytes = 4 << 20
        /// libconfuse's MAX_INCLUDE_DEPTH.
        public static let includeDepth = 10
        public static let sections = 100_000
        public static let listValues = 100_000
    }

    /// The whole file: its top-level `image`, `flash` and `config` sections.
    public var root: Section
    public var images: [Section] { root.sections("image") }
    public var flashTypes: [Section] { root.sections("flash") }
    /// The `config { … }` section's options (rootpath, inputpath, … and gpt-shortcuts).
    public var settings: Section? { root.sections("config").last }

    /// Reads `path`; `environment` expands `${VAR}`; `includePaths` are searched for include()d
    /// files before the current folder (genimage's --includepath).
    public static func load(_ path: String, environment: [String: String], includePaths: [String] = []) throws -> GenimageConfig {
        var lexer = GenimageLexer(environment: environment, includePaths: includePaths)
        try lexer.push(file: path, at: nil)
        var parser = GenimageParser(lexer: lexer)
        return GenimageConfig(root: try parser.parseFile())
    }

    /// Parses `text` as if read from `source` (tests, fuzzing); include()d files are read from disk
    /// (`confinedTo`: only from that folder, whatever the name says).
    public static func parse(_ text: String, source: String, environment: [String: String] = [:], includePaths: [String] = [], confinedTo: String? = nil) throws -> GenimageConfig {
        var lexer = GenimageLexer(environment: environment, includePaths: includePaths)
        lexer.confinedTo = confinedTo
        try lexer.push(bytes: Array(text.utf8), name: source, at: nil)
        var parser = GenimageParser(lexer: lexer)
        return GenimageConfig(root: try parser.parseFile())
    }

    // MARK: Values as genimage reads them

    /// libconfuse's booleans (case-insensitive), else nil.
    public static func boolean(_ s: String) -> Bool? {
        switch s.lowercased() {
        case "true", "yes", "on": return true
        case "false", "no", "off": return false
        default: return nil
        }
    }

    /// A C integer as strtol(…, 0) reads it whole (libconfuse's CFG_INT): sign, 0x hex, 0 octal.
    public static func integer(_ s: String) -> Int? {
        var t = Substring(s)
        var negative = false
        if let c = t.first, c == "-" || c == "+" {
            negative = c == "-"
            t = t.dropFirst()
        }
        guard let v = unsignedNumber(t), v.rest.isEmpty else { return nil }
        return negative ? -v.value : v.value
    }

    /// Digits of strtoull(…, 0) and what follows them; nil when there are none or they overflow.
    static func unsignedNumber(_ t: Substring) -> (value: Int, rest: Substring)? {
        var radix = 10
        var digits = t
        if t.hasPrefix("0x") || t.hasPrefix("0X") {
            radix = 16
            digits = t.dropFirst(2)
        } else if t.hasPrefix("0") {
            radix = 8
        }
        let end = digits.firstIndex { !($0.isASCII && ($0.hexDigitValue.map { $0 < radix } ?? false)) } ?? digits.endIndex
        let body = digits[..<end]
        guard !body.isEmpty else { return nil }
        var value = 0
        for c in body {
            let (m, o1) = value.multipliedReportingOverflow(by: radix)
            let (a, o2) = m.addingReportingOverflow(c.hexDigitValue ?? 0)
            guard !o1, !o2 else { return nil }
            value = a
        }
        return (value, digits[end...])
    }

    /// A size as genimage's strtoul_suffix reads it (an empty string is 0). `percent`: `%` is
    /// allowed (an image's size) and reported.
    public static func size(_ s: String, allowPercent: Bool = false) throws(SizeError) -> (bytes: Int, percent: Bool) {
        if s.isEmpty { return (0, false) }
        guard let (v, rest) = unsignedNumber(Substring(s)) else {
            throw SizeError(reason: s.first.map { $0 == "-" || $0 == "+" || $0 == " " } == true ? "expected a number without sign or blanks" : "expected a number (1048576, 0x100000, 1M)")
        }
        let multipliers: [String: Int] = ["": 1, "k": 1 << 10, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "s": 512]
        if rest == "%" {
            guard allowPercent else { throw SizeError(reason: "'%' is only for an image's size (filled from a folder)") }
            return (v, true)
        }
        guard let m = multipliers[String(rest)] else {
            if let first = rest.first, multipliers[String(first)] != nil {
                throw SizeError(reason: "'\(rest.dropFirst())' after the suffix '\(first)' (genimage ignores it; write \(s.prefix(s.count - rest.count + 1)))")
            }
            throw SizeError(reason: "unknown suffix '\(rest)' (expected k, M, G or s)")
        }
        let (bytes, overflow) = v.multipliedReportingOverflow(by: m)
        guard !overflow else { throw SizeError(reason: "too large") }
        return (bytes, false)
    }

    public struct SizeError: Error, Equatable {
        public var reason: String
    }
}

// MARK: - Option tables (genimage's, v16 to v19)

/// What a section takes: options by kind and the sections nested in it.
struct GenimageSchema: Sendable {
    enum Kind: Sendable { case string, integer, bool, list, size, imageSize, function }
    var options: [String: Kind]
    var sections: [String: GenimageSectionSchema] = [:]
    /// `gpt-shortcuts { name = "guid" }`: any key.
    var anyKey = false

    var names: [String] { (Array(options.keys) + Array(sections.keys)).sorted() }
}

struct GenimageSectionSchema: Sendable {
    var titled: Bool
    var body: GenimageSchema
}

extension GenimageSchema {
    static let partition = GenimageSchema(options: [
        "offset": .size, "size": .size, "align": .size, "partition-type": .integer, "bootable": .bool, "forced-primary": .bool, "read-only": .bool,
        "hidden": .bool, "no-automount": .bool, "fill": .bool, "sparse": .bool, "image": .string, "holes": .list, "imageoffset": .size, "autoresize": .bool,
        "in-partition-table": .bool, "partition-uuid": .string, "partition-type-uuid": .string,
    ])

    static let fileSection = GenimageSchema(options: ["image": .string])
    static let raucFile = GenimageSchema(options: ["image": .string, "offset": .size])

    /// Each image type's own options (genimage's image-*.c tables).
    static let imageTypes: [String: GenimageSchema] = [
        "android-sparse": GenimageSchema(options: ["image": .string, "block-size": .size, "fill-holes": .bool, "add-crc": .bool]),
        "btrfs": GenimageSchema(options: ["label": .string, "extraargs": .string]),
        "cpio": GenimageSchema(options: ["format": .string, "extraargs": .string, "compress": .string]),
        "cramfs": GenimageSchema(options: ["extraargs": .string]),
        "custom": GenimageSchema(options: ["exec": .string]),
        "erofs": GenimageSchema(options: ["extraargs": .string, "label": .string, "fs-timestamp": .string]),
        "ext2": ext, "ext3": ext, "ext4": ext,
        "f2fs": GenimageSchema(options: ["extraargs": .string, "label": .string]),
        "file": GenimageSchema(options: ["name": .string, "copy": .bool, "holes": .list]),
        "fip": GenimageSchema(options: Dictionary(uniqueKeysWithValues: fipOptions.map { ($0, $0 == "tos-fw" ? Kind.list : .string) })),
        "fit": GenimageSchema(options: ["keydir": .string, "its": .string]),
        "flash": GenimageSchema(options: [:]),
        "hdimage": GenimageSchema(options: [
            "align": .size, "disk-signature": .string, "disk-uuid": .string, "partition-table": .bool, "extended-partition": .integer,
            "partition-table-type": .string, "gpt": .bool, "gpt-location": .size, "gpt-no-backup": .bool, "fill": .bool,
        ]),
        "iso": GenimageSchema(options: ["boot-image": .string, "bootargs": .string, "extraargs": .string, "input-charset": .string, "volume-id": .string]),
        "jffs2": GenimageSchema(options: ["extraargs": .string]),
        "mdraid": GenimageSchema(options: [
            "label": .string, "level": .integer, "devices": .integer, "role": .integer, "timestamp": .integer, "raid-uuid": .string, "disk-uuid": .string,
            "image": .string, "parent": .string,
        ]),
        "qemu": GenimageSchema(options: ["format": .string, "extraargs": .string]),
        "rauc": GenimageSchema(
            options: ["extraargs": .string, "files": .list, "key": .string, "cert": .string, "keyring": .string, "intermediate": .list, "manifest": .string],
            sections: ["file": GenimageSectionSchema(titled: true, body: raucFile)]),
        "squashfs": GenimageSchema(options: ["extraargs": .string, "compression": .string, "block-size": .size]),
        "tar": GenimageSchema(options: [:]),
        "ubi": GenimageSchema(options: ["extraargs": .string]),
        "ubifs": GenimageSchema(options: ["extraargs": .string, "max-size": .size, "space-fixup": .bool]),
        "verity": GenimageSchema(options: ["image": .string, "extraargs": .string]),
        "verity-sig": GenimageSchema(options: ["image": .string, "cert": .string, "key": .string]),
        "vfat": GenimageSchema(
            options: ["extraargs": .string, "label": .string, "files": .list], sections: ["file": GenimageSectionSchema(titled: true, body: fileSection)]),
    ]

    static let ext = GenimageSchema(options: [
        "root-owner": .string, "extraargs": .string, "features": .string, "label": .string, "fs-timestamp": .string, "use-mke2fs": .bool, "usage-type": .string,
        "mke2fs-conf": .string, "mke2fs_conf": .string,
    ])

    static let fipOptions = [
        "extraargs", "tos-fw", "scp-fwu-cfg", "ap-fwu-cfg", "fwu", "fwu-cert", "tb-fw", "scp-fw", "soc-fw", "nt-fw", "fw-config", "hw-config", "tb-fw-config",
        "soc-fw-config", "tos-fw-config", "nt-fw-config", "rot-cert", "trusted-key-cert", "scp-fw-key-cert", "soc-fw-key-cert", "tos-fw-key-cert",
        "nt-fw-key-cert", "tb-fw-cert", "scp-fw-cert", "soc-fw-cert", "tos-fw-cert", "nt-fw-cert", "sip-sp-cert", "plat-sp-cert",
    ]

    static let image: GenimageSchema = {
        var s = GenimageSchema(options: [
            "name": .string, "size": .imageSize, "mountpoint": .string, "srcpath": .string, "empty": .bool, "temporary": .bool, "exec-pre": .string,
            "exec-post": .string, "flashtype": .string, "include": .function,
        ])
        s.sections["partition"] = GenimageSectionSchema(titled: true, body: partition)
        for (name, body) in imageTypes { s.sections[name] = GenimageSectionSchema(titled: false, body: body) }
        return s
    }()

    static let flashType = GenimageSchema(options: [
        "pebsize": .size, "lebsize": .size, "numpebs": .size, "minimum-io-unit-size": .size, "vid-header-offset": .size, "sub-page-size": .size,
    ])

    /// genimage's global options (each also --NAME and GENIMAGE_NAME), and gpt-shortcuts.
    static let settings: GenimageSchema = {
        let names = [
            "loglevel", "rootpath", "tmppath", "inputpath", "outputpath", "includepath", "configdump", "config", "cpio", "dd", "debugfs", "e2fsck",
            "genext2fs", "genisoimage", "mcopy", "mmd", "mkcramfs", "mkdosfs", "mke2fs", "mkfserofs", "mkfsjffs2", "mkfsf2fs", "mkfsfbtrfs", "openssl",
            "sloadf2fs", "mkfsubifs", "mksquashfs", "qemu-img", "randomseed", "rauc", "tar", "tune2fs", "ubinize", "veritysetup", "fiptool", "mdadm",
        ]
        var s = GenimageSchema(options: Dictionary(uniqueKeysWithValues: names.map { ($0, Kind.string) }))
        s.sections["gpt-shortcuts"] = GenimageSectionSchema(titled: false, body: GenimageSchema(options: [:], anyKey: true))
        return s
    }()

    static let top = GenimageSchema(
        options: ["include": .function],
        sections: [
            "image": GenimageSectionSchema(titled: true, body: image), "flash": GenimageSectionSchema(titled: true, body: flashType),
            "config": GenimageSectionSchema(titled: false, body: settings),
        ])
}

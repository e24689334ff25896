import FlashsmithCore
#if canImport(Glibc)
import Glibc
#endif

/// `flashsmith import genimage`: a genimage.cfg's disk (hdimage) or flash image as a board folder
/// that builds the same layout: board.yaml with every offset and size explicit (genimage's
/// placement, ``GenimageDiskLayout``), the input files it names copied in (or referred to), and a
/// rootfs spec per staged folder an ext4 or squashfs is filled from (an overlay of that folder,
/// owned by root as genimage under fakeroot sees it).
///
/// | genimage | board.yaml |
/// |---|---|
/// | hdimage partition-table-type gpt / mbr, size, align, gpt-location, disk-uuid, disk-signature | flash: {type: disk, …} |
/// | partition offset, size, align, autoresize (computed as genimage does) | offset:, size: |
/// | partition-type (MBR byte), partition-type-uuid (GPT, genimage's shortcuts), partition-uuid, bootable, in-partition-table | type:, uuid:, bootable:, in-table: |
/// | file (implicit or explicit) | content: {file: …} |
/// | vfat label, files, file NAME { image } | content: {vfat: {label, files: […]}} |
/// | ext2/3/4 from rootpath + mountpoint or srcpath, label, empty | content: {ext4: {spec, label} or {empty: true}} |
/// | squashfs compression | content: {squashfs: {spec, compression}} |
/// | flash + flashtype (NAND/NOR geometry), ubi volumes of ubifs/file images | flash: {type: nand/nor}, content: {ubi: […]} |
///
/// Whatever has no counterpart (extraargs, features, GPT flags other than bootable, holes,
/// exec-pre…) is one line each in ``Output/notMapped``: `FILE:LINE: image 'x' option 'y' is not
/// mapped: why`.
public struct GenimageImport {
    public typealias Failure = GenimageConfig.Failure
    public typealias Section = GenimageConfig.Section

    public struct Options: Sendable {
        /// genimage's --rootpath, --inputpath (else the config's `config {}`, GENIMAGE_ROOTPATH…, `root`, `input`).
        public var rootPath: String?
        public var inputPath: String?
        /// Which image becomes the board (needed when the config has several top-level images).
        public var image: String?
        /// Refer to input files where they are (relative to the board) instead of copying them in.
        public var reference = false
        public var environment: [String: String] = [:]
        /// The board folder being written (paths in it are made relative to it).
        public var board: String
        /// What relative paths on the command line and in the config are relative to.
        public var cwd: String

        public init(board: String, cwd: String) {
            self.board = board
            self.cwd = cwd
        }
    }

    public struct Output: Sendable {
        public var boardYAML = ""
        /// Rootfs specs to write beside board.yaml: (file name, text).
        public var specs: [(name: String, text: String)] = []
        /// Input files to copy in: (source path, path inside the board folder).
        public var copies: [(from: String, to: String)] = []
        /// One line per option or image that has no counterpart in the board.
        public var notMapped: [String] = []
        /// The image the board describes.
        public var image = ""
    }

    let config: GenimageConfig
    let options: Options
    let rootPath: String
    let inputPath: String
    let board: String
    var out = Output()
    var copied: [String: String] = [:]
    var copiedTo = Set<String>()
    var specFor: [String: String] = [:]
    var noted = Set<String>()
    /// The first image of each name (genimage's image_get).
    let images: [String: Section]
    /// The images with a mountpoint below /: genimage moves those folders out of the root it stages.
    let mountpointImages: [Section]
    /// `config { gpt-shortcuts { name = "guid" } }`.
    let gptShortcuts: [String: String]

    /// The board for `config`'s disk or flash image.
    public static func map(_ config: GenimageConfig, options: Options) throws -> Output {
        var m = GenimageImport(config: config, options: options)
        try m.run()
        return m.out
    }

    init(config: GenimageConfig, options: Options) {
        self.config = config
        self.options = options
        func setting(_ name: String, _ given: String?, _ fallback: String) -> String {
            given ?? config.settings?.string(name) ?? options.environment["GENIMAGE_\(name.uppercased())"] ?? fallback
        }
        rootPath = Self.absolute(setting("rootpath", options.rootPath, "root"), cwd: options.cwd)
        inputPath = Self.absolute(setting("inputpath", options.inputPath, "input"), cwd: options.cwd)
        board = Self.absolute(options.board, cwd: options.cwd)
        var byName: [String: Section] = [:]
        for i in config.images where byName[i.title ?? ""] == nil { byName[i.title ?? ""] = i }
        images = byName
        gptShortcuts = Dictionary(config.settings?.sections("gpt-shortcuts").last?.options.map { ($0.name, $0.string) } ?? [], uniquingKeysWith: { $1 })
        mountpointImages = config.images.filter { ($0.string("mountpoint").map { !$0.isEmpty && $0 != "/" }) ?? false }
    }

    // MARK: Choosing the image

    func image(named name: String) -> Section? { images[name] }

    static func type(of image: Section) -> Section? { image.sections.first { GenimageSchema.imageTypes[$0.kind] != nil } }

    /// The images another image names (partitions, vfat files): what is left are the outputs.
    var referenced: Set<String> {
        var names = Set<String>()
        for i in config.images {
            for p in i.sections("partition") { if let n = p.string("image") { names.insert(n) } }
            if let t = Self.type(of: i) {
                names.formUnion(t.list("files"))
                for f in t.sections("file") { if let n = f.string("image") { names.insert(n) } }
            }
        }
        return names
    }

    func chooseImage() throws -> Section {
        var seen: [String: GenimageConfig.Location] = [:]
        for i in config.images {
            if let first = seen[i.title ?? ""] { throw Failure(i.at, "image '\(i.title ?? "")' is defined again (first on line \(first.line) of \(first.file))") }
            seen[i.title ?? ""] = i.at
        }
        let boards = config.images.filter { ["hdimage", "flash"].contains(Self.type(of: $0)?.kind ?? "") }
        if let wanted = options.image {
            guard let i = image(named: wanted) else {
                throw Failure(message: "--image \(wanted): no such image in the config; \(Spelling.hint(for: wanted, among: config.images.compactMap(\.title)))", category: .usage)
            }
            guard boards.contains(where: { $0.title == wanted }) else {
                throw Failure(i.at, "image '\(wanted)' is a \(Self.type(of: i)?.kind ?? "?") image: a board is an hdimage (a disk) or a flash image")
            }
            return i
        }
        let named = referenced
        let outputs = boards.filter { !named.contains($0.title ?? "") }
        let candidates = outputs.isEmpty ? boards : outputs
        guard let first = candidates.first else {
            throw Failure(message: "\(config.root.at.file): no hdimage or flash image: nothing to make a board of (its images: \(config.images.compactMap(\.title).joined(separator: ", ")))", category: .data)
        }
        guard candidates.count == 1 else {
            throw Failure(message: "\(config.root.at.file): \(candidates.count) disk/flash images (\(candidates.compactMap(\.title).joined(separator: ", "))): give --image NAME", category: .usage)
        }
        return first
    }

    mutating func run() throws {
        let top = try chooseImage()
        out.image = top.title ?? ""
        guard let type = Self.type(of: top) else { return }
        var yaml = ["# Made by flashsmith import genimage from \(config.root.at.file) (image '\(out.image)').", "name: \(boardName(top))"]
        notMappedCommon(top)
        if type.kind == "hdimage" {
            yaml += try disk(top, type)
        } else {
            yaml += try flashChip(top)
        }
        out.boardYAML = yaml.joined(separator: "\n") + "\n"
    }

    /// The image's name without its extension, when it is a valid board name; else the folder's.
    func boardName(_ image: Section) -> String {
        let t = image.title ?? ""
        let stem = t.split(separator: "/").last.map { s in s.contains(".") ? String(s[..<(s.lastIndex(of: ".") ?? s.endIndex)]) : String(s) } ?? t
        if BoardLayout.nameProblem(stem) == nil { return stem }
        let folder = Self.baseName(board)
        return BoardLayout.nameProblem(folder) == nil ? folder : "board"
    }

    // MARK: Disks

    mutating func disk(_ image: Section, _ hd: Section) throws -> [String] {
        let layout = try GenimageDiskLayout(image: image, hdimage: hd, childSize: { name, at in try childSize(name, at: at) }) { name in
            guard let img = self.image(named: name), let t = Self.type(of: img), t.kind == "file" else { return [] }
            return try GenimageDiskLayout.holes(t)
        }
        var table = layout.table
        switch layout.table {
        case .none:
            throw Failure(hd.option("partition-table-type")?.at ?? hd.at, "image '\(out.image)': partition-table-type none is not mapped: a disk board has a table (gpt or mbr)")
        case .hybrid:
            note(hd.option("partition-table-type")?.at ?? hd.at, "image '\(out.image)' option 'partition-table-type' is not mapped: hybrid is written as gpt (the MBR's extra entries are not)")
            table = .gpt
        default: break
        }
        var size = layout.size
        if size % GenimageDiskLayout.sector != 0 || size < 32 << 10 {
            let rounded = max(GenimageDiskLayout.roundUp(size, GenimageDiskLayout.sector), 32 << 10)
            note(image.option("size")?.at ?? image.at, "image '\(out.image)': the disk is \(size) bytes, rounded up to \(rounded) (a board's disk is whole sectors, at least 32 KiB)")
            size = rounded
        }
        var y = ["flash:", "  type: disk", "  size: \(ByteSize(bytes: size))", "  partition-table: \(table.rawValue)", "  align: \(ByteSize(bytes: layout.align))"]
        if table == .gpt {
            if let u = hd.option("disk-uuid") {
                guard GenimageGPTTypes.isGUID(u.string) else { throw Failure(u.at, "hdimage: disk-uuid '\(u.string)': expected a UUID (8-4-4-4-12 hex digits)") }
                y.append("  disk-id: \(u.string.lowercased())")
            }
            if let s = hd.option("disk-signature") {
                guard layout.table == .hybrid else { throw Failure(s.at, "hdimage: disk-signature is only valid for mbr and hybrid partition-table-type") }
                note(s.at, "image '\(out.image)' option 'disk-signature' is not mapped: the hybrid MBR is written as a protective MBR")
            }
            if hd.option("gpt-location") != nil { y.append("  gpt-location: \(ByteSize(bytes: layout.gptLocation))") }
            if let n = hd.option("gpt-no-backup"), hd.bool("gpt-no-backup") { note(n.at, "image '\(out.image)' option 'gpt-no-backup' is not mapped: Flashsmith always writes the backup GPT") }
        } else {
            if let u = hd.option("disk-uuid") { throw Failure(u.at, "hdimage: disk-uuid is only valid for gpt and hybrid partition-table-type") }
            let sig = hd.option("disk-signature")
            if sig?.string != "random" {
                guard let v = GenimageConfig.integer(sig?.string ?? "0"), (0...0xFFFF_FFFF).contains(v) else {
                    throw Failure(sig?.at ?? hd.at, "hdimage: disk-signature '\(sig?.string ?? "")': expected a 32-bit number or random")
                }
                y.append("  disk-id: \(Self.hexDigits(v, 8))\(sig == nil ? "          # genimage's default" : "")")
            }
            if let g = hd.option("gpt-location") { note(g.at, "image '\(out.image)' option 'gpt-location' is not mapped: the table is mbr") }
        }
        if let e = hd.option("extended-partition"), layout.extendedPartition != 0 { note(e.at, "image '\(out.image)' option 'extended-partition' is not mapped: a disk board's MBR holds 4 primary partitions") }
        if layout.parts.contains(where: \.extended) {
            note(hd.at, "image '\(out.image)': more than 4 MBR partitions (genimage makes an extended partition) is not mapped: use gpt")
        }
        y.append("partitions:")
        for p in layout.parts { y += try diskPartition(p, table: table, layout: layout) }
        return y
    }

    mutating func diskPartition(_ p: GenimageDiskLayout.Part, table: GenimageDiskLayout.Table, layout: GenimageDiskLayout) throws -> [String] {
        let s = p.section
        let who = "image '\(out.image)' partition '\(p.name)'"
        let name = boardPartitionName(p.name, at: s.at, who: who)
        var size = p.size
        if !p.inTable, size % GenimageDiskLayout.sector != 0 { size = GenimageDiskLayout.roundUp(size, GenimageDiskLayout.sector) }
        var y = ["  - name: \(Self.scalar(name))", "    offset: \(ByteSize(bytes: p.offset))", "    size: \(ByteSize(bytes: size))"]
        if p.offset % GenimageDiskLayout.sector != 0 {
            note(s.option("offset")?.at ?? s.at, "\(who): offset \(p.offset) is not mapped: a board's partitions start on 512-byte sectors")
        }
        if p.inTable {
            if table == .gpt {
                if let t = s.option("partition-type"), layout.table != .hybrid { throw Failure(t.at, "\(who): 'partition-type' is only valid for mbr and hybrid partition-table-type") }
                let given = s.option("partition-type-uuid")
                guard let guid = GenimageGPTTypes.guid(given?.string ?? "L", custom: gptShortcuts) else {
                    throw Failure(given?.at ?? s.at, "\(who): partition-type-uuid '\(given?.string ?? "")': expected a UUID or one of genimage's shortcuts (L, S, H, U, R, V, F, linux, esp, fat32, root-arm64, …)")
                }
                y.append("    type: \(guid)\(given == nil ? "          # genimage's default, L (linux)" : "")")
                if let u = s.option("partition-uuid") {
                    guard GenimageGPTTypes.isGUID(u.string) else { throw Failure(u.at, "\(who): partition-uuid '\(u.string)': expected a UUID") }
                    y.append("    uuid: \(u.string.lowercased())")
                }
                for flag in ["hidden", "no-automount", "read-only"] where s.bool(flag) {
                    note(s.option(flag)?.at ?? s.at, "\(who) option '\(flag)' is not mapped: a board's GPT entries carry only the bootable flag")
                }
                if layout.table == .hybrid, let t = s.option("partition-type") { note(t.at, "\(who) option 'partition-type' is not mapped: hybrid MBR entries are not written") }
            } else {
                if let t = s.option("partition-type-uuid") { throw Failure(t.at, "\(who): 'partition-type-uuid' is only valid for gpt and hybrid partition-table-type") }
                if let t = s.option("partition-type") {
                    guard let v = GenimageConfig.integer(t.string), (0...255).contains(v) else { throw Failure(t.at, "\(who): partition-type '\(t.string)': expected a byte (0x83)") }
                    if v == 0 {
                        note(t.at, "\(who) option 'partition-type' is not mapped: type 0 marks an unused MBR entry; Flashsmith's type for the content is used")
                    } else {
                        y.append("    type: \(Self.hexDigits(v, 2))")
                    }
                } else {
                    note(s.at, "\(who): no partition-type: genimage writes type 0 (an unused entry); Flashsmith's type for the content is used")
                }
                if s.bool("forced-primary") { note(s.option("forced-primary")?.at ?? s.at, "\(who) option 'forced-primary' is not mapped: every MBR partition of a board is primary") }
                for flag in ["hidden", "no-automount", "read-only", "partition-uuid"] where s.option(flag) != nil {
                    note(s.option(flag)?.at ?? s.at, "\(who) option '\(flag)' is not mapped: it is for GPT")
                }
            }
            if s.bool("bootable") { y.append("    bootable: true") }
        } else {
            y.append("    in-table: false")
            for key in ["partition-type", "partition-type-uuid", "partition-uuid", "bootable"] where s.option(key) != nil {
                note(s.option(key)?.at ?? s.at, "\(who) option '\(key)' is not mapped: the partition is not in the table")
            }
        }
        if let o = s.option("imageoffset"), (try? GenimageConfig.size(o.string).bytes) != 0 {
            note(o.at, "\(who) option 'imageoffset' is not mapped: a board's file content starts at its first byte")
        }
        if let h = s.option("holes"), !h.values.isEmpty { note(h.at, "\(who) option 'holes' is not mapped: a board's raw region may not overlap the table") }
        if let image = p.image { y += try content(image, at: s.option("image")?.at ?? s.at, who: who, partitionSize: size, disk: true) }
        return y
    }

    /// A board partition name: genimage's, when the board accepts it; else made acceptable (a line).
    mutating func boardPartitionName(_ name: String, at: GenimageConfig.Location, who: String) -> String {
        if BoardLayout.nameProblem(name) == nil, name.utf16.count <= 36 { return name }
        var fixed = String(name.map { c in c.isASCII && (c.isLetter || c.isNumber || "_-.+".contains(c)) ? c : "-" }.prefix(36))
        while let c = fixed.first, c == "-" || c == "." { fixed.removeFirst() }
        if fixed.isEmpty { fixed = "part" }
        note(at, "\(who): the name is not mapped as is: a board's partition names are \(BoardLayout.nameRule), at most 36; named '\(fixed)'")
        return fixed
    }

    // MARK: Content

    /// The content a partition's `image = NAME` becomes (YAML lines under the partition).
    mutating func content(_ name: String, at: GenimageConfig.Location, who: String, partitionSize: Int, disk: Bool) throws -> [String] {
        guard let img = image(named: name), let type = Self.type(of: img) else {
            return ["    content: {file: \(Self.scalar(try input(name, at: at)))}"]
        }
        notMappedCommon(img)
        let label = "image '\(name)'"
        switch type.kind {
        case "file":
            if let h = type.option("holes"), !h.values.isEmpty { note(h.at, "\(label) option 'holes' is not mapped: a board's raw region may not overlap the table") }
            return ["    content: {file: \(Self.scalar(try input(type.string("name") ?? name, at: type.option("name")?.at ?? img.at)))}"]
        case "vfat" where disk:
            return try vfat(img, type, partitionSize: partitionSize)
        case "ext2" where disk, "ext3" where disk, "ext4" where disk:
            return try ext(img, type, partitionSize: partitionSize)
        case "squashfs" where disk:
            return try squashfs(img, type)
        case "ubi" where !disk:
            return try ubi(img, type)
        default:
            note(type.at, "\(label) (type \(type.kind)) is not mapped: \(disk ? "a disk partition holds vfat, ext4, squashfs or a file" : "a flash partition holds ubi or a file"); partition left empty")
            return []
        }
    }

    mutating func vfat(_ img: Section, _ t: Section, partitionSize: Int) throws -> [String] {
        let label = "image '\(img.title ?? "")'"
        var y = ["    content:", "      vfat:"]
        if let l = t.option("label"), !l.string.isEmpty {
            guard l.string.utf8.count <= 11 else { throw Failure(l.at, "\(label): vfat label '\(l.string)' is longer than 11 characters") }
            y.append("        label: \(Self.scalar(l.string))")
        }
        extraArgs(t, label)
        var files: [String] = []
        for f in t.sections("file") {
            guard let src = f.string("image") else { throw Failure(f.at, "\(label): file '\(f.title ?? "")' has no image = …") }
            if let path = try vfatSource(src, at: f.option("image")?.at ?? f.at, label) {
                files.append("{\(Self.scalar(f.title ?? "")): \(Self.scalar(path))}")
            }
        }
        let listAt = t.option("files")?.at ?? t.at
        for src in t.list("files") {
            guard let path = try vfatSource(src, at: listAt, label) else { continue }
            // mcopy puts it at the top, by its last name; written as {NAME: path}, which says so.
            files.append("{\(Self.scalar(Self.baseName(src))): \(Self.scalar(path))}")
        }
        if t.sections("file").isEmpty && t.list("files").isEmpty && !img.bool("empty") {
            note(t.at, "\(label): a vfat filled from the root path (no files) is not mapped: list its files (files = {…})")
        }
        if !files.isEmpty { y += ["        files:"] + files.map { "          - \($0)" } }
        sizeNote(img, label, partitionSize: partitionSize)
        return y
    }

    /// A vfat file's source: an input file (copied or referred to); another image: not mapped.
    mutating func vfatSource(_ src: String, at: GenimageConfig.Location, _ label: String) throws -> String? {
        if let other = image(named: src), let t = Self.type(of: other), t.kind != "file" {
            note(at, "\(label): file '\(src)' is image '\(src)' (type \(t.kind)), which is not mapped: a board's vfat files are files")
            return nil
        }
        let name = image(named: src).flatMap { Self.type(of: $0)?.string("name") } ?? src
        return try input(name, at: at)
    }

    mutating func ext(_ img: Section, _ t: Section, partitionSize: Int) throws -> [String] {
        let label = "image '\(img.title ?? "")'"
        if t.kind != "ext4" { note(t.at, "\(label) type '\(t.kind)' is not mapped: Flashsmith writes ext4 (the same files)") }
        var fields: [String] = []
        if img.bool("empty") {
            fields.append("empty: true")
        } else {
            fields.append("spec: \(Self.scalar(try spec(for: img)))")
        }
        if let l = t.option("label"), !l.string.isEmpty {
            if (1...16).contains(l.string.utf8.count), l.string.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) {
                fields.append("label: \(Self.scalar(l.string))")
            } else {
                note(l.at, "\(label) option 'label' is not mapped: a board's ext4 label is 1…16 printable ASCII characters")
            }
        }
        extraArgs(t, label)
        for key in ["features", "fs-timestamp", "usage-type", "mke2fs-conf", "mke2fs_conf"] {
            if let o = t.option(key) {
                let why = key == "fs-timestamp" ? "Flashsmith's ext4 times come from SOURCE_DATE_EPOCH" : key == "features" ? "Flashsmith's ext4 has its own feature set" : "Flashsmith writes ext4 itself, without mke2fs"
                note(o.at, "\(label) option '\(key)' is not mapped: \(why)")
            }
        }
        if let o = t.option("root-owner"), o.string != "0:0" { note(o.at, "\(label) option 'root-owner' is not mapped: the root folder is owned by 0:0 (the spec's overlay owner)") }
        sizeNote(img, label, partitionSize: partitionSize)
        return ["    content: {ext4: {\(fields.joined(separator: ", "))}}"]
    }

    static let squashfsCompressors = ["gzip", "xz", "zstd", "lz4", "lzo", "lzma"]

    mutating func squashfs(_ img: Section, _ t: Section) throws -> [String] {
        let label = "image '\(img.title ?? "")'"
        var fields = ["spec: \(Self.scalar(try spec(for: img)))"]
        let compression = (t.string("compression") ?? "gzip").lowercased()
        if Self.squashfsCompressors.contains(compression) {
            fields.append("compression: \(compression)")
        } else {
            note(t.option("compression")?.at ?? t.at, "\(label) option 'compression' is not mapped: '\(compression)' (a board's squashfs takes \(Self.squashfsCompressors.joined(separator: ", ")))")
        }
        if let b = t.option("block-size") { note(b.at, "\(label) option 'block-size' is not mapped: Flashsmith's squashfs uses its own block size") }
        extraArgs(t, label)
        return ["    content: {squashfs: {\(fields.joined(separator: ", "))}}"]
    }

    mutating func extraArgs(_ t: Section, _ label: String) {
        if let e = t.option("extraargs"), !e.string.trimmingSpaces().isEmpty {
            note(e.at, "\(label) option 'extraargs' is not mapped: '\(e.string)' are arguments to \(t.kind)'s tool, which Flashsmith does not run")
        }
    }

    /// A filesystem image smaller than its partition: Flashsmith's fills the partition.
    mutating func sizeNote(_ img: Section, _ label: String, partitionSize: Int) {
        guard let o = img.option("size"), let v = try? GenimageConfig.size(o.string, allowPercent: true), !v.percent, v.bytes > 0, v.bytes < partitionSize else { return }
        note(o.at, "\(label) option 'size' is not mapped: \(ByteSize(bytes: v.bytes)); Flashsmith's filesystem fills its partition (\(ByteSize(bytes: partitionSize)))")
    }

    /// exec-pre/exec-post: commands genimage runs; Flashsmith runs none.
    mutating func notMappedCommon(_ img: Section) {
        for key in ["exec-pre", "exec-post"] {
            if let o = img.option(key) { note(o.at, "image '\(img.title ?? "")' option '\(key)' is not mapped: Flashsmith runs no commands from a board") }
        }
    }

    // MARK: Files and folders

    /// The size genimage knows for a partition's image before building it.
    func childSize(_ name: String, at: GenimageConfig.Location) throws -> Int {
        if let img = image(named: name), let t = Self.type(of: img) {
            if let o = img.option("size") {
                let v: (bytes: Int, percent: Bool)
                do { v = try GenimageConfig.size(o.string, allowPercent: true) } catch { throw Failure(o.at, "image '\(name)': size '\(o.string)': \(error.reason)") }
                if v.percent { throw Failure(o.at, "image '\(name)': size \(o.string) depends on the folder genimage stages: not mapped; give the size in bytes (k, M, G)") }
                if v.bytes > BoardLayout.Limits.diskSize { throw Failure(o.at, "image '\(name)': size '\(o.string)': expected at most \(ByteSize(bytes: BoardLayout.Limits.diskSize))") }
                if v.bytes > 0 { return v.bytes }
            }
            if t.kind == "file" { return try FileIO.size(of: inputFile(t.string("name") ?? name, at: at)) }
            return 0
        }
        return try FileIO.size(of: inputFile(name, at: at))
    }

    /// Where genimage reads an input file: absolute as is, else in the input path; it must exist.
    func inputFile(_ name: String, at: GenimageConfig.Location) throws -> String {
        let path = name.hasPrefix("/") ? name : "\(inputPath)/\(name)"
        guard case .regular = FileIO.kind(of: path) else {
            throw Failure(at, "'\(name)': no such file (\(path)\(name.hasPrefix("/") ? "" : "; the input path is genimage's --inputpath"))", category: .noInput)
        }
        return path
    }

    /// An input file as the board names it: copied to input/NAME (or referred to where it is).
    mutating func input(_ name: String, at: GenimageConfig.Location) throws -> String {
        let path = Self.normalised(try inputFile(name, at: at))
        if options.reference { return Self.relative(from: board, to: path) }
        if let done = copied[path] { return done }
        let parts = name.split(separator: "/").map(String.init)
        var dest = "input/" + (name.hasPrefix("/") || parts.contains("..") || parts.contains(".") ? Self.baseName(path) : parts.joined(separator: "/"))
        var n = 2
        while copiedTo.contains(dest) {
            dest = "input/\(n)-" + Self.baseName(path)
            n += 1
        }
        copied[path] = dest
        copiedTo.insert(dest)
        out.copies.append((from: path, to: dest))
        return dest
    }

    /// The rootfs spec (its file name in the board) for the folder an ext4/squashfs/ubifs is filled from.
    mutating func spec(for img: Section) throws -> String {
        let label = "image '\(img.title ?? "")'"
        var folder = rootPath
        var what = "the root path"
        if let src = img.option("srcpath") {
            if let m = img.string("mountpoint"), !m.isEmpty, m != "/" { throw Failure(src.at, "\(label): Cannot specify both srcpath and mountpoint at the same time (genimage)") }
            folder = Self.absolute(src.string, cwd: options.cwd)
            what = "srcpath"
        } else if let m = img.option("mountpoint"), !m.string.isEmpty, m.string != "/" {
            folder = rootPath + "/" + m.string.drop { $0 == "/" }
            what = "mountpoint \(m.string)"
        } else {
            if let o = mountpointImages.first {
                let more = mountpointImages.count > 1 ? " and \(mountpointImages.count - 1) more" : ""
                note(img.at, "\(label): genimage leaves \(o.string("mountpoint") ?? "") empty in it (image '\(o.title ?? "")' takes that mountpoint)\(more); not mapped: the spec's overlay holds the whole root path")
            }
        }
        folder = Self.normalised(folder)
        guard FileIO.kind(of: folder) == .directory else {
            throw Failure(img.at, "\(label): \(what) \(folder) is not a folder (the root path is genimage's --rootpath)", category: .noInput)
        }
        if let name = specFor[folder] { return name }
        var name = folder == Self.normalised(rootPath) ? "rootfs.yaml" : "rootfs-\(Self.fileStem(img.title ?? "fs")).yaml"
        while out.specs.contains(where: { $0.name == name }) { name = "rootfs-\(out.specs.count + 1).yaml" }
        let text = """
            # Made by flashsmith import genimage: what \(config.root.at.file) fills \(label) with
            # (\(what)), a staged folder; owned by root, as genimage under fakeroot sees it.
            layers:
              - overlay: \(Self.scalar(Self.relative(from: board, to: folder)))

            """
        out.specs.append((name: name, text: text))
        specFor[folder] = name
        return name
    }

    mutating func note(_ at: GenimageConfig.Location, _ what: String) {
        let line = "\(at): \(what)"
        if noted.insert(line).inserted { out.notMapped.append(line) }
    }

    // MARK: Paths and YAML

    static func absolute(_ p: String, cwd: String) -> String { normalised(p.hasPrefix("/") ? p : "\(cwd)/\(p)") }

    /// `/a/./b/../c/` → `/a/c` (lexically).
    static func normalised(_ p: String) -> String {
        var parts: [Substring] = []
        for c in p.split(separator: "/") {
            if c == "." { continue }
            if c == "..", let last = parts.last, last != ".." {
                parts.removeLast()
                continue
            }
            parts.append(c)
        }
        return (p.hasPrefix("/") ? "/" : "") + parts.joined(separator: "/")
    }

    /// `to` as a path relative to the folder `from` (both absolute).
    static func relative(from: String, to: String) -> String {
        let a = normalised(from).split(separator: "/"), b = normalised(to).split(separator: "/")
        var common = 0
        while common < a.count, common < b.count, a[common] == b[common] { common += 1 }
        let up = Array(repeating: "..", count: a.count - common)
        let rest = b[common...].map(String.init)
        let r = (up + rest).joined(separator: "/")
        return r.isEmpty ? "." : r
    }

    /// The last component of a path.
    static func baseName(_ p: String) -> String { p.split(separator: "/").last.map(String.init) ?? p }

    static func fileStem(_ s: String) -> String {
        let base = Self.baseName(s)
        let cleaned = String(base.map { $0.isASCII && ($0.isLetter || $0.isNumber || "_-.".contains($0)) ? $0 : "-" })
        return cleaned.isEmpty ? "fs" : cleaned
    }

    /// A YAML scalar: plain when it cannot be read as anything but this string, else double-quoted.
    public static func scalar(_ s: String) -> String {
        let plainWords: Set<String> = ["true", "false", "yes", "no", "on", "off", "null", "~", "y", "n"]
        let ok = !s.isEmpty && s.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "_./+-".contains($0)) }
        if ok, let f = s.first, f.isLetter || f == "_" || f == "." || f == "/", !plainWords.contains(s.lowercased()) { return s }
        var q = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": q += "\\\""
            case "\\": q += "\\\\"
            case "\n": q += "\\n"
            case "\t": q += "\\t"
            default:
                if u.value < 0x20 || u.value == 0x7F {
                    q += "\\x" + (u.value < 0x10 ? "0" : "") + String(u.value, radix: 16)
                } else {
                    q.unicodeScalars.append(u)
                }
            }
        }
        return q + "\""
    }
}

extension GenimageImport {
    /// `0x0000abcd` (`digits` 8) or `0x0c` (2).
    static func hexDigits(_ v: Int, _ digits: Int) -> String {
        let h = String(v, radix: 16)
        return "0x" + String(repeating: "0", count: max(0, digits - h.count)) + h
    }
}

import BootImage
import Flash
import FlashsmithCore
import YAML

/// Reading board.yaml, strictly: every mapping takes only its own keys (a typo is an error naming
/// the file, the line and the nearest valid key), every number is checked against the geometry and
/// against sane limits before anything is computed from it, and names are checked where they are
/// read (they become file names, mtdparts= entries and words of U-Boot commands). `nand show` and
/// `build` load a board the same way, so both refuse the same boards with the same line.
extension BoardLayout {
    /// Limits on what a board may declare (far beyond real chips; they keep the arithmetic small).
    public enum Limits {
        public static let chipSize = 64 << 30
        public static let blocks = 1 << 20
        public static let eraseBlock = 64 << 20
        public static let norMinEraseBlock = 4 << 10
        public static let address = 1 << 48
        public static let badBlocksPer1024 = 768
        public static let qemuMemoryMiB = 1 << 20
        public static let nameLength = 63
        public static let idBytes = 8
        public static let ubiVolumes = 128
        /// A disk image (sparse where nothing is written): 2 TiB, MBR's limit with 512-byte sectors.
        public static let diskSize = 1 << 41
        public static let diskPartitions = 128
    }

    static let topKeys = [
        "name", "console", "bootargs", "override", "sysroot", "kernel", "busybox", "rootfs", "devicetrees", "arch", "qemu", "network", "boot", "flash", "partitions",
    ]
    static let nandKeys = ["type", "page", "oob", "erase-block", "chip", "sub-page", "ecc", "bad-blocks-per-1024", "mtd-id", "id-bytes", "bad-blocks"]
    static let norKeys = ["type", "base", "erase-block", "chip", "mtd-id"]
    static let partitionKeys = ["name", "size", "offset", "read-only", "content"]
    static let diskKeys = ["type", "size", "partition-table", "align", "disk-id", "gpt-location", "device"]
    static let diskPartitionKeys = ["name", "size", "offset", "type", "bootable", "uuid", "in-table", "content"]
    static let qemuKeys = ["system", "machine", "cpu", "memory", "firmware", "pflash"]

    /// `path`: a board.yaml, or the board's folder (layouts/NAME). `sysroot` replaces the board's own.
    public static func load(_ given: String, sysroot sysrootOverride: String? = nil) throws -> BoardLayout {
        let path = FileIO.kind(of: given) == .directory ? (given.hasSuffix("/") ? given : given + "/") + "board.yaml" : given
        let text = String(decoding: try FileIO.readAll(path), as: UTF8.self)
        guard let root = try YAML.parse(text, source: path), root.mapping != nil else { throw Failure(message: "\(path): expected a board description (a mapping), found nothing") }
        let r = BoardFileReader(path: path)
        try root.strictMapping(topKeys, in: "the board", source: path)
        guard let f = root["flash"] else { throw Failure(message: "\(path): 'flash:' (the geometry) is missing") }
        let flash = try r.flash(f)
        guard let list = root["partitions"]?.sequence, !list.isEmpty else { throw r.fail(root["partitions"] ?? root, "'partitions:' (a list) is missing") }
        if flash.kind == .disk, list.count > Limits.diskPartitions {
            throw r.fail(root["partitions"] ?? root, "partitions: \(list.count), expected at most \(Limits.diskPartitions) on a disk")
        }
        var parts: [Partition] = []
        var names: [String: Int] = [:]
        for p in list {
            let part = flash.kind == .disk ? try r.diskPartition(p) : try r.partition(p)
            if let first = names[part.name] {
                throw r.fail(p["name"] ?? p, "partition name '\(part.name)' is already used on line \(first): mtdparts= and the output's file names need each once")
            }
            names[part.name] = p.line
            parts.append(part)
        }
        var b = BoardLayout(name: try r.boardName(root), source: path, flash: flash, partitions: parts)
        b.console = try root["console"].map { try $0.text("console", source: path) }
        let sysroot = try sysrootOverride ?? root["sysroot"].map { try $0.text("sysroot", expected: "a path", source: path) }.map { $0.hasPrefix("/") ? $0 : "\(b.folder)/\($0)" }
        b.sysroot = sysroot
        /// `${sysroot}` expanded; other relative paths stay relative to the board's folder.
        func pathValue(_ key: String) throws -> String? {
            guard let n = root[key] else { return nil }
            let s = try n.text(key, expected: "a path", source: path)
            b.lines[key] = n.line
            return try b.expand(s, key: key, line: n.line)
        }
        b.kernel = try pathValue("kernel")
        b.rootfs = try pathValue("rootfs")
        b.busybox = try pathValue("busybox")
        b.extraBootargs = try root["bootargs"].map { try $0.text("bootargs", source: path) }
        if let a = root["arch"] {
            let s = try a.text("arch", expected: "an architecture (arm, arm64, riscv, x86_64, …)", source: path)
            guard UImageTables.lookup(UImageTables.arch, s) != nil else { throw r.fail(a, "arch: expected one of U-Boot's architectures (arm, arm64, riscv, x86_64, …), found '\(s)'") }
            b.arch = s
        }
        if let d = root["devicetrees"] {
            for n in d.sequence ?? [d] {
                guard let s = n.string else { throw r.fail(n, "devicetrees: expected paths, found \(n.kind)") }
                b.deviceTrees.append(try b.expand(s, key: "devicetrees", line: n.line))
                b.lines["devicetree \(b.deviceTrees.count - 1)"] = n.line
            }
        }
        if let q = root["qemu"] { b.qemu = try r.qemu(q, folder: b.folder) }
        try r.network(root, into: &b)
        if let o = root["override"] { b.overrides = try r.overrides(o, root: root, chipSize: flash.chipSize) }
        for n in f["bad-blocks"]?.sequence ?? [] {
            guard let v = n.integer, let block = Int(exactly: v), block < flash.blocks else {
                throw r.fail(n, "bad-blocks: expected block numbers below \(flash.blocks) (the chip's blocks), found \(n.kind)")
            }
            b.badBlocks.insert(block)
        }
        try b.resolve()
        return b
    }

    /// `${sysroot}/boot/vmlinuz-*` → the sysroot's path; a relative path → relative to the board's folder.
    func expand(_ s: String, key: String, line: Int) throws -> String {
        guard s.contains("${sysroot}") else { return s.hasPrefix("/") ? s : "\(folder)/\(s)" }
        guard let sysroot else { throw Failure(message: "\(source):\(line): \(key): '\(s)' names ${sysroot}, and the board has no sysroot: (nor was --sysroot given)") }
        guard s.hasPrefix("${sysroot}") else { throw Failure(message: "\(source):\(line): \(key): '\(s)': ${sysroot} can only start a path") }
        return s.replacing("${sysroot}", with: sysroot)
    }

    /// Fills in automatic offsets and `rest`, and checks every partition and its content against
    /// the geometry (all sizes are at most ``Limits/chipSize`` here: no sum overflows).
    mutating func resolve() throws {
        if flash.kind == .disk { return try resolveDisk() }
        let f = flash
        func fail(_ p: Partition, _ m: String) -> Failure { Failure(message: "\(source):\(p.line): partition '\(p.name)': \(m)") }
        var next = 0
        for i in partitions.indices {
            var p = partitions[i]
            if p.offset < 0 { p.offset = next }
            guard p.offset % f.eraseBlockSize == 0 else { throw fail(p, "offset \(hex(p.offset)) is not on an erase-block boundary (\(hex(f.eraseBlockSize)))") }
            guard p.offset >= next else { throw fail(p, "offset \(hex(p.offset)) overlaps '\(partitions[i - 1].name)', which ends at \(hex(next))") }
            guard p.offset < f.chipSize else { throw fail(p, "offset \(hex(p.offset)) is past the \(hex(f.chipSize)) chip") }
            if p.size < 0 {
                guard i == partitions.count - 1 else { throw fail(p, "only the last partition can be 'rest'") }
                p.size = f.chipSize - p.offset
            }
            guard p.size > 0, p.size % f.eraseBlockSize == 0 else { throw fail(p, "size \(hex(p.size)) is not a whole number of erase blocks (\(hex(f.eraseBlockSize)))") }
            guard p.offset + p.size <= f.chipSize else { throw fail(p, "ends at \(hex(p.offset + p.size)), past the \(hex(f.chipSize)) chip") }
            p.blocks = p.size / f.eraseBlockSize
            next = p.offset + p.size
            try check(content: p)
            partitions[i] = p
        }
    }

    /// What a partition's content needs from the geometry: an env within an erase block (one per
    /// copy), UBI's geometry rules and volumes within the partition.
    func check(content p: Partition) throws {
        func fail(_ m: String) -> Failure { Failure(message: "\(source):\(p.line): partition '\(p.name)': \(m)") }
        switch p.content {
        case let .env(_, redundant, size):
            let s = size ?? flash.eraseBlockSize
            guard s <= flash.eraseBlockSize else { throw fail("env size \(hex(s)) is larger than an erase block (\(hex(flash.eraseBlockSize)))") }
            let copies = redundant ? 2 : 1
            guard p.blocks >= copies else { throw fail("\(copies) env copies need \(copies) erase blocks, the partition has \(p.blocks)") }
        case let .ubi(volumes):
            do {
                _ = try UBIGeometry(pebSize: flash.eraseBlockSize, minIOSize: flash.pageSize, subpageSize: flash.subpageSize)
            } catch {
                throw fail("UBI on this flash: \(error)")
            }
            for v in volumes where (v.size ?? 0) > p.size {
                throw Failure(message: "\(source):\(v.line): UBI volume '\(v.name)': size \(hex(v.size ?? 0)) is larger than its partition '\(p.name)' (\(hex(p.size)))")
            }
        default: break
        }
    }

    /// The mtdparts= string the derived bootargs carries: the override's, else the layout's.
    public var bootargsMtdparts: String { overrides.mtdparts ?? mtdparts }

    /// Why `name` cannot name a partition, a board or a UBI volume, else nil: it goes into
    /// mtdparts= and the kernel command line (no `,` `:` `(` `)` or blanks), U-Boot commands and
    /// file names (no `/`, not starting with `-` or `.`).
    public static func nameProblem(_ name: String) -> String? {
        if name.isEmpty { return "it is empty" }
        if name.count > Limits.nameLength { return "it is longer than \(Limits.nameLength) characters" }
        if let c = name.first, c == "-" || c == "." { return "it starts with '\(c)'" }
        if let bad = name.first(where: { !($0.isASCII && ($0.isLetter || $0.isNumber || "_-.+".contains($0))) }) {
            return "it has '\(bad == " " ? "a space" : String(bad))'"
        }
        return nil
    }

    static let nameRule = "letters, digits and _ - . + (not starting with - or .)"
}

/// The readers for each part of board.yaml; every error is `FILE:LINE: what was expected, found what`.
struct BoardFileReader {
    typealias Failure = BoardLayout.Failure
    typealias Limits = BoardLayout.Limits
    let path: String

    func fail(_ n: YAMLNode, _ what: String) -> Failure { Failure(message: "\(path):\(n.line): \(what)") }

    /// A size (2048, 2KiB, 0x800) in `range`.
    func size(_ n: YAMLNode, _ key: String, in range: ClosedRange<Int> = 0...Limits.chipSize) throws -> Int {
        guard let s = n.string else { throw fail(n, "\(key): expected a size (2048, 2KiB, 0x800), found \(n.kind)") }
        do {
            return try ByteSize(parsing: s, in: range).bytes
        } catch {
            throw fail(n, "\(key): \(error)")
        }
    }

    /// A plain integer in `range`.
    func integer(_ n: YAMLNode, _ key: String, in range: ClosedRange<Int>) throws -> Int {
        guard let v = n.integer, let i = Int(exactly: v), range.contains(i) else {
            throw fail(n, "\(key): expected a number \(range.lowerBound)…\(range.upperBound), found \(n.kind)")
        }
        return i
    }

    /// A name (board, partition, UBI volume, mtd-id) checked by ``BoardLayout/nameProblem(_:)``.
    func name(_ n: YAMLNode, _ what: String) throws -> String {
        let s = try n.text(what, expected: "a name", source: path)
        if let problem = BoardLayout.nameProblem(s) { throw fail(n, "\(what) '\(s)': expected \(BoardLayout.nameRule), and \(problem)") }
        return s
    }

    /// `name:`, else the board's folder name (both become OUT/NAME.img).
    func boardName(_ root: YAMLNode) throws -> String {
        if let n = root["name"] { return try name(n, "name") }
        let s = Manifest_name(path)
        if let problem = BoardLayout.nameProblem(s) {
            throw Failure(message: "\(path): the board's name (its folder's, '\(s)', as no name: is given): expected \(BoardLayout.nameRule), and \(problem); give name:")
        }
        return s
    }

    func flash(_ f: YAMLNode) throws -> BoardLayout.Flash {
        var kind = BoardLayout.Flash.Kind.nand
        if let t = f["type"] {
            guard let k = BoardLayout.Flash.Kind(rawValue: t.string ?? "") else { throw fail(t, "type: expected nand, nor or disk, found \(t.kind)") }
            kind = k
        }
        if kind == .disk { return try disk(f) }
        try f.strictMapping(BoardLayout.nandKeys + ["base"], in: "flash:", source: path)
        return try kind == .nand ? nand(f) : nor(f)
    }

    func required(_ f: YAMLNode, _ key: String) throws -> YAMLNode {
        guard let n = f[key] else { throw fail(f, "flash: '\(key)' is missing") }
        return n
    }

    /// Chip and erase block, common to NAND and NOR: the chip a whole number of blocks, at most
    /// ``Limits/chipSize`` and ``Limits/blocks``.
    func chip(_ f: YAMLNode, eraseBlock eb: Int) throws -> Int {
        let n = try required(f, "chip")
        let chip = try size(n, "chip", in: 1...Limits.chipSize)
        guard chip % eb == 0 else { throw fail(n, "chip \(hex(chip)) is not a multiple of the erase block \(hex(eb))") }
        guard chip / eb <= Limits.blocks else { throw fail(n, "chip: \(chip / eb) erase blocks, expected at most \(Limits.blocks)") }
        return chip
    }

    func mtdID(_ f: YAMLNode, default d: String) throws -> String { try f["mtd-id"].map { try name($0, "mtd-id") } ?? d }

    func nand(_ f: YAMLNode) throws -> BoardLayout.Flash {
        if let base = f["base"] { throw fail(base, "flash: base: is for NOR (type: nor), which is mapped at an address; NAND is not") }
        let pageNode = try required(f, "page")
        let page = try size(pageNode, "page", in: 1...Limits.eraseBlock)
        guard [512, 2048, 4096, 8192, 16384].contains(page) else { throw fail(pageNode, "page \(page): expected 512, 2048, 4096, 8192 or 16384") }
        let oobNode = try required(f, "oob")
        let oob = try size(oobNode, "oob", in: 0...page)
        let ebNode = try required(f, "erase-block")
        let eb = try size(ebNode, "erase-block", in: 1...Limits.eraseBlock)
        let geometry: NANDGeometry
        do { geometry = try NANDGeometry(pageSize: page, oobSize: oob, eraseBlockSize: eb) } catch {
            throw fail(oob < 16 || oob > page / 8 ? oobNode : ebNode, "flash: \(error)")
        }
        let chipSize = try chip(f, eraseBlock: eb)
        var sub = page
        if let s = f["sub-page"] {
            sub = try size(s, "sub-page", in: 1...page)
            guard [page, page / 2, page / 4].contains(sub) else {
                throw fail(s, "sub-page \(sub): expected \(page), \(page / 2) or \(page / 4) (the page, a half or a quarter of it, as Linux's NAND layer writes)")
            }
        }
        var ecc = NANDRawImage.ECC.hamming
        if let e = f["ecc"] {
            guard let v = NANDRawImage.ECC(rawValue: e.string ?? "") else { throw fail(e, "ecc: expected none, hamming, bch4 or bch8, found \(e.kind)") }
            ecc = v
        }
        try checkECC(ecc, geometry, at: f["ecc"] ?? f)
        var ids: [UInt8] = []
        if let n = f["id-bytes"] {
            guard let list = n.sequence, (1...Limits.idBytes).contains(list.count) else { throw fail(n, "id-bytes: expected a list of 1…\(Limits.idBytes) bytes, found \(n.kind)") }
            for x in list { ids.append(UInt8(try integer(x, "id-bytes", in: 0...255))) }
        }
        if let n = f["bad-blocks"], n.sequence == nil { throw fail(n, "bad-blocks: expected a list of block numbers, found \(n.kind)") }
        let perMille = try f["bad-blocks-per-1024"].map { try integer($0, "bad-blocks-per-1024", in: 0...Limits.badBlocksPer1024) } ?? 20
        var flash = BoardLayout.Flash(
            pageSize: page, oobSize: oob, eraseBlockSize: eb, chipSize: chipSize, subpageSize: sub, ecc: ecc, badBlocksPer1024: perMille, mtdID: try mtdID(f, default: "nand0"),
            idBytes: ids)
        flash.kind = .nand
        return flash
    }

    /// The ECC's bytes must fit the OOB where Linux puts them: what the OOB image writer needs.
    func checkECC(_ ecc: NANDRawImage.ECC, _ g: NANDGeometry, at n: YAMLNode) throws {
        switch ecc {
        case .none: return
        case .hamming:
            do { _ = try HammingECC.eccPositions(g) } catch { throw fail(n, "ecc: hamming on \(g.pageSize)-byte pages with \(g.oobSize) OOB bytes: \(error)") }
        case .bch4, .bch8:
            do {
                _ = try BCHECC(strength: ecc.bchStrength ?? 8).eccPositions(pageSize: g.pageSize, oobSize: g.oobSize)
            } catch {
                throw fail(n, "ecc: \(ecc.rawValue) on \(g.pageSize)-byte pages with \(g.oobSize) OOB bytes: \(error)")
            }
        }
    }

    func nor(_ f: YAMLNode) throws -> BoardLayout.Flash {
        if let e = f["ecc"], e.string != "none" { throw fail(e, "flash: NOR has no ECC in the OOB (ecc: \(e.string ?? e.kind))") }
        guard let baseNode = f["base"] else { throw fail(f, "flash: NOR needs base: (the address it is mapped at, e.g. 0x4000000): U-Boot reads and writes it there") }
        if let bb = f["bad-blocks"] { throw fail(bb, "flash: NOR has no bad blocks (bad-blocks: is for NAND)") }
        for e in f.entries ?? [] where !BoardLayout.norKeys.contains(e.key) && e.key != "ecc" {
            throw Failure(message: "\(path):\(e.keyLine): flash: NOR has no \(e.key) (it is a NAND key; type: nor takes \(BoardLayout.norKeys.joined(separator: ", ")))")
        }
        let ebNode = try required(f, "erase-block")
        let eb = try size(ebNode, "erase-block", in: Limits.norMinEraseBlock...Limits.eraseBlock)
        guard eb.nonzeroBitCount == 1 else { throw fail(ebNode, "erase-block \(hex(eb)): expected a power of two (NOR sectors are)") }
        let chipSize = try chip(f, eraseBlock: eb)
        let base = try size(baseNode, "base", in: 0...Limits.address)
        guard base + chipSize <= Limits.address else { throw fail(baseNode, "base \(hex(base)) + chip \(hex(chipSize)) ends past \(hex(Limits.address))") }
        var flash = BoardLayout.Flash(
            pageSize: 1, oobSize: 0, eraseBlockSize: eb, chipSize: chipSize, subpageSize: 1, ecc: .none, badBlocksPer1024: 0, mtdID: try mtdID(f, default: "nor0"), idBytes: [])
        flash.kind = .nor
        flash.base = base
        return flash
    }

    func partition(_ p: YAMLNode) throws -> BoardLayout.Partition {
        let context = p["name"]?.string.map { "partition '\($0)'" } ?? "a partition"
        try p.strictMapping(BoardLayout.partitionKeys, in: context, source: path)
        guard let nameNode = p["name"] else { throw fail(p, "a partition needs a name") }
        let name = try name(nameNode, "partition name")
        var size = -1
        guard let sizeNode = p["size"] else { throw fail(p, "partition '\(name)': size: is missing (a size, or rest for the rest of the chip)") }
        if sizeNode.string != "rest" { size = try self.size(sizeNode, "partition '\(name)' size") }
        var part = BoardLayout.Partition(name: name, offset: -1, size: size, readOnly: try p["read-only"]?.bool("read-only", source: path) ?? false, line: p.line)
        if let o = p["offset"] { part.offset = try self.size(o, "partition '\(name)' offset") }
        if let c = p["content"] { part.content = try PartitionContent.parse(c, partition: name, source: path) }
        return part
    }

    func qemu(_ q: YAMLNode, folder: String) throws -> BoardLayout.QEMUMachine {
        try q.strictMapping(BoardLayout.qemuKeys, in: "qemu:", source: path)
        guard let system = q["system"]?.string, let machine = q["machine"]?.string else { throw fail(q, "qemu: needs system (qemu-system-aarch64) and machine (virt)") }
        var m = BoardLayout.QEMUMachine(
            system: system, machine: machine, cpu: try q["cpu"].map { try $0.text("qemu: cpu", source: path) },
            memoryMiB: try q["memory"].map { try integer($0, "qemu: memory (MiB)", in: 1...Limits.qemuMemoryMiB) } ?? 1024)
        // A relative firmware path is the board folder's, made absolute: qemu.args runs from anywhere.
        m.firmware = try q["firmware"].map { n in
            guard let f = n.string else { throw fail(n, "qemu: firmware: expected a path, found \(n.kind)") }
            return f.hasPrefix("/") ? f : BoardBootImages.absolute("\(folder)/\(f)")
        }
        if let bank = q["pflash"] {
            guard let v = bank.integer, (0...1).contains(v) else { throw fail(bank, "qemu: pflash: expected bank 0 or 1, found \(bank.kind)") }
            m.pflashBank = Int(v)
        }
        return m
    }

    /// `network:` and `boot:`. Without `network:`, a board with `qemu:` gets QEMU's user network
    /// (server 10.0.2.2, client 10.0.2.15/24, gateway 10.0.2.2); any other board's network commands
    /// ask DHCP, and it cannot boot over the network by default (its server is unknown).
    func network(_ root: YAMLNode, into b: inout BoardLayout) throws {
        if let n = root["boot"] { b.boot = try BoardNetwork.parseBoot(n, source: path) }
        if let n = root["network"] {
            b.network = try BoardNetwork.parse(n, source: path)
        } else if b.qemu != nil {
            b.network = .qemuUser
        } else if b.boot.usesNetwork, let n = root["boot"] {
            throw fail(n, "boot: \(b.boot.rawValue) needs network: (server: the TFTP\(b.boot == .nfs ? "/NFS" : "") server's address, client: the board's or dhcp); only a board with qemu: gets QEMU's user network by default")
        }
    }

    /// `override:`: values that replace the derived ones. bootargs replaces the whole derived
    /// command line, so `console:` and `bootargs:` (which only add to it) cannot go with it.
    func overrides(_ o: YAMLNode, root: YAMLNode, chipSize: Int) throws -> BoardLayout.Overrides {
        try o.strictMapping(BoardLayout.Overrides.keys, in: "override:", source: path)
        var v = BoardLayout.Overrides()
        v.bootcmd = try o["bootcmd"].map { try $0.text("override: bootcmd", source: path) }
        v.bootargs = try o["bootargs"].map { try $0.text("override: bootargs", source: path) }
        if let n = o["mtdparts"] {
            let s = try n.text("override: mtdparts", source: path)
            do { _ = try BoardLayout.parseMtdparts(s, chipSize: chipSize) } catch { throw fail(n, "override: mtdparts: \(error)") }
            v.mtdparts = s
        }
        if v.bootargs != nil {
            for key in ["console", "bootargs"] {
                if let n = root[key] {
                    throw fail(n, "\(key): adds to the derived bootargs, which override: bootargs: replaces; put what it says into override: bootargs:")
                }
            }
        }
        return v
    }
}

import Flash
import FlashsmithCore
import YAML

/// A board's NAND flash described once (`layouts/NAME/board.yaml`): geometry, ECC, bad-block
/// limits and partitions. Everything the peer tools want typed again is derived from it: the
/// partition table (offsets aligned to erase blocks, `rest` filled in), the `mtdparts=` string, a
/// device-tree `fixed-partitions` node, `fw_env.config`, nandsim's parameters, and the UBI
/// geometry (LEB size, PEBs, the bad-block reserve).
/// ```yaml
/// name: s5pc100
/// flash:
///   page: 2KiB
///   oob: 64
///   erase-block: 128KiB
///   chip: 256MiB
///   sub-page: 512           # default: the page
///   ecc: hamming            # none | hamming | bch4 | bch8 (Linux soft ECC)
///   bad-blocks-per-1024: 20 # the most bad blocks a chip may have (UBI's reserve); default 20
///   mtd-id: s5p-nand        # the controller's name in mtdparts=
///   id-bytes: [0x20, 0xaa, 0x00, 0x15]   # for nandsim (the chip's READ ID bytes)
/// partitions:
///   - name: u-boot
///     size: 0x40000         # offset: automatic (after the previous) unless given
///     read-only: true
///   - name: env
///     size: 128KiB
///   - name: kernel
///     size: 8MiB
///   - name: rootfs
///     size: rest
/// ```
public struct BoardLayout: Sendable {
    public struct Flash: Sendable, Equatable {
        /// NAND (pages, OOB, ECC, bad blocks) or memory-mapped NOR (erase sectors, no OOB).
        public enum Kind: String, Sendable { case nand, nor }
        public var kind: Kind = .nand
        /// NOR: the address the chip is mapped at (bootm runs from there).
        public var base: Int?
        public var pageSize: Int
        public var oobSize: Int
        public var eraseBlockSize: Int
        public var chipSize: Int
        public var subpageSize: Int
        public var ecc: NANDRawImage.ECC
        public var badBlocksPer1024: Int
        public var mtdID: String
        public var idBytes: [UInt8]
        public var blocks: Int { chipSize / eraseBlockSize }
        /// U-Boot's device name in mtdids (`nand0`, `nor0`).
        public var ubootDevice: String { kind == .nand ? "nand0" : "nor0" }
    }

    /// How the board is started in QEMU (`qemu:` in board.yaml): `flashsmith build` writes the
    /// command line into OUTDIR/qemu.args, `flashsmith boot OUTDIR` runs it.
    public struct QEMUMachine: Sendable, Equatable {
        public var system: String
        public var machine: String
        public var cpu: String?
        public var memoryMiB: Int
        /// `-bios`: the firmware (U-Boot).
        public var firmware: String?
        /// The chip image goes in as this pflash bank (`-drive if=pflash,index=N`).
        public var pflashBank: Int?
    }

    public struct Partition: Sendable, Equatable {
        public var name: String
        public var offset: Int
        public var size: Int
        public var readOnly: Bool
        public var line: Int
        public var blocks: Int = 0
        public var content: PartitionContent = .none
    }

    public struct Failure: FlashsmithError, Equatable {
        public var message: String
        public var category: ErrorCategory { .data }
        public var description: String { message }
        public init(message: String) { self.message = message }
    }

    public var name: String
    public var source: String
    public var flash: Flash
    public var partitions: [Partition]
    /// The kernel console for bootargs (`console: ttySAC0,115200`).
    public var console: String?
    /// Known bad erase blocks (chip block numbers): content skips them, the OOB image marks them.
    public var badBlocks: Set<Int> = []
    /// The board's folder: content paths are relative to it.
    public var folder: String { source.lastIndex(of: "/").map { String(source[..<$0]) } ?? "." }
    /// Where the board's kernel and target binaries come from (`sysroot:`; `${sysroot}` in paths).
    public var sysroot: String?
    /// The kernel (`kernel:`, a glob: the last match in version order), the device trees that go into a
    /// FIT (`devicetrees:`; none: the firmware hands over its own, as QEMU and UEFI do), the rootfs
    /// spec (`rootfs:`), and the busybox added to it (`busybox:`).
    public var kernel: String?
    public var deviceTrees: [String] = []
    public var rootfs: String?
    public var busybox: String?
    /// Kernel arguments added to the derived bootargs (`bootargs:`).
    public var extraBootargs: String?
    /// The kernel's architecture (`arch:`), when its header does not say.
    public var arch: String?
    public var qemu: QEMUMachine?
    /// board.yaml's line for each path it names (`kernel`, `busybox`, `rootfs`, each device tree), for errors.
    public var lines: [String: Int] = [:]

    /// The partition holding a UBI image with a UBIFS volume (the root filesystem), if any.
    public var ubiRootfsIndex: Int? {
        partitions.firstIndex { p in
            if case let .ubi(vols) = p.content { return vols.contains { if case .ubifs = $0.source { return true } else { return false } } }
            return false
        }
    }
    public var hasUBIRootfs: Bool { ubiRootfsIndex != nil }

    /// `path`: a board.yaml, or the board's folder (layouts/NAME). `sysroot` replaces the board's own.
    public static func load(_ given: String, sysroot sysrootOverride: String? = nil) throws -> BoardLayout {
        let path = FileIO.kind(of: given) == .directory ? (given.hasSuffix("/") ? given : given + "/") + "board.yaml" : given
        let text = String(decoding: try FileIO.readAll(path), as: UTF8.self)
        guard let root = try YAML.parse(text, source: path), root.mapping != nil else { throw Failure(message: "\(path): expected a board description (a mapping), found nothing") }
        func fail(_ n: YAMLNode, _ what: String) -> Failure { Failure(message: "\(path):\(n.line): \(what)") }
        func size(_ n: YAMLNode?, _ key: String, default d: Int? = nil) throws -> Int {
            guard let n else {
                if let d { return d }
                throw Failure(message: "\(path): flash: '\(key)' is missing")
            }
            guard let s = n.string, let v = try? ByteSize(parsing: s) else { throw fail(n, "\(key): expected a size (2048, 2KiB, 0x800), found \(n.kind)") }
            return v.bytes
        }
        guard let f = root["flash"] else { throw Failure(message: "\(path): 'flash:' (the geometry) is missing") }
        var kind = Flash.Kind.nand
        if let t = f["type"] {
            guard let k = Flash.Kind(rawValue: t.string ?? "") else { throw fail(t, "type: expected nand or nor, found \(t.kind)") }
            kind = k
        }
        let page = try size(f["page"], "page", default: kind == .nor ? 1 : nil)
        var eccValue = kind == .nor ? NANDRawImage.ECC.none : .hamming
        if let e = f["ecc"] {
            guard let v = NANDRawImage.ECC(rawValue: e.string ?? "") else { throw fail(e, "ecc: expected none, hamming, bch4 or bch8, found \(e.kind)") }
            eccValue = v
        }
        var ids: [UInt8] = []
        if let list = f["id-bytes"]?.sequence {
            for n in list {
                guard let v = n.integer, v <= 255 else { throw fail(n, "id-bytes: expected bytes, found \(n.kind)") }
                ids.append(UInt8(v))
            }
        }
        var flash = Flash(
            pageSize: page, oobSize: try size(f["oob"], "oob", default: kind == .nor ? 0 : nil), eraseBlockSize: try size(f["erase-block"], "erase-block"), chipSize: try size(f["chip"], "chip"),
            subpageSize: try size(f["sub-page"], "sub-page", default: page), ecc: eccValue,
            badBlocksPer1024: Int(f["bad-blocks-per-1024"]?.integer ?? 20), mtdID: f["mtd-id"]?.string ?? (kind == .nand ? "nand0" : "nor0"), idBytes: ids
        )
        flash.kind = kind
        if let base = f["base"] { flash.base = try size(base, "base") }
        guard kind == .nand || eccValue == .none else { throw Failure(message: "\(path): flash: NOR has no ECC in the OOB (ecc: \(eccValue.rawValue))") }
        guard kind == .nand || flash.base != nil else { throw fail(f, "flash: NOR needs base: (the address it is mapped at, e.g. 0x4000000): U-Boot reads and writes it there") }
        guard kind == .nand || f["bad-blocks"] == nil else { throw fail(f, "flash: NOR has no bad blocks (bad-blocks: is for NAND)") }
        var parts: [Partition] = []
        guard let list = root["partitions"]?.sequence, !list.isEmpty else { throw Failure(message: "\(path): 'partitions:' (a list) is missing") }
        for p in list {
            guard let name = p["name"]?.string, !name.isEmpty else { throw fail(p, "a partition needs a name") }
            guard name.allSatisfy({ $0 != "(" && $0 != ")" && $0 != "," && $0 != ":" && $0 != ";" }) else { throw fail(p, "partition '\(name)': mtdparts= cannot carry ( ) , : ; in a name") }
            let sizeNode = p["size"]
            let isRest = sizeNode?.string == "rest"
            var part = Partition(name: name, offset: -1, size: isRest ? -1 : try size(sizeNode, "partition \(name) size"), readOnly: p["read-only"]?.string == "true", line: p.line)
            if let o = p["offset"] { part.offset = try size(o, "partition \(name) offset") }
            if let c = p["content"] { part.content = try PartitionContent.parse(c, partition: name, source: path) }
            parts.append(part)
        }
        var b = BoardLayout(name: root["name"]?.string ?? Manifest_name(path), source: path, flash: flash, partitions: parts)
        b.console = root["console"]?.string
        let sysroot = sysrootOverride ?? root["sysroot"]?.string.map { $0.hasPrefix("/") ? $0 : "\(b.folder)/\($0)" }
        b.sysroot = sysroot
        /// `${sysroot}` expanded; other relative paths stay relative to the board's folder.
        func pathValue(_ key: String) throws -> String? {
            guard let n = root[key] else { return nil }
            guard let s = n.string else { throw fail(n, "\(key): expected a path, found \(n.kind)") }
            b.lines[key] = n.line
            return try b.expand(s, key: key, line: n.line)
        }
        b.kernel = try pathValue("kernel")
        b.rootfs = try pathValue("rootfs")
        b.busybox = try pathValue("busybox")
        b.extraBootargs = root["bootargs"]?.string
        b.arch = root["arch"]?.string
        if let d = root["devicetrees"] {
            for n in d.sequence ?? [d] {
                guard let s = n.string else { throw fail(n, "devicetrees: expected paths, found \(n.kind)") }
                b.deviceTrees.append(try b.expand(s, key: "devicetrees", line: n.line))
                b.lines["devicetree \(b.deviceTrees.count - 1)"] = n.line
            }
        }
        if let q = root["qemu"] {
            guard let system = q["system"]?.string, let machine = q["machine"]?.string else { throw fail(q, "qemu: needs system (qemu-system-aarch64) and machine (virt)") }
            var m = QEMUMachine(system: system, machine: machine, cpu: q["cpu"]?.string, memoryMiB: Int(q["memory"]?.integer ?? 1024))
            // A relative firmware path is the board folder's, made absolute: qemu.args runs from anywhere.
            m.firmware = try q["firmware"].map { n in
                guard let f = n.string else { throw fail(n, "qemu: firmware: expected a path, found \(n.kind)") }
                return f.hasPrefix("/") ? f : BoardBootImages.absolute("\(b.folder)/\(f)")
            }
            if let bank = q["pflash"] {
                guard let v = bank.integer, (0...1).contains(v) else { throw fail(bank, "qemu: pflash: expected bank 0 or 1, found \(bank.kind)") }
                m.pflashBank = Int(v)
            }
            b.qemu = m
        }
        for n in f["bad-blocks"]?.sequence ?? [] {
            guard let v = n.integer else { throw fail(n, "bad-blocks: expected block numbers, found \(n.kind)") }
            b.badBlocks.insert(Int(v))
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

    /// Fills in automatic offsets and `rest`, and checks everything against the geometry.
    mutating func resolve() throws {
        let f = flash
        func fail(_ p: Partition, _ m: String) -> Failure { Failure(message: "\(source):\(p.line): partition '\(p.name)': \(m)") }
        guard f.kind == .nor || [512, 2048, 4096, 8192, 16384].contains(f.pageSize) else { throw Failure(message: "\(source): flash page \(f.pageSize): expected 512, 2048, 4096, 8192 or 16384") }
        guard f.eraseBlockSize % f.pageSize == 0 else { throw Failure(message: "\(source): erase block \(f.eraseBlockSize) is not a multiple of the page \(f.pageSize)") }
        guard f.chipSize % f.eraseBlockSize == 0 else { throw Failure(message: "\(source): chip \(f.chipSize) is not a multiple of the erase block \(f.eraseBlockSize)") }
        guard f.pageSize % f.subpageSize == 0 else { throw Failure(message: "\(source): page \(f.pageSize) is not a multiple of the sub-page \(f.subpageSize)") }
        var next = 0
        for i in partitions.indices {
            var p = partitions[i]
            if p.offset < 0 { p.offset = next }
            guard p.offset % f.eraseBlockSize == 0 else { throw fail(p, "offset \(hex(p.offset)) is not on an erase-block boundary (\(hex(f.eraseBlockSize)))") }
            guard p.offset >= next else { throw fail(p, "offset \(hex(p.offset)) overlaps '\(partitions[i - 1].name)', which ends at \(hex(next))") }
            if p.size < 0 {
                guard i == partitions.count - 1 else { throw fail(p, "only the last partition can be 'rest'") }
                p.size = f.chipSize - p.offset
            }
            guard p.size > 0, p.size % f.eraseBlockSize == 0 else { throw fail(p, "size \(hex(p.size)) is not a whole number of erase blocks (\(hex(f.eraseBlockSize)))") }
            guard p.offset + p.size <= f.chipSize else { throw fail(p, "ends at \(hex(p.offset + p.size)), past the \(hex(f.chipSize)) chip") }
            p.blocks = p.size / f.eraseBlockSize
            next = p.offset + p.size
            partitions[i] = p
        }
    }

    /// `mtdparts=ID:256k(u-boot)ro,128k(env),8m(kernel),-(rootfs)`: sizes in k/m when exact, offsets
    /// written only where a partition does not follow the previous one.
    public var mtdparts: String {
        func size(_ v: Int) -> String {
            if v % (1 << 20) == 0 { return "\(v >> 20)m" }
            if v % 1024 == 0 { return "\(v >> 10)k" }
            return String(v)
        }
        var parts: [String] = []
        var next = 0
        for (i, p) in partitions.enumerated() {
            let isRest = i == partitions.count - 1 && p.offset + p.size == flash.chipSize
            var s = isRest ? "-" : size(p.size)
            if p.offset != next { s += "@\(hex(p.offset))" }
            s += "(\(p.name))" + (p.readOnly ? "ro" : "")
            parts.append(s)
            next = p.offset + p.size
        }
        return "mtdparts=\(flash.mtdID):" + parts.joined(separator: ",")
    }

    /// Parses an mtdparts= string back (the kernel's cmdlinepart syntax) into (name, offset, size, ro).
    public static func parseMtdparts(_ text: String, chipSize: Int) throws -> (id: String, parts: [(name: String, offset: Int, size: Int, readOnly: Bool)]) {
        var s = Substring(text)
        if s.hasPrefix("mtdparts=") { s = s.dropFirst("mtdparts=".count) }
        guard let colon = s.firstIndex(of: ":") else { throw Failure(message: "mtdparts: expected ID:PARTS, found '\(text)'") }
        let id = String(s[..<colon])
        var out: [(String, Int, Int, Bool)] = []
        var next = 0
        for spec in s[s.index(after: colon)...].split(separator: ",") {
            guard let open = spec.firstIndex(of: "("), let close = spec.firstIndex(of: ")") else { throw Failure(message: "mtdparts: '\(spec)': expected SIZE[@OFFSET](NAME)") }
            let name = String(spec[spec.index(after: open)..<close])
            let ro = spec[spec.index(after: close)...].hasPrefix("ro")
            var sizeText = Substring(spec[..<open])
            var offset = next
            if let at = sizeText.firstIndex(of: "@") {
                guard let o = parseNumber(sizeText[sizeText.index(after: at)...]) else { throw Failure(message: "mtdparts: '\(spec)': bad offset") }
                offset = o
                sizeText = sizeText[..<at]
            }
            let size: Int
            if sizeText == "-" {
                size = chipSize - offset
            } else {
                guard let v = parseNumber(sizeText) else { throw Failure(message: "mtdparts: '\(spec)': bad size") }
                size = v
            }
            out.append((name, offset, size, ro))
            next = offset + size
        }
        return (id, out)
    }

    static func parseNumber(_ t: Substring) -> Int? {
        var t = t
        var m = 1
        if let last = t.last, "kKmMgG".contains(last) {
            m = last == "k" || last == "K" ? 1 << 10 : last == "m" || last == "M" ? 1 << 20 : 1 << 30
            t = t.dropLast()
        }
        let v = t.lowercased().hasPrefix("0x") ? Int(t.dropFirst(2), radix: 16) : Int(t)
        return v.map { $0 * m }
    }

    /// A device-tree fragment: the NAND controller's `partitions` node, `fixed-partitions`.
    public var deviceTreeFragment: String {
        var s = "/* \(name): NAND partitions, from \(source) (flashsmith) */\npartitions {\n\tcompatible = \"fixed-partitions\";\n\t#address-cells = <1>;\n\t#size-cells = <1>;\n"
        for p in partitions {
            s += "\n\tpartition@\(String(p.offset, radix: 16)) {\n\t\tlabel = \"\(p.name)\";\n\t\treg = <\(hex(p.offset)) \(hex(p.size))>;\n"
            if p.readOnly { s += "\t\tread-only;\n" }
            s += "\t};\n"
        }
        return s + "};\n"
    }

    /// nandsim's module parameters for this board (`parts=` in erase blocks; the last partition
    /// takes the rest of the chip, as nandsim does).
    public var nandsimParameters: String {
        var s = ""
        if !flash.idBytes.isEmpty { s += "id_bytes=" + flash.idBytes.map { "0x" + String($0, radix: 16) }.joined(separator: ",") + " " }
        s += "parts=" + partitions.dropLast().map { String($0.blocks) }.joined(separator: ",")
        return s
    }

    /// UBI's bad-block reserve for a partition (ubi.mtd's `max_beb_per1024` rule: the chip's limit
    /// scaled to the whole chip, all of it reserved in each UBI partition).
    public func badBlockReserve() -> Int { flash.kind == .nor ? 0 : (flash.blocks * flash.badBlocksPer1024 + 1023) / 1024 }

    /// The report: one line per partition, offsets, sizes, blocks, free for bad blocks.
    public var report: String {
        var s = flash.kind == .nand
            ? "\(name): \(flash.chipSize >> 20) MiB NAND, \(flash.pageSize)-byte pages + \(flash.oobSize) OOB, \(flash.eraseBlockSize >> 10) KiB blocks (\(flash.blocks)), ECC \(flash.ecc.rawValue)\n"
            : "\(name): \(flash.chipSize >> 20) MiB NOR\(flash.base.map { " at \(hex($0))" } ?? ""), \(flash.eraseBlockSize >> 10) KiB sectors (\(flash.blocks))\n"
        for (i, p) in partitions.enumerated() {
            s += "  mtd\(i) \(p.name.padding(10))\(hex(p.offset).padding(11))\(hex(p.size).padding(11))\(String(p.blocks).padding(6))blocks\(p.readOnly ? "  read-only" : "")\n"
        }
        s += "  \(mtdparts)\n"
        if flash.kind == .nand { s += "  UBI bad-block reserve: \(badBlockReserve()) PEBs (\(flash.badBlocksPer1024) per 1024 of \(flash.blocks))\n" }
        return s
    }
}

func Manifest_name(_ path: String) -> String {
    let parts = path.split(separator: "/")
    return parts.count >= 2 ? String(parts[parts.count - 2]) : path
}

extension String {
    func padding(_ width: Int) -> String { self + String(repeating: " ", count: max(1, width - count)) }
}

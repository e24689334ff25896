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
/// override:                 # optional: values that replace the derived ones in the environment
///   bootcmd: run boot_ubi
///   bootargs: console=ttySAC0,115200 ubi.mtd=3 root=ubi0:rootfs rootfstype=ubifs   # the whole line
///   mtdparts: mtdparts=s5p-nand:256k(u-boot)ro,256k(env),5m(kernel),-(rootfs)
/// ```
/// Every key is checked (see BoardFile.swift): a typo is an error naming the line and the nearest key.
public struct BoardLayout: Sendable {
    public struct Flash: Sendable, Equatable {
        /// NAND (pages, OOB, ECC, bad blocks), memory-mapped NOR (erase sectors, no OOB), or a
        /// disk (SD card, eMMC, virtio: 512-byte sectors, a GPT or MBR partition table).
        public enum Kind: String, Sendable { case nand, nor, disk }
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
        /// A disk's table and alignment (`type: disk`); nil for flash chips.
        public var disk: Disk?
    }

    /// A disk board's `flash:` (BoardDisk.swift): the image is `chipSize` bytes of 512-byte sectors.
    public struct Disk: Sendable, Equatable {
        public enum Table: String, Sendable, CaseIterable { case gpt, mbr }
        public var table: Table = .gpt
        /// Automatic offsets are aligned to this (bytes).
        public var align: Int = 1 << 20
        /// The GPT disk GUID or the MBR disk signature as given (nil: derived from the board's name).
        public var diskID: String?
        /// Where the GPT entry array starts (bytes; nil: LBA 2).
        public var gptLocation: Int?
        /// The kernel's name of the disk (`vda` for virtio, `mmcblk0` for an SD card or eMMC); nil:
        /// `vda` on a board with `qemu:` (a virtio disk), else `mmcblk0`.
        public var device: String?
        public static let sector = 512
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
        /// Disk partitions: the type (GPT name or GUID, MBR name or byte; nil: from the content),
        /// the boot flag, the partition GUID (nil: derived), and whether the table lists it (false:
        /// a raw region, e.g. a bootloader a boot ROM reads at a fixed offset).
        public var type: String?
        public var bootable = false
        public var uuid: String?
        public var inTable = true
    }

    /// The environment values a board may set by hand instead of deriving them (`override:`): each
    /// replaces the derived variable in the environment (env.img, uboot-env.txt) and the report;
    /// `mtdparts` also replaces the `mtdparts=` the derived bootargs carries. The layout's own files
    /// (mtdparts.txt, partitions.dtsi, flash.cmd) stay the layout's.
    public struct Overrides: Sendable, Equatable {
        public var bootcmd: String?
        public var bootargs: String?
        public var mtdparts: String?
        public static let keys = ["bootcmd", "bootargs", "mtdparts"]
        public init(bootcmd: String? = nil, bootargs: String? = nil, mtdparts: String? = nil) {
            self.bootcmd = bootcmd
            self.bootargs = bootargs
            self.mtdparts = mtdparts
        }
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
    /// Values that replace what the board derives (`override: {bootcmd: …, bootargs: …, mtdparts: …}`).
    public var overrides = Overrides()
    /// The kernel's architecture (`arch:`), when its header does not say.
    public var arch: String?
    public var qemu: QEMUMachine?
    /// How U-Boot boots (`boot:`; BoardNetwork.swift): bootcmd runs its command.
    public var boot: BootMethod = .flash
    /// The addresses the network commands use: `network:`, else QEMU's user network for a board
    /// with `qemu:`, else DHCP.
    public var network: BoardNetwork = .dhcpOnly
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
    /// Every number is checked: offsets and sizes lie within the chip.
    public static func parseMtdparts(_ text: String, chipSize: Int) throws -> (id: String, parts: [(name: String, offset: Int, size: Int, readOnly: Bool)]) {
        var s = Substring(text)
        if s.hasPrefix("mtdparts=") { s = s.dropFirst("mtdparts=".count) }
        guard let colon = s.firstIndex(of: ":") else { throw Failure(message: "mtdparts: expected ID:PARTS, found '\(text)'") }
        let id = String(s[..<colon])
        var out: [(String, Int, Int, Bool)] = []
        var next = 0
        for spec in s[s.index(after: colon)...].split(separator: ",", omittingEmptySubsequences: false) {
            guard let open = spec.firstIndex(of: "("), let close = spec.firstIndex(of: ")"), open < close else { throw Failure(message: "mtdparts: '\(spec)': expected SIZE[@OFFSET](NAME)") }
            let name = String(spec[spec.index(after: open)..<close])
            let rest = spec[spec.index(after: close)...]
            guard rest.isEmpty || rest == "ro" || rest == "lk" || rest == "rolk" else { throw Failure(message: "mtdparts: '\(spec)': expected ro or nothing after (NAME), found '\(rest)'") }
            var sizeText = Substring(spec[..<open])
            var offset = next
            if let at = sizeText.firstIndex(of: "@") {
                guard let o = parseNumber(sizeText[sizeText.index(after: at)...]), o <= chipSize else { throw Failure(message: "mtdparts: '\(spec)': expected an offset within the \(hex(chipSize)) chip") }
                offset = o
                sizeText = sizeText[..<at]
            }
            guard offset <= chipSize else { throw Failure(message: "mtdparts: '\(spec)': starts at \(hex(offset)), past the \(hex(chipSize)) chip") }
            let size: Int
            if sizeText == "-" {
                size = chipSize - offset
            } else {
                guard let v = parseNumber(sizeText), v <= chipSize - offset else { throw Failure(message: "mtdparts: '\(spec)': expected a size within the \(hex(chipSize)) chip") }
                size = v
            }
            out.append((name, offset, size, rest.hasPrefix("ro")))
            next = offset + size
        }
        return (id, out)
    }

    /// `128k`, `8m`, `1g`, `0x20000`, `131072`; nil when malformed or too large.
    static func parseNumber(_ t: Substring) -> Int? {
        var t = t
        var m = 1
        if let last = t.last, "kKmMgG".contains(last) {
            m = last == "k" || last == "K" ? 1 << 10 : last == "m" || last == "M" ? 1 << 20 : 1 << 30
            t = t.dropLast()
        }
        guard !t.isEmpty else { return nil }
        let digits = t.lowercased().hasPrefix("0x") ? t.dropFirst(2) : t
        guard !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isHexDigit }) else { return nil }
        guard let v = t.lowercased().hasPrefix("0x") ? Int(digits, radix: 16) : Int(digits) else { return nil }
        let (r, overflow) = v.multipliedReportingOverflow(by: m)
        return overflow ? nil : r
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

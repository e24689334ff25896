import BootImage
import Flash
import FlashsmithCore
import RootFS
import UBootEnv
#if canImport(Glibc)
import Glibc
#endif

/// `flashsmith build BOARD -o OUTDIR`: everything a board needs, from its one description.
/// ```
/// OUTDIR/NAME.img          the whole chip, main area (0xff where erased)
/// OUTDIR/NAME.oob.img      the same with OOB interleaved (ECC as Linux computes it, bad blocks marked)
/// OUTDIR/PART.img          one image per partition with content
/// OUTDIR/mtdparts.txt      the mtdparts= string          OUTDIR/partitions.dtsi  fixed-partitions node
/// OUTDIR/fw_env.config     for the env partition(s)     OUTDIR/uboot-env.txt    the env, as text
/// OUTDIR/chip-fw_env.config the env inside NAME.img (env print -c, fw_printenv -c)
/// OUTDIR/.flashsmith-output marker: this folder is Flashsmith's, replaced by the next build
/// OUTDIR/flash.cmd/.scr    U-Boot script installing every partition over TFTP
/// OUTDIR/report.txt        offsets, sizes, free space, UBI overhead, LEBs, bad blocks each partition survives
/// ```
public enum BoardBuild {
    public struct Options {
        public var skeletonPaths: [String]
        public var progress: (String) -> Void
        /// Replace an output folder that Flashsmith did not write (`--force`).
        public var force = false
        /// What the output folder's marker records (the command line).
        public var command = "flashsmith build"
        public init(skeletonPaths: [String], force: Bool = false, command: String = "flashsmith build", progress: @escaping (String) -> Void = { _ in }) {
            self.skeletonPaths = skeletonPaths
            self.force = force
            self.command = command
            self.progress = progress
        }
    }

    public typealias Failure = BoardLayout.Failure

    struct Built {
        var partition: BoardLayout.Partition
        var index: Int
        var image: String
        var bytes: Int
        var note: String
        var isUBI: Bool
        /// Where the image goes: the whole of it from the partition's first good block, or (a
        /// redundant environment) each copy at the first good block of its own range.
        var runs: [ContentRun]
        /// The chip blocks each run is written to.
        var blocks: [[Int]]
    }

    static func path(_ b: BoardLayout, _ p: String) -> String { p.hasPrefix("/") ? p : "\(b.folder)/\(p)" }

    /// Everything is written into a fresh folder beside `destination`, which replaces it only when
    /// the whole build has succeeded: a failure part-way leaves the old outputs as they were. A
    /// folder already there is replaced only when it is empty or an earlier build's (its
    /// `.flashsmith-output` marker), unless `force`.
    public static func run(_ b: BoardLayout, output destination: String, options o: Options) throws -> String {
        if b.flash.kind == .disk { return try BoardDiskBuild.run(b, output: destination, options: o) }
        try b.checkBadBlocksOnChip()
        let staging = try AtomicFolder(destination: destination, force: o.force, marker: .file, command: o.command)
        chmod(staging.path, 0o755)
        let out = staging.path
        let rootfsIndex = b.ubiRootfsIndex
        var built: [Built] = []
        var ubiNotes: [String] = []
        var fwEnv: [String] = []
        var chipEnv: [String] = []
        var envNotes: [String] = []
        var bootNotes: [String] = []
        // The board's root filesystem as an initramfs (its own output, and a FIT's ramdisk).
        if b.rootfs != nil { o.progress("root filesystem (cpio.gz)") }
        let initramfs = try BoardBootImages.initramfs(b, out: out, skeletonPaths: o.skeletonPaths)
        if let r = initramfs { bootNotes.append("rootfs.cpio.gz: \(r.entries) entries, \(try FileIO.size(of: r.path)) bytes, from \(Manifest.nameOf(b.rootfs ?? ""))") }
        // boot: nfs: the rootfs as an NFS root, its server's config, and (for a kernel that needs it)
        // the initramfs that mounts it, which the FIT then carries as its ramdisk (BoardNFSRoot.swift).
        let nfs = b.boot == .nfs ? try BoardNFSRoot.write(b, out: out, destination: absolute(staging.destination), skeletonPaths: o.skeletonPaths, progress: o.progress) : nil
        bootNotes += nfs?.notes ?? []
        let work = "\(out)/.work"
        mkdir(work, 0o755)
        // Boot images first: the env's bootcmd depends on what they hold.
        var boot: BootPlan?
        var bootImages: [Int: (note: String, bytes: Int)] = [:]
        for (i, p) in b.partitions.enumerated() {
            let image = "\(out)/\(p.name).img"
            switch p.content {
            case let .fit(c):
                o.progress("FIT for \(p.name)")
                let r = try BoardBootImages.fit(b, p, c, initramfs: nfs == nil ? initramfs?.path : nfs?.initramfs, work: work, image: image)
                let bytes = try FileIO.size(of: image)
                try check(b, p, bytes: bytes)
                bootImages[i] = (r.note, bytes)
                if boot == nil {
                    boot = BootPlan(index: i, isFIT: true, hasRamdisk: r.hasRamdisk, hasFDT: r.hasFDT, configuration: r.configuration)
                    boot?.image = BootCommands.Image(file: "\(p.name).img", bytes: bytes, load: c.spec == nil ? c.load : nil, compressed: c.gzip)
                }
            case let .uimage(c):
                o.progress("uImage for \(p.name)")
                let note = try BoardBootImages.uimage(b, p, c, work: work, image: image)
                let bytes = try FileIO.size(of: image)
                try check(b, p, bytes: bytes)
                bootImages[i] = (note, bytes)
                // A uImage carries no device tree: bootm gets the firmware's.
                if boot == nil {
                    boot = BootPlan(index: i, isFIT: false, hasRamdisk: false, hasFDT: false)
                    boot?.image = BootCommands.Image(file: "\(p.name).img", bytes: bytes, load: c.load, compressed: c.gzip)
                }
            default: continue
            }
        }
        if boot == nil, let k = b.partitions.firstIndex(where: { $0.name == "kernel" }) {
            boot = BootPlan(index: k, isFIT: false, hasRamdisk: false, hasFDT: true)
        }
        for (i, p) in b.partitions.enumerated() {
            let image = "\(out)/\(p.name).img"
            switch p.content {
            case .none: continue
            case .vfat, .ext4, .squashfs:
                // The loader refuses these on a flash board (PartitionContent.parse).
                throw Failure(message: "\(b.source):\(p.line): partition '\(p.name)': a filesystem image goes on a disk board")
            case .fit, .uimage:
                let r = bootImages[i]!
                built.append(try whole(b, p, index: i, image: image, bytes: r.bytes, note: r.note))
            case let .file(f):
                let src = path(b, f)
                let size = try FileIO.size(of: src)
                try check(b, p, bytes: size)
                try FileIO.copyRange(src, offset: 0, count: size, to: image)
                built.append(try whole(b, p, index: i, image: image, bytes: size, note: "file \(f)"))
            case let .env(text, redundant, envSize):
                let size = envSize ?? b.flash.eraseBlockSize
                guard size <= b.flash.eraseBlockSize else { throw Failure(message: "\(b.source):\(p.line): partition '\(p.name)': env size \(hex(size)) is larger than an erase block") }
                let copies = redundant ? 2 : 1
                guard p.blocks >= copies else { throw Failure(message: "\(b.source):\(p.line): partition '\(p.name)': \(copies) env copies need \(copies) erase blocks, the partition has \(p.blocks)") }
                var vars = try EnvText.parseEquals(try FileIO.readAll(path(b, text)), source: path(b, text))
                let derived = try derivedEnvironment(b, rootfsIndex: rootfsIndex, boot: boot)
                // Derived from the layout, never typed twice: the file's own values for these give way (and are named).
                let overridden = vars.filter { v in derived.contains { $0.name == v.name } }.map { String(decoding: $0.name, as: UTF8.self) }
                if !overridden.isEmpty { envNotes.append("\(p.name): \(overridden.joined(separator: ", ")) in \(text) replaced by the values derived from the layout") }
                vars.removeAll { v in derived.contains { $0.name == v.name } }
                vars += derived
                let env = EnvImage(variables: vars, size: size, redundant: redundant)
                // Each copy in its own range (the partition's halves), at the first good block of it;
                // env.img is the partition as it is without bad blocks: copy 1 at 0, copy 2 at the
                // second half (env print and inspect read it so).
                let per = p.blocks / copies
                let eb = b.flash.eraseBlockSize
                var runs: [ContentRun] = []
                var blob: [UInt8] = []
                for c in 0..<copies {
                    let bytes: [UInt8]
                    do { bytes = try env.encodeCopy(flag: c == 0 ? EnvLayout.activeFlag : EnvLayout.obsoleteFlag) } catch {
                        throw Failure(message: "\(b.source):\(p.line): partition '\(p.name)': \(text) with the derived variables (boot commands included): \(error)")
                    }
                    blob += [UInt8](repeating: 0xFF, count: c * per * eb - blob.count) + bytes
                    runs.append(ContentRun(kind: .envCopy(c + 1), source: c * per * eb, count: size, firstBlock: p.offset / eb + c * per, blocks: per))
                }
                let placed = try runs.map { try b.placement($0, in: p) }
                try AtomicFile.write(blob, to: image)
                try AtomicFile.write(try EnvText.writeEquals(vars), to: "\(out)/uboot-env.txt")
                for c in 0..<copies {
                    fwEnv.append("/dev/mtd\(i)\t\(hex(c * per * eb))\t\(hex(size))\t\(hex(eb))" + (b.flash.kind == .nand ? "\t\(per)" : ""))
                    chipEnv.append("\(hex(placed[c][0] * eb))\t\(hex(size))\t\(hex(eb))")
                }
                let note = "environment, \(copies) cop\(copies == 1 ? "y" : "ies") of \(hex(size)), \(vars.count) variables"
                built.append(Built(partition: p, index: i, image: image, bytes: blob.count, note: note, isUBI: false, runs: runs, blocks: placed))
            case let .ubi(volumes):
                o.progress("UBI image for \(p.name) (\(volumes.count) volume(s))")
                let ubiGeometry = try UBIGeometry(pebSize: b.flash.eraseBlockSize, minIOSize: b.flash.pageSize, subpageSize: b.flash.subpageSize)
                var vols: [UBIVolume] = []
                let reserve = b.badBlockReserve()
                // Known bad blocks come out of UBI's reserve (ubi->beb_rsvd_pebs = limit - bad); more
                // bad blocks than the reserve take PEBs from the volumes.
                let knownBad = b.knownBad(in: (p.offset / b.flash.eraseBlockSize)..<(p.offset / b.flash.eraseBlockSize + p.blocks)).count
                let lost = max(reserve, knownBad)
                let available = p.blocks - UBIMedia.layoutVolumeEBs - 2 - lost
                for (k, v) in volumes.enumerated() {
                    var file: String?
                    switch v.source {
                    case .empty: break
                    case let .file(f): file = path(b, f)
                    case let .ubifs(spec):
                        o.progress("UBIFS from \(spec)")
                        file = try makeUBIFS(b, spec: path(b, spec), work: work, name: v.name, geometry: ubiGeometry, maxLEBs: available, options: o)
                    }
                    let fileSize = try file.map { try FileIO.size(of: $0) }
                    let size = v.size ?? fileSize ?? 0
                    vols.append(UBIVolume(id: k, name: v.name, kind: v.isStatic ? .static : .dynamic, size: size, image: file, autoresize: v.autoresize, source: "\(b.source):\(v.line): volume '\(v.name)'"))
                }
                let reserved = vols.reduce(0) { $0 + ($1.size + ubiGeometry.lebSize - 1) / ubiGeometry.lebSize }
                guard reserved <= available else {
                    let badText = knownBad > reserve ? "\(knownBad) known bad blocks (more than the \(reserve) bad-block reserve)" : "\(reserve) bad-block reserve"
                    throw Failure(message: "\(b.source):\(p.line): partition '\(p.name)': its UBI volumes reserve \(reserved) LEBs, the partition has \(available) after UBI's overhead (\(p.blocks) PEBs − 2 layout − 2 wear-levelling/EBA − \(badText))")
                }
                let seq = CRC32.raw(try UBIImageWriter.volumeTable(vols, ubiGeometry), seed: 0xFFFF_FFFF)
                let r = try UBIImageWriter.write(vols, geometry: ubiGeometry, imageSeq: seq, to: image)
                let bytes = try FileIO.size(of: image)
                try check(b, p, bytes: bytes)
                ubiNotes.append("\(p.name): UBI LEB \(ubiGeometry.lebSize), \(r.pebs) PEBs written of \(p.blocks); volumes: " + r.volumes.map { "\($0.name) \($0.writtenLEBs) LEBs (\($0.reservedPEBs) reserved)" }.joined(separator: ", ") + "; \(available - reserved) LEBs left for autoresize; bad-block reserve \(reserve)")
                var ubi = try whole(b, p, index: i, image: image, bytes: bytes, note: "UBI, \(vols.count) volume(s)")
                ubi.isUBI = true
                built.append(ubi)
            }
        }
        // The whole chip (main area), content placed past known bad blocks within each partition.
        o.progress("full image (\(b.flash.chipSize >> 20) MiB)")
        let full = "\(out)/\(b.name).img"
        try writeFull(b, built: built, to: full)
        if b.flash.kind == .nand {
            o.progress("OOB image (ECC \(b.flash.ecc.rawValue))")
            let g = try NANDGeometry(pageSize: b.flash.pageSize, oobSize: b.flash.oobSize, eraseBlockSize: b.flash.eraseBlockSize)
            _ = try NANDRawImage.write(input: full, geometry: g, ecc: b.flash.ecc, badBlocks: [], blocks: b.flash.blocks, to: "\(out)/\(b.name).oob.img", markBad: b.badBlocks)
        }
        if let q = b.qemu {
            try AtomicFile.write(Array(qemuArguments(b, q).joined(separator: "\n").utf8) + [0x0A], to: "\(out)/qemu.args")
        }
        try AtomicFile.write(Array((b.mtdparts + "\n").utf8), to: "\(out)/mtdparts.txt")
        try AtomicFile.write(Array(b.deviceTreeFragment.utf8), to: "\(out)/partitions.dtsi")
        if !fwEnv.isEmpty {
            try AtomicFile.write(Array(("# fw_env.config for \(b.name) (flashsmith build)\n# device\toffset\tenv size\tsector size\tsectors\n" + fwEnv.joined(separator: "\n") + "\n").utf8), to: "\(out)/fw_env.config")
            try AtomicFile.write(Array(chipEnvConfig(b, chipEnv, chip: absolute(staging.destination) + "/\(b.name).img").utf8), to: "\(out)/chip-fw_env.config")
        }
        let script = flashScript(b, built: built)
        try AtomicFile.write(Array(script.utf8), to: "\(out)/flash.cmd")
        let params = UImage.Parameters(arch: 2, os: 5, type: UImageTables.scriptType, comp: 0, load: 0, entry: 0, name: Array("flash \(b.name)".utf8.prefix(32)), time: try BoardBootImages.epoch())
        try UImage.create(params, files: ["\(out)/flash.cmd"], output: "\(out)/flash.scr")
        var report = b.report
        for x in built {
            // Blocks the content takes (each env copy its own), and how many more bad blocks its
            // tightest range can take (never negative: what does not fit was refused above).
            let blocks = x.blocks.reduce(0) { $0 + $1.count }
            let first = x.partition.offset / b.flash.eraseBlockSize
            let bad = b.knownBad(in: first..<(first + x.partition.blocks)).count
            let survives = x.runs.map { b.spare($0) }.min() ?? 0
            report += "  \(x.partition.name): \(x.note), \(x.bytes) bytes in \(blocks) block(s), \(x.partition.size - blocks * b.flash.eraseBlockSize) bytes free"
            report += b.flash.kind == .nand ? "; survives \(survives) more bad block(s)\(x.runs.count > 1 ? " in each copy's range" : "")\(bad > 0 ? " (\(bad) known bad)" : "")\n" : "\n"
        }
        for n in ubiNotes + envNotes + bootNotes { report += "  \(n)\n" }
        report += try bootReport(b, boot: boot)
        try AtomicFile.write(Array(report.utf8), to: "\(out)/report.txt")
        AtomicFolder.removeTree(work)
        try staging.commit()
        return report
    }

    /// Refuses content that does not fit the partition's good blocks.
    static func check(_ b: BoardLayout, _ p: BoardLayout.Partition, bytes: Int) throws {
        _ = try b.placement(.image(p, bytes: bytes, eraseBlock: b.flash.eraseBlockSize), in: p)
    }

    /// A partition's image written whole, from its first good block on.
    static func whole(_ b: BoardLayout, _ p: BoardLayout.Partition, index: Int, image: String, bytes: Int, note: String) throws -> Built {
        let run = ContentRun.image(p, bytes: bytes, eraseBlock: b.flash.eraseBlockSize)
        return Built(partition: p, index: index, image: image, bytes: bytes, note: note, isUBI: false, runs: [run], blocks: [try b.placement(run, in: p)])
    }

    /// `path` made absolute (from the working folder), for files that name it.
    static func absolute(_ path: String) -> String {
        if path.hasPrefix("/") { return path }
        var buf = [CChar](repeating: 0, count: 4096)
        guard getcwd(&buf, buf.count) != nil else { return path }
        let cwd = String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return (cwd == "/" ? "" : cwd) + "/" + (path.hasPrefix("./") ? String(path.dropFirst(2)) : path)
    }

    /// `chip-fw_env.config`: the environment's copies where they are in the chip image (past the
    /// board's known bad blocks), for `flashsmith env print -c` and `fw_printenv -c` on the image.
    static func chipEnvConfig(_ b: BoardLayout, _ lines: [String], chip: String) -> String {
        var s = "# fw_env.config for \(b.name)'s chip image (flashsmith build): the environment where it is in\n"
        s += "# \(b.name).img. flashsmith env print -c THIS (or env set), fw_printenv -c THIS\n"
        s += "# device\toffset\tenv size\tsector size\n"
        return s + lines.map { "\(chip)\t\($0)" }.joined(separator: "\n") + "\n"
    }

    /// Which partition U-Boot boots from, and what the image there holds.
    struct BootPlan {
        var index: Int
        var isFIT: Bool
        var hasRamdisk: Bool
        var hasFDT: Bool
        /// The FIT configuration bootm names (the FIT's default).
        var configuration = "conf-1"
        /// The image file the build writes (what netboot fetches); nil for a `kernel` partition without content.
        var image: BootCommands.Image?
    }

    /// The address a partition is mapped at (NOR with a base), else nil.
    static func mapped(_ b: BoardLayout, _ p: BoardLayout.Partition) -> Int? { b.flash.kind == .nor ? b.flash.base.map { $0 + p.offset } : nil }

    /// bootm for the boot partition: straight from a mapped NOR partition, else after `nand read`.
    /// A FIT without device trees is booted with the one the firmware was given (`${fdtcontroladdr}`,
    /// as on QEMU): bootm's third argument.
    static func bootCommand(_ b: BoardLayout, _ k: BootPlan) -> String {
        let p = b.partitions[k.index]
        if let a = mapped(b, p) { return BootCommands.bootm(k, at: hex(a)) }
        return "\(b.flash.kind == .nand ? "nand" : "mtd") read ${loadaddr} \(p.name) && " + BootCommands.bootm(k, at: "${loadaddr}")
    }

    /// The boot commands (BoardBootCommands.swift); a board whose `boot:` it has no command for is refused.
    static func bootCommands(_ b: BoardLayout, boot: BootPlan?) throws -> BootCommands {
        let c = BootCommands.derive(b, plan: boot, image: boot?.image, nfsArguments: b.overrides.bootargs ?? kernelArguments(b, rootfsIndex: nil).joined(separator: " "))
        if b.boot != .flash && c.command(for: b.boot) == nil {
            throw Failure(message: "\(b.source): boot: \(b.boot.rawValue) needs an image to fetch over TFTP: a partition with content fit: or uimage: (the build writes it into the output folder)")
        }
        return c
    }

    /// console=, the board's own bootargs:, the UBI root (ubi.mtd, root=ubi0:VOLUME) and mtdparts=.
    static func kernelArguments(_ b: BoardLayout, rootfsIndex: Int?) -> [String] {
        var args: [String] = []
        if let c = b.console { args.append("console=\(c)") }
        if let e = b.extraBootargs { args.append(e) }
        if let r = rootfsIndex, case let .ubi(vols) = b.partitions[r].content,
           let root = vols.first(where: { if case .ubifs = $0.source { return true } else { return false } }) {
            args += ["ubi.mtd=\(r)", "root=ubi0:\(root.name)", "rootfstype=ubifs", "rw"]
        }
        // The kernel needs the partitions where it mounts one (UBI), and on NAND; a NOR board that
        // boots a FIT with its initramfs needs none.
        if b.flash.kind == .nand || rootfsIndex != nil { args.append(b.bootargsMtdparts) }
        return args
    }

    /// mtdids, mtdparts, bootargs (console, the board's own, ubi.mtd, root=ubi0:VOLUME), the network
    /// addresses, flashboot/netboot/nfsboot and bootcmd (`run` the one `boot:` chooses).
    static func derivedEnvironment(_ b: BoardLayout, rootfsIndex: Int?, boot: BootPlan?) throws -> [EnvVariable] {
        var vars: [EnvVariable] = [EnvVariable("mtdids", "\(b.flash.ubootDevice)=\(b.flash.mtdID)"), EnvVariable("mtdparts", b.mtdparts)]
        vars.append(EnvVariable("bootargs", b.overrides.bootargs ?? kernelArguments(b, rootfsIndex: rootfsIndex).joined(separator: " ")))
        let commands = try bootCommands(b, boot: boot)
        vars += commands.variables
        if let c = b.overrides.bootcmd ?? commands.command(for: b.boot).map({ "run \($0)" }) { vars.append(EnvVariable("bootcmd", c)) }
        if let m = b.overrides.mtdparts { vars[1] = EnvVariable("mtdparts", m) }
        return vars
    }

    /// The report's boot lines: what bootcmd runs, each command, the network.
    static func bootReport(_ b: BoardLayout, boot: BootPlan?) throws -> String {
        let c = try bootCommands(b, boot: boot)
        var s = ""
        if let o = b.overrides.bootcmd {
            s += "  boots: \(o) (override: bootcmd)\n"
        } else if let name = c.command(for: b.boot) {
            s += "  boots: run \(name) (boot: \(b.boot.rawValue))\n"
        }
        for (name, v) in [("flashboot", c.flashboot), ("netboot", c.netboot), ("nfsboot", c.nfsboot)] {
            if let v { s += "  \(name): \(v)\n" }
        }
        if c.netboot != nil { s += "  network: \(b.network.summary)\n" }
        return s
    }

    /// The QEMU command line for `flashsmith boot` (one argument per line in OUTDIR/qemu.args; file
    /// names relative to OUTDIR): the chip image as a pflash bank, serial on the terminal, no NIC
    /// unless the board boots over the network.
    static func qemuArguments(_ b: BoardLayout, _ q: BoardLayout.QEMUMachine) -> [String] {
        var a = qemuMachineArguments(b, q)
        if let bank = q.pflashBank { a += ["-drive", "if=pflash,format=raw,index=\(bank),file=\(b.name).img"] }
        return a
    }

    /// The machine, CPU, memory, firmware, serial console and network, whatever holds the board's
    /// image (a pflash bank, a disk).
    static func qemuMachineArguments(_ b: BoardLayout, _ q: BoardLayout.QEMUMachine) -> [String] {
        var a = [q.system, "-M", q.machine]
        if let c = q.cpu { a += ["-cpu", c] }
        a += ["-m", String(q.memoryMiB)]
        if let f = q.firmware { a += ["-bios", f] }
        // A board that boots over the network gets QEMU's user network, its TFTP serving OUTDIR.
        return a + ["-nographic", "-no-reboot"] + (b.boot.usesNetwork ? BoardBoot.userNetwork(tftp: ".") : BoardBoot.noNetwork)
    }

    /// The U-Boot script: each partition fetched and written only while every step before it has
    /// succeeded (U-Boot 2023.01's hush does not stop a sourced script on `exit`), the outcome said
    /// at the end. NOR: `erase`/`cp.b` over `+${filesize}` (whole sectors, as U-Boot rounds them), so
    /// nothing past the image is touched.
    static func flashScript(_ b: BoardLayout, built: [Built]) -> String {
        var s = "# flash.cmd: installs board \(b.name) over TFTP (flashsmith build; `source` its flash.scr).\n"
        if b.flash.kind == .nand {
            s += "# Each partition: tftpboot, nand erase.part, nand write (U-Boot skips bad blocks within the partition).\n"
        } else {
            s += "# Each partition: tftpboot, then unprotect, erase and copy the sectors the image needs.\n"
        }
        s += "# A step that fails skips the rest; fs_failed names the partition.\n"
        s += "setenv fs_failed\nsetenv mtdids \(b.flash.ubootDevice)=\(b.flash.mtdID)\nsetenv mtdparts \(b.mtdparts)\n"
        for x in built {
            let file = Manifest.nameOf(x.image)
            var steps = ["tftpboot ${loadaddr} \(file)"]
            if let a = mapped(b, x.partition) {
                steps += ["protect off \(hex(a)) +${filesize}", "erase \(hex(a)) +${filesize}", "cp.b ${loadaddr} \(hex(a)) ${filesize}"]
            } else if x.runs.count > 1 {
                // A redundant environment: each copy from the start of its own range, where U-Boot
                // skips a bad block within the range as it does when it reads the copy back.
                steps.append("nand erase.part \(x.partition.name)")
                for run in x.runs {
                    if run.source == 0 {
                        steps.append("nand write ${loadaddr} \(x.partition.name) \(hex(run.count))")
                    } else {
                        steps += ["setexpr fs_copy ${loadaddr} + \(hex(run.source))", "nand write ${fs_copy} \(hex(run.firstBlock * b.flash.eraseBlockSize)) \(hex(run.count))"]
                    }
                }
            } else {
                // UBI: all-0xff pages are not written (write.trimffs), so UBI sees them as erased.
                steps += ["nand erase.part \(x.partition.name)", "nand \(x.isUBI ? "write.trimffs" : "write") ${loadaddr} \(x.partition.name) ${filesize}"]
            }
            s += "if test -z \"${fs_failed}\"; then echo flashing \(x.partition.name) (\(x.bytes) bytes, \(hex(x.partition.size)) partition); "
            s += "if " + steps.joined(separator: " && ") + "; then true; else setenv fs_failed \(x.partition.name); fi; fi\n"
        }
        s += "if test -z \"${fs_failed}\"; then echo flashsmith: \(b.name) flashed; else echo flashsmith: flashing \(b.name) FAILED at ${fs_failed}; fi\n"
        return s
    }

    /// The chip's main area: 0xff, each partition's image at its offset, blocks known bad skipped
    /// (each run at the blocks ``BoardLayout/placement(_:in:)`` gave it).
    static func writeFull(_ b: BoardLayout, built: [Built], to path: String) throws {
        let out = try AtomicFile(destination: path, durable: false)
        let fd = out.descriptor
        let eb = b.flash.eraseBlockSize
        var ff = [UInt8](repeating: 0xFF, count: eb)
        for block in 0..<b.flash.blocks {
            try ff.withUnsafeBytes { try FileIO.writeAll(fd, $0, path: path, offset: block * eb) }
        }
        for x in built {
            let inFD = try FileIO.openForReading(x.image)
            defer { close(inFD) }
            for (run, blocks) in zip(x.runs, x.blocks) {
                for (k, block) in blocks.enumerated() {
                    let done = k * eb
                    let n = min(eb, run.count - done)
                    for i in 0..<eb { ff[i] = 0xFF }
                    try ff.withUnsafeMutableBytes { buf in
                        var got = 0
                        while got < n {
                            let r = pread(inFD, buf.baseAddress! + got, n - got, off_t(run.source + done + got))
                            guard r > 0 else { throw FileError.shortRead(path: x.image, offset: run.source + done + got, expected: n, found: got) }
                            got += r
                        }
                    }
                    guard lseek(fd, off_t(block * eb), SEEK_SET) >= 0 else { throw FileError.writeFailed(path: path, offset: block * eb, reason: FileIO.errnoText()) }
                    try ff.withUnsafeBytes { try FileIO.writeAll(fd, $0, path: path, offset: block * eb) }
                }
            }
        }
        try out.commit()
    }

    /// UBIFS from a rootfs spec, by Flashsmith's own writer straight from the manifest (owners,
    /// modes, device nodes, xattrs and times as the manifest says, no staging tree, no root):
    /// LZO, the volume's LEB geometry, room for every LEB the partition has, and space fixup so
    /// the kernel fixes the free space of a raw-programmed image at its first mount.
    static func makeUBIFS(_ b: BoardLayout, spec: String, work: String, name: String, geometry g: UBIGeometry, maxLEBs: Int, options o: Options) throws -> String {
        let m = try BoardBootImages.rootfsManifest(b, spec: spec, skeletonPaths: o.skeletonPaths)
        let image = "\(work)/\(name).ubifs"
        var options = UBIFSOptions(minIOSize: g.minIOSize, lebSize: g.lebSize, maxLEBCount: maxLEBs)
        options.compression = .lzo
        options.spaceFixup = true
        do {
            try UBIFSOutput.write(m, to: image, options: options)
        } catch let e as UBIFSWriter.Failure {
            throw Failure(message: "UBIFS for \(spec): \(e.message)")
        }
        return image
    }
}

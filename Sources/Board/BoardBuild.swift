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
/// OUTDIR/flash.cmd/.scr    U-Boot script installing every partition over TFTP
/// OUTDIR/report.txt        offsets, sizes, free space, UBI overhead, LEBs, bad blocks each partition survives
/// ```
public enum BoardBuild {
    public struct Options {
        public var skeletonPaths: [String]
        public var progress: (String) -> Void
        public init(skeletonPaths: [String], progress: @escaping (String) -> Void = { _ in }) {
            self.skeletonPaths = skeletonPaths
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
    }

    static func path(_ b: BoardLayout, _ p: String) -> String { p.hasPrefix("/") ? p : "\(b.folder)/\(p)" }

    /// Everything is written into a fresh folder beside `destination`, which replaces it only when
    /// the whole build has succeeded: a failure part-way leaves the old outputs as they were.
    public static func run(_ b: BoardLayout, output destination: String, options o: Options) throws -> String {
        let staging = try AtomicFolder(destination: destination)
        chmod(staging.path, 0o755)
        let out = staging.path
        let rootfsIndex = b.ubiRootfsIndex
        var built: [Built] = []
        var ubiNotes: [String] = []
        var fwEnv: [String] = []
        var envNotes: [String] = []
        var bootNotes: [String] = []
        // The board's root filesystem as an initramfs (its own output, and a FIT's ramdisk).
        if b.rootfs != nil { o.progress("root filesystem (cpio.gz)") }
        let initramfs = try BoardBootImages.initramfs(b, out: out, skeletonPaths: o.skeletonPaths)
        if let r = initramfs { bootNotes.append("rootfs.cpio.gz: \(r.entries) entries, \(try FileIO.size(of: r.path)) bytes, from \(Manifest.nameOf(b.rootfs ?? ""))") }
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
                let r = try BoardBootImages.fit(b, p, c, initramfs: initramfs?.path, work: work, image: image)
                let bytes = try FileIO.size(of: image)
                try check(b, p, bytes: bytes)
                bootImages[i] = (r.note, bytes)
                if boot == nil { boot = BootPlan(index: i, isFIT: true, hasRamdisk: r.hasRamdisk, hasFDT: r.hasFDT, configuration: r.configuration) }
            case let .uimage(c):
                o.progress("uImage for \(p.name)")
                let note = try BoardBootImages.uimage(b, p, c, work: work, image: image)
                let bytes = try FileIO.size(of: image)
                try check(b, p, bytes: bytes)
                bootImages[i] = (note, bytes)
                // A uImage carries no device tree: bootm gets the firmware's.
                if boot == nil { boot = BootPlan(index: i, isFIT: false, hasRamdisk: false, hasFDT: false) }
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
            case .fit, .uimage:
                let r = bootImages[i]!
                built.append(Built(partition: p, index: i, image: image, bytes: r.bytes, note: r.note, isUBI: false))
            case let .file(f):
                let src = path(b, f)
                let size = try FileIO.size(of: src)
                try check(b, p, bytes: size)
                try FileIO.copyRange(src, offset: 0, count: size, to: image)
                built.append(Built(partition: p, index: i, image: image, bytes: size, note: "file \(f)", isUBI: false))
            case let .env(text, redundant, envSize):
                let size = envSize ?? b.flash.eraseBlockSize
                guard size <= b.flash.eraseBlockSize else { throw Failure(message: "\(b.source):\(p.line): partition '\(p.name)': env size \(hex(size)) is larger than an erase block") }
                let copies = redundant ? 2 : 1
                guard p.blocks >= copies else { throw Failure(message: "\(b.source):\(p.line): partition '\(p.name)': \(copies) env copies need \(copies) erase blocks, the partition has \(p.blocks)") }
                var vars = try EnvText.parseEquals(try FileIO.readAll(path(b, text)), source: path(b, text))
                let derived = derivedEnvironment(b, rootfsIndex: rootfsIndex, boot: boot)
                // Derived from the layout, never typed twice: the file's own values for these give way (and are named).
                let overridden = vars.filter { v in derived.contains { $0.name == v.name } }.map { String(decoding: $0.name, as: UTF8.self) }
                if !overridden.isEmpty { envNotes.append("\(p.name): \(overridden.joined(separator: ", ")) in \(text) replaced by the values derived from the layout") }
                vars.removeAll { v in derived.contains { $0.name == v.name } }
                vars += derived
                let env = EnvImage(variables: vars, size: size, redundant: redundant)
                // Copy 1 in the first block, copy 2 in the second half's first block (its own bad-block range).
                let per = p.blocks / copies
                var blob = [UInt8](repeating: 0xFF, count: (copies == 1 ? 1 : per + 1) * b.flash.eraseBlockSize)
                let c1 = try env.encodeCopy(flag: 1)
                blob.replaceSubrange(0..<c1.count, with: c1)
                if redundant {
                    let c2 = try env.encodeCopy(flag: 0)
                    blob.replaceSubrange((per * b.flash.eraseBlockSize)..<(per * b.flash.eraseBlockSize + c2.count), with: c2)
                }
                while blob.count > size, blob.last == 0xFF, blob.count > c1.count { blob.removeLast() }
                try AtomicFile.write(blob, to: image)
                try AtomicFile.write(try EnvText.writeEquals(vars), to: "\(out)/uboot-env.txt")
                for c in 0..<copies {
                    fwEnv.append("/dev/mtd\(i)\t\(hex(c * per * b.flash.eraseBlockSize))\t\(hex(size))\t\(hex(b.flash.eraseBlockSize))" + (b.flash.kind == .nand ? "\t\(per)" : ""))
                }
                built.append(Built(partition: p, index: i, image: image, bytes: blob.count, note: "environment, \(copies) cop\(copies == 1 ? "y" : "ies") of \(hex(size)), \(vars.count) variables", isUBI: false))
            case let .ubi(volumes):
                o.progress("UBI image for \(p.name) (\(volumes.count) volume(s))")
                let ubiGeometry = try UBIGeometry(pebSize: b.flash.eraseBlockSize, minIOSize: b.flash.pageSize, subpageSize: b.flash.subpageSize)
                var vols: [UBIVolume] = []
                let reserve = b.badBlockReserve()
                let available = p.blocks - UBIMedia.layoutVolumeEBs - 2 - reserve
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
                    throw Failure(message: "\(b.source):\(p.line): partition '\(p.name)': its UBI volumes reserve \(reserved) LEBs, the partition has \(available) after UBI's overhead (\(p.blocks) PEBs − 2 layout − 2 wear-levelling/EBA − \(reserve) bad-block reserve)")
                }
                let seq = CRC32.raw(try UBIImageWriter.volumeTable(vols, ubiGeometry), seed: 0xFFFF_FFFF)
                let r = try UBIImageWriter.write(vols, geometry: ubiGeometry, imageSeq: seq, to: image)
                let bytes = try FileIO.size(of: image)
                try check(b, p, bytes: bytes)
                ubiNotes.append("\(p.name): UBI LEB \(ubiGeometry.lebSize), \(r.pebs) PEBs written of \(p.blocks); volumes: " + r.volumes.map { "\($0.name) \($0.writtenLEBs) LEBs (\($0.reservedPEBs) reserved)" }.joined(separator: ", ") + "; \(available - reserved) LEBs left for autoresize; bad-block reserve \(reserve)")
                built.append(Built(partition: p, index: i, image: image, bytes: bytes, note: "UBI, \(vols.count) volume(s)", isUBI: true))
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
        }
        let script = flashScript(b, built: built)
        try AtomicFile.write(Array(script.utf8), to: "\(out)/flash.cmd")
        let params = UImage.Parameters(arch: 2, os: 5, type: UImageTables.scriptType, comp: 0, load: 0, entry: 0, name: Array("flash \(b.name)".utf8.prefix(32)), time: BoardBootImages.epoch)
        try UImage.create(params, files: ["\(out)/flash.cmd"], output: "\(out)/flash.scr")
        var report = b.report
        for x in built {
            let blocks = (x.bytes + b.flash.eraseBlockSize - 1) / b.flash.eraseBlockSize
            let bad = (x.partition.offset / b.flash.eraseBlockSize..<(x.partition.offset / b.flash.eraseBlockSize + x.partition.blocks)).filter { b.badBlocks.contains($0) }.count
            report += "  \(x.partition.name): \(x.note), \(x.bytes) bytes in \(blocks) block(s), \(x.partition.size - blocks * b.flash.eraseBlockSize) bytes free"
            report += b.flash.kind == .nand ? "; survives \(x.partition.blocks - blocks - bad) more bad block(s)\(bad > 0 ? " (\(bad) known bad)" : "")\n" : "\n"
        }
        for n in ubiNotes + envNotes + bootNotes { report += "  \(n)\n" }
        if let k = boot { report += "  boots: \(bootCommand(b, k))\n" }
        try AtomicFile.write(Array(report.utf8), to: "\(out)/report.txt")
        AtomicFolder.removeTree(work)
        try staging.commit()
        return report
    }

    static func check(_ b: BoardLayout, _ p: BoardLayout.Partition, bytes: Int) throws {
        let first = p.offset / b.flash.eraseBlockSize
        let bad = (first..<(first + p.blocks)).filter { b.badBlocks.contains($0) }.count
        let room = (p.blocks - bad) * b.flash.eraseBlockSize
        guard bytes <= room else {
            throw Failure(message: "\(b.source):\(p.line): partition '\(p.name)': content is \(bytes) bytes (\(hex(bytes))), the partition holds \(room) (\(p.blocks) blocks\(bad > 0 ? ", \(bad) bad" : ""))")
        }
    }

    /// Which partition U-Boot boots from, and what the image there holds.
    struct BootPlan {
        var index: Int
        var isFIT: Bool
        var hasRamdisk: Bool
        var hasFDT: Bool
        /// The FIT configuration bootm names (the FIT's default).
        var configuration = "conf-1"
    }

    /// The address a partition is mapped at (NOR with a base), else nil.
    static func mapped(_ b: BoardLayout, _ p: BoardLayout.Partition) -> Int? { b.flash.kind == .nor ? b.flash.base.map { $0 + p.offset } : nil }

    /// bootm for the boot partition: straight from a mapped NOR partition, else after `nand read`.
    /// A FIT without device trees is booted with the one the firmware was given (`${fdtcontroladdr}`,
    /// as on QEMU): bootm's third argument.
    static func bootCommand(_ b: BoardLayout, _ k: BootPlan) -> String {
        let p = b.partitions[k.index]
        var prefix = ""
        var at = "${loadaddr}"
        if let a = mapped(b, p) {
            at = hex(a)
        } else {
            prefix = "\(b.flash.kind == .nand ? "nand" : "mtd") read ${loadaddr} \(p.name) && "
        }
        if k.isFIT {
            let image = "\(at)#\(k.configuration)"
            return prefix + (k.hasFDT ? "bootm \(image)" : "bootm \(image) \(k.hasRamdisk ? image : "-") ${fdtcontroladdr}")
        }
        return prefix + (k.hasFDT ? "bootm \(at)" : "bootm \(at) - ${fdtcontroladdr}")
    }

    /// mtdids, mtdparts, bootargs (console, the board's own, ubi.mtd, root=ubi0:VOLUME) and bootcmd
    /// (the boot partition's image: bootm from NOR, nand read then bootm from NAND).
    static func derivedEnvironment(_ b: BoardLayout, rootfsIndex: Int?, boot: BootPlan?) -> [EnvVariable] {
        var vars: [EnvVariable] = [EnvVariable("mtdids", "\(b.flash.ubootDevice)=\(b.flash.mtdID)"), EnvVariable("mtdparts", b.mtdparts)]
        var args: [String] = []
        if let c = b.console { args.append("console=\(c)") }
        if let e = b.extraBootargs { args.append(e) }
        if let r = rootfsIndex, case let .ubi(vols) = b.partitions[r].content,
           let root = vols.first(where: { if case .ubifs = $0.source { return true } else { return false } }) {
            args += ["ubi.mtd=\(r)", "root=ubi0:\(root.name)", "rootfstype=ubifs", "rw"]
        }
        // The kernel needs the partitions where it mounts one (UBI), and on NAND; a NOR board that
        // boots a FIT with its initramfs needs none.
        if b.flash.kind == .nand || rootfsIndex != nil { args.append(b.mtdparts) }
        vars.append(EnvVariable("bootargs", args.joined(separator: " ")))
        if let k = boot { vars.append(EnvVariable("bootcmd", bootCommand(b, k))) }
        return vars
    }

    /// The QEMU command line for `flashsmith boot` (one argument per line in OUTDIR/qemu.args; file
    /// names relative to OUTDIR): the chip image as a pflash bank, serial on the terminal.
    static func qemuArguments(_ b: BoardLayout, _ q: BoardLayout.QEMUMachine) -> [String] {
        var a = [q.system, "-M", q.machine]
        if let c = q.cpu { a += ["-cpu", c] }
        a += ["-m", String(q.memoryMiB)]
        if let f = q.firmware { a += ["-bios", f] }
        a += ["-nographic", "-no-reboot", "-nic", "none"]
        if let bank = q.pflashBank { a += ["-drive", "if=pflash,format=raw,index=\(bank),file=\(b.name).img"] }
        return a
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

    /// The chip's main area: 0xff, each partition's image at its offset, blocks known bad skipped.
    static func writeFull(_ b: BoardLayout, built: [Built], to path: String) throws {
        let out = try AtomicFile(destination: path, durable: false)
        let fd = out.descriptor
        let eb = b.flash.eraseBlockSize
        var ff = [UInt8](repeating: 0xFF, count: eb)
        for block in 0..<b.flash.blocks {
            try ff.withUnsafeBytes { try FileIO.writeAll(fd, $0, path: path, offset: block * eb) }
        }
        for x in built {
            var block = x.partition.offset / eb
            var done = 0
            let inFD = try FileIO.openForReading(x.image)
            defer { close(inFD) }
            while done < x.bytes {
                while b.badBlocks.contains(block) { block += 1 }
                let n = min(eb, x.bytes - done)
                for i in 0..<eb { ff[i] = 0xFF }
                try ff.withUnsafeMutableBytes { buf in
                    var got = 0
                    while got < n {
                        let r = pread(inFD, buf.baseAddress! + got, n - got, off_t(done + got))
                        guard r > 0 else { throw FileError.shortRead(path: x.image, offset: done + got, expected: n, found: got) }
                        got += r
                    }
                }
                guard lseek(fd, off_t(block * eb), SEEK_SET) >= 0 else { throw FileError.writeFailed(path: path, offset: block * eb, reason: FileIO.errnoText()) }
                try ff.withUnsafeBytes { try FileIO.writeAll(fd, $0, path: path, offset: block * eb) }
                done += n
                block += 1
            }
        }
        try out.commit()
    }

    /// UBIFS from a rootfs spec: the tree written beside (no device nodes), and a device table that
    /// gives mkfs.ubifs every entry's owner and mode and makes the nodes: what the manifest says,
    /// without root.
    static func makeUBIFS(_ b: BoardLayout, spec: String, work: String, name: String, geometry g: UBIGeometry, maxLEBs: Int, options o: Options) throws -> String {
        let m = try BoardBootImages.rootfsManifest(b, spec: spec, skeletonPaths: o.skeletonPaths)
        let tree = "\(work)/\(name).tree"
        _ = try DirectoryOutput.write(m, to: tree, deviceNodes: false)
        var table = "# device table for mkfs.ubifs from \(spec) (flashsmith)\n"
        for e in m.sorted() where e.path != "/" {
            let owner = "\(String(e.mode, radix: 8)) \(e.uid) \(e.gid)"
            switch e.kind {
            case .directory: table += "\(e.path) d \(owner) - - - - -\n"
            case .file: table += "\(e.path) f \(owner) - - - - -\n"
            case .charDevice: table += "\(e.path) c \(owner) \(e.major) \(e.minor) 0 0 -\n"
            case .blockDevice: table += "\(e.path) b \(owner) \(e.major) \(e.minor) 0 0 -\n"
            case .fifo: table += "\(e.path) p \(owner) 0 0 0 0 -\n"
            case .symlink, .hardlink, .socket: continue
            }
        }
        let tablePath = "\(work)/\(name).devtable"
        try AtomicFile.write(Array(table.utf8), to: tablePath)
        let image = "\(work)/\(name).ubifs"
        let r = try ExternalTool.run(
            unchecked: "mkfs.ubifs",
            ["-m", String(g.minIOSize), "-e", String(g.lebSize), "-c", String(maxLEBs), "-x", "lzo", "-F", "-r", tree, "-D", tablePath, "-o", image]
        )
        guard r.status == 0 else { throw Failure(message: "mkfs.ubifs for \(spec) failed: \(String(decoding: r.stderr, as: UTF8.self).split(separator: "\n").last ?? "")") }
        return image
    }
}

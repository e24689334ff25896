import BootImage
import Disk
import FlashsmithCore
import Migration
import RootFS
#if canImport(Glibc)
import Glibc
#endif

/// `flashsmith build BOARD -o OUTDIR` for a disk board (`flash: {type: disk}`, BoardDisk.swift):
/// ```
/// OUTDIR/NAME.img          the whole disk: the partition table, each partition's image at its
///                          offset, raw regions; sparse where nothing is written
/// OUTDIR/PART.img          one image per partition with content (vfat, ext4, squashfs, file, FIT, uImage)
/// OUTDIR/partitions.sfdisk the table as an sfdisk script (`sfdisk DEVICE < partitions.sfdisk` makes it again)
/// OUTDIR/boot.cmd/.scr     the boot script a vfat partition with boot-script: true carries (U-Boot's
///                          distro boot runs /boot.scr from the first bootable partition it finds)
/// OUTDIR/rootfs-initramfs.cpio.gz  when the kernel has the disk or the root's filesystem as modules:
///                          busybox, the modules (and their soft dependencies), an /init that
///                          mounts the root (``BlockRootInitramfs``); the FIT's ramdisk
/// OUTDIR/qemu.args         the disk as a virtio drive, for `flashsmith boot`
/// OUTDIR/report.txt        offsets, sizes, types, GUIDs, what each partition holds and how full it is
/// ```
/// Everything is written rootless and deterministically: the same board gives the same bytes.
enum BoardDiskBuild {
    typealias Failure = BoardLayout.Failure

    struct Built {
        var partition: BoardLayout.Partition
        var image: String
        var bytes: Int
        var note: String
    }

    static func run(_ b: BoardLayout, output destination: String, options o: BoardBuild.Options) throws -> String {
        let table = try partitionTable(b)
        let staging = try AtomicFolder(destination: destination, force: o.force, marker: .file, command: o.command)
        chmod(staging.path, 0o755)
        let out = staging.path
        let work = "\(out)/.work"
        mkdir(work, 0o755)
        var notes: [String] = []
        // The root's initramfs first: the FIT carries it.
        let ramdisk = try rootInitramfs(b, out: out, skeletonPaths: o.skeletonPaths, notes: &notes, progress: o.progress)
        var built: [Built] = []
        for p in b.partitions {
            let image = "\(out)/\(p.name).img"
            let note: String
            switch p.content {
            case .none: continue
            case let .file(f):
                let src = BoardBuild.path(b, f)
                let size = try FileIO.size(of: src)
                try FileIO.copyRange(src, offset: 0, count: size, to: image)
                note = "file \(f)"
            case let .fit(c):
                o.progress("FIT for \(p.name)")
                note = try BoardBootImages.fit(b, p, c, initramfs: ramdisk, work: work, image: image).note
            case let .uimage(c):
                o.progress("uImage for \(p.name)")
                note = try BoardBootImages.uimage(b, p, c, work: work, image: image)
            case let .vfat(c):
                o.progress("vfat for \(p.name)")
                note = try vfat(b, p, c, ramdisk: ramdisk, out: out, work: work, image: image)
            case let .ext4(c):
                o.progress("ext4 for \(p.name)")
                note = try ext4(b, p, c, image: image, skeletonPaths: o.skeletonPaths)
            case let .squashfs(c):
                o.progress("squashfs for \(p.name)")
                note = try squashfs(b, p, c, image: image, skeletonPaths: o.skeletonPaths)
            case .env, .ubi:
                throw Failure(message: "\(b.source):\(p.line): partition '\(p.name)': this content goes on a flash chip, not a disk")
            }
            let bytes = try FileIO.size(of: image)
            guard bytes <= p.size else {
                throw Failure(message: "\(b.source):\(p.line): partition '\(p.name)': its content is \(bytes) bytes (\(note)), the partition \(p.size) (\(ByteSize(bytes: p.size)))")
            }
            built.append(Built(partition: p, image: image, bytes: bytes, note: note))
        }
        o.progress("disk image (\(ByteSize(bytes: b.flash.chipSize)))")
        try writeDisk(b, table: table, built: built, to: "\(out)/\(b.name).img")
        try AtomicFile.write(Array(sfdiskScript(b, table).utf8), to: "\(out)/partitions.sfdisk")
        if let q = b.qemu {
            try AtomicFile.write(Array(qemuArguments(b, q).joined(separator: "\n").utf8) + [0x0A], to: "\(out)/qemu.args")
        }
        let report = try self.report(b, table: table, built: built, notes: notes)
        try AtomicFile.write(Array(report.utf8), to: "\(out)/report.txt")
        AtomicFolder.removeTree(work)
        try staging.commit()
        return report
    }

    // MARK: - The table

    /// The board's partitions as a table (types from the content when not given, GUIDs derived
    /// from the board's name unless given), checked with the raw regions against the table's areas.
    static func partitionTable(_ b: BoardLayout) throws -> PartitionTable {
        guard let d = b.flash.disk else { throw Failure(message: "\(b.source): not a disk board") }
        let kind: PartitionTable.Kind = d.table == .gpt ? .gpt : .mbr
        var parts: [Disk.Partition] = []
        var raw: [RawRegion] = []
        for p in b.partitions {
            guard p.inTable else {
                raw.append(RawRegion(name: p.name, offset: p.offset, size: p.size))
                continue
            }
            let typeText = p.type ?? defaultType(p.content, kind: kind)
            let type: PartitionType
            do { type = try PartitionType.parse(typeText, for: kind, source: "partition '\(p.name)' type") } catch {
                throw Failure(message: "\(b.source):\(p.line): \(error)")
            }
            parts.append(Disk.Partition(name: p.name, offset: p.offset, size: p.size, type: type, bootable: p.bootable, guid: p.uuid.flatMap { GUID($0) }))
        }
        var diskID: PartitionTable.DiskID?
        if let id = d.diskID {
            if kind == .gpt, let g = GUID(id) { diskID = .guid(g) } else if let v = UInt32(id.dropFirst(2), radix: 16) { diskID = .mbr(v) }
        }
        let t = PartitionTable(kind: kind, diskSize: b.flash.chipSize, diskID: diskID, entriesOffset: d.gptLocation, seed: b.name, partitions: parts)
        do {
            return try t.resolved(rawRegions: raw)
        } catch {
            throw Failure(message: "\(b.source): \(error)")
        }
    }

    /// The type a partition gets from what it holds: a FAT boot partition is `esp` on GPT (what
    /// firmware looks for) and FAT32 LBA on MBR; anything else Linux data.
    static func defaultType(_ c: PartitionContent, kind: PartitionTable.Kind) -> String {
        if case .vfat = c { return kind == .gpt ? "esp" : "fat32" }
        return "linux"
    }

    /// The disk: the table, then each image at its partition's offset; the rest is a hole.
    static func writeDisk(_ b: BoardLayout, table: PartitionTable, built: [Built], to path: String) throws {
        let out = try AtomicFile(destination: path, durable: false)
        let fd = out.descriptor
        guard ftruncate(fd, off_t(b.flash.chipSize)) == 0 else { throw FileError.writeFailed(path: path, offset: 0, reason: FileIO.errnoText()) }
        for x in built {
            try copySparse(x.image, into: fd, at: x.partition.offset, path: path)
        }
        let raw = b.partitions.filter { !$0.inTable }.map { RawRegion(name: $0.name, offset: $0.offset, size: $0.size) }
        try table.write(toDescriptor: fd, path: path, rawRegions: raw)
        try out.commit()
    }

    /// Copies `source` into `fd` at `offset`, 1 MiB at a time, leaving all-zero chunks as holes
    /// (the file was made by ftruncate: they read as zeros).
    static func copySparse(_ source: String, into fd: Int32, at offset: Int, path: String) throws {
        let size = try FileIO.size(of: source)
        let input = try FileIO.openForReading(source)
        defer { close(input) }
        let chunk = 1 << 20
        var buffer = [UInt8](repeating: 0, count: chunk)
        var done = 0
        while done < size {
            let n = min(chunk, size - done)
            try buffer.withUnsafeMutableBytes { buf in
                var got = 0
                while got < n {
                    let r = pread(input, buf.baseAddress! + got, n - got, off_t(done + got))
                    guard r > 0 else { throw FileError.shortRead(path: source, offset: done + got, expected: n, found: got) }
                    got += r
                }
            }
            if buffer[0..<n].contains(where: { $0 != 0 }) {
                try FileIO.pwriteAll(fd, Array(buffer[0..<n]), at: offset + done, path: path)
            }
            done += n
        }
    }

    /// `sfdisk -d`'s format: what sfdisk reads back to make the same table.
    static func sfdiskScript(_ b: BoardLayout, _ t: PartitionTable) -> String {
        var s = "# \(b.name): the partition table of \(b.name).img (flashsmith build); sfdisk DEVICE < this\n"
        s += "label: \(t.kind == .gpt ? "gpt" : "dos")\n"
        if let id = t.diskID { s += "label-id: \(id)\n" }
        s += "unit: sectors\nsector-size: 512\n\n"
        for (i, p) in t.partitions.enumerated() {
            var fields = ["start=\(p.offset / 512)", "size=\(p.size / 512)", "type=\(sfdiskType(p.type))"]
            if t.kind == .gpt {
                if let g = p.guid { fields.append("uuid=\(g)") }
                fields.append("name=\"\(p.name)\"")
            }
            if p.bootable { fields.append(t.kind == .gpt ? "attrs=\"LegacyBIOSBootable\"" : "bootable") }
            s += "\(b.name).img\(i + 1) : " + fields.joined(separator: ", ") + "\n"
        }
        return s
    }

    /// A type as sfdisk scripts write it: the GUID (GPT), the id byte in hex (MBR).
    static func sfdiskType(_ t: PartitionType) -> String {
        switch t {
        case let .gpt(g): return g.description.uppercased()
        case let .mbr(b): return String(b, radix: 16)
        }
    }

    // MARK: - Content

    /// The root filesystem of a partition's spec (the board's busybox and architecture added).
    static func manifest(_ b: BoardLayout, spec: String, skeletonPaths: [String]) throws -> Manifest {
        try BoardBootImages.rootfsManifest(b, spec: BoardBuild.path(b, spec), skeletonPaths: skeletonPaths)
    }

    static func ext4(_ b: BoardLayout, _ p: BoardLayout.Partition, _ c: PartitionContent.FilesystemContent, image: String, skeletonPaths: [String]) throws -> String {
        var m = Manifest(sourceDateEpoch: Int64(try BoardBootImages.epoch()))
        if let spec = c.spec { m = try manifest(b, spec: spec, skeletonPaths: skeletonPaths) }
        // Whole 4 KiB blocks (a `rest` partition ends where the backup GPT starts).
        var options = Ext4Options(size: p.size / Ext4Output.blockSize * Ext4Output.blockSize)
        options.label = c.label ?? ""
        if let u = c.uuid, let g = GUID(u) { options.uuid = g.bytes }
        let r = try Ext4Output.write(m, to: image, options: options)
        return "ext4 \(c.spec.map { "from \($0)" } ?? "(empty)"), \(r.entries) entries, UUID \(r.uuidString), \(r.freeBlocks * r.blockSize) bytes free"
    }

    static func squashfs(_ b: BoardLayout, _ p: BoardLayout.Partition, _ c: PartitionContent.FilesystemContent, image: String, skeletonPaths: [String]) throws -> String {
        guard let spec = c.spec else { throw Failure(message: "\(b.source):\(p.line): partition '\(p.name)': squashfs: needs a rootfs spec") }
        let m = try manifest(b, spec: spec, skeletonPaths: skeletonPaths)
        var options = SquashfsOptions()
        if let z = c.compression {
            guard let v = SquashfsOptions.Compression(rawValue: z) else { throw Failure(message: "\(b.source):\(p.line): partition '\(p.name)': squashfs compression '\(z)' is not one mksquashfs has") }
            options.compression = v
        }
        let r = try SquashfsOutput.write(m, to: image, options: options)
        return "squashfs (\(r.compression.rawValue)) from \(spec), \(r.entries) entries" + r.notes.map { "; \($0)" }.joined()
    }

    /// A FAT partition: the boot image (the board's FIT or uImage), /boot.scr, and the files named.
    static func vfat(_ b: BoardLayout, _ p: BoardLayout.Partition, _ c: PartitionContent.VFATContent, ramdisk: String?, out: String, work: String, image: String) throws -> String {
        var files: [VFATImage.File] = []
        var parts: [String] = []
        if c.fit != nil || c.uimage != nil {
            let bootImage = "\(work)/\(p.name)-\(c.imageName)"
            let load: Int
            var compressed = false
            if let f = c.fit {
                parts.append(try BoardBootImages.fit(b, p, f, initramfs: ramdisk, work: work, image: bootImage).note)
                load = f.load
                compressed = f.gzip
            } else if let u = c.uimage {
                parts.append(try BoardBootImages.uimage(b, p, u, work: work, image: bootImage))
                load = u.load
                compressed = u.gzip
            } else {
                load = 0
            }
            files.append(VFATImage.File(name: c.imageName, source: bootImage))
            if c.bootScript {
                let script = try bootScript(b, c, imageBytes: try FileIO.size(of: bootImage), load: load, compressed: compressed, hasRamdisk: ramdisk != nil)
                try AtomicFile.write(Array(script.utf8), to: "\(out)/boot.cmd")
                let params = UImage.Parameters(arch: 2, os: 5, type: UImageTables.scriptType, comp: 0, load: 0, entry: 0, name: Array("boot \(b.name)".utf8.prefix(32)), time: try BoardBootImages.epoch())
                try UImage.create(params, files: ["\(out)/boot.cmd"], output: "\(out)/boot.scr")
                files.append(VFATImage.File(name: "boot.scr", source: "\(out)/boot.scr"))
                parts.append("boot.scr")
            }
        }
        for f in c.files {
            let path = BoardBuild.path(b, f.path)
            guard case .regular = FileIO.kind(of: path) else {
                throw Failure(message: "\(b.source):\(f.line): partition '\(p.name)': vfat file \(f.path): expected a file, found \(FileIO.kind(of: path) == .missing ? "nothing" : "something else")")
            }
            files.append(VFATImage.File(name: f.name, source: path))
        }
        do {
            try VFATImage.build(
                files: files, size: p.size, label: c.label ?? "", volumeID: c.volumeID, sourceDateEpoch: try BoardBootImages.epoch(), seed: "\(b.name)/\(p.name)", to: image)
        } catch {
            throw Failure(message: "\(b.source):\(p.line): partition '\(p.name)': \(error)")
        }
        return "vfat, \(files.count) file(s)" + (parts.isEmpty ? "" : ": " + parts.joined(separator: "; "))
    }

    /// /boot.scr: the kernel arguments, the boot image loaded from this partition (U-Boot's distro
    /// boot sets devtype, devnum and distro_bootpart to where it found the script), bootm.
    static func bootScript(_ b: BoardLayout, _ c: PartitionContent.VFATContent, imageBytes: Int, load: Int, compressed: Bool, hasRamdisk: Bool) throws -> String {
        let at = hex(loadAddress(load: load, bytes: imageBytes, compressed: compressed))
        var plan = BoardBuild.BootPlan(index: 0, isFIT: c.fit != nil, hasRamdisk: c.fit != nil && hasRamdisk, hasFDT: !b.deviceTrees.isEmpty)
        plan.configuration = "conf-1"
        let args = b.overrides.bootargs ?? kernelArguments(b).joined(separator: " ")
        var s = "# boot.cmd: boots \(b.name) from its disk (flashsmith build); mkimage -T script makes boot.scr of it.\n"
        s += "# U-Boot's distro boot runs it from the partition it found it on (${devtype} ${devnum}:${distro_bootpart}).\n"
        s += "setenv bootargs \"\(args)\"\n"
        s += "if test -z \"${devtype}\"; then setenv devtype virtio; setenv devnum 0; setenv distro_bootpart 1; fi\n"
        s += "load ${devtype} ${devnum}:${distro_bootpart} \(at) \(c.imageName) && \(BootCommands.bootm(plan, at: at))\n"
        s += "echo flashsmith: booting \(b.name) from ${devtype} ${devnum}:${distro_bootpart} FAILED\n"
        return s
    }

    /// Where the boot image is loaded: past the kernel's load address and the kernel unpacked (a
    /// gzip'ed kernel about three times its size: room for four), at a 16 MiB boundary.
    static func loadAddress(load: Int, bytes: Int, compressed: Bool) -> Int {
        let reach = bytes * (compressed ? 4 : 1)
        let gap = BootCommands.netGap
        return (load + reach + gap - 1) / gap * gap + gap
    }

    /// console=, the board's bootargs:, and the root on its partition (rootfstype, ro for squashfs,
    /// rootwait).
    static func kernelArguments(_ b: BoardLayout) -> [String] {
        var args: [String] = []
        if let c = b.console { args.append("console=\(c)") }
        if let e = b.extraBootargs { args.append(e) }
        if let r = b.diskRootIndex {
            let p = b.partitions[r]
            var fs = "ext4"
            var access = "rw"
            if case .squashfs = p.content { (fs, access) = ("squashfs", "ro") }
            args += [b.diskRootArgument(r), "rootfstype=\(fs)", access, "rootwait"]
        }
        return args
    }

    // MARK: - The root's initramfs

    /// The kernel's modules the root needs (disk driver, filesystem), when its configuration says
    /// they are modules (Debian's are): the block-root initramfs, else nil (a kernel with them
    /// built in mounts the root itself; so does a board whose root is not on the disk).
    static func rootInitramfs(_ b: BoardLayout, out: String, skeletonPaths: [String], notes: inout [String], progress: (String) -> Void) throws -> String? {
        guard let r = b.diskRootIndex, let kernel = b.kernel else { return nil }
        let boots = b.partitions.contains { p in
            switch p.content {
            case let .vfat(c): return c.fit.map { $0.spec == nil && $0.ramdisk != false } ?? false
            case let .fit(c): return c.spec == nil && c.ramdisk != false
            default: return false
            }
        }
        guard boots else { return nil }
        let fs: String
        if case .squashfs = b.partitions[r].content { fs = "squashfs" } else { fs = "ext4" }
        // The other filesystems on the disk too: their modules stay loaded after switch_root, so the
        // board mounts its data partition without a modules tree of its own.
        var filesystems = [fs]
        if b.partitions.contains(where: { if case .ext4 = $0.content { return true } else { return false } }), fs != "ext4" { filesystems.append("ext4") }
        let kernelPath = try BoardBootImages.resolve(kernel, what: "kernel", board: b)
        let device = b.flash.disk?.device ?? (b.qemu != nil ? "vda" : "mmcblk0")
        let driver = device.hasPrefix("vd") ? ["CONFIG_VIRTIO_BLK", "CONFIG_VIRTIO_MMIO"] : device.hasPrefix("mmcblk") ? ["CONFIG_MMC_BLOCK"] : ["CONFIG_BLK_DEV_SD"]
        let needed = driver + filesystems.map { $0 == "squashfs" ? "CONFIG_SQUASHFS" : "CONFIG_EXT4_FS" }
        if let config = BoardNFSRoot.kernelConfig(kernelPath) {
            let c = try KernelConfig.load(config)
            let modular = needed.filter { c.values[$0] != "y" }
            if modular.isEmpty {
                notes.append("root: \(Manifest.nameOf(config)) has \(needed.joined(separator: ", ")) built in: the kernel mounts the root itself")
                return nil
            }
            notes.append("root: \(Manifest.nameOf(config)) has \(modular.joined(separator: ", ")) as modules (or not at all): an initramfs loads them and mounts the root")
        }
        let busybox = try b.busybox.map { try BoardBootImages.resolve($0, what: "busybox", board: b) }
            ?? (b.partitions[r].content.rootSpec.map { BoardBuild.path(b, $0) }.flatMap { try? BoardNFSRoot.specBusybox($0, skeletonPaths: skeletonPaths) } ?? nil)
        guard let bb = busybox else {
            throw Failure(message: "\(b.source): the kernel needs an initramfs to mount its root from the disk, and that needs a static busybox for the board (busybox: in board.yaml, or a busybox layer in the root's rootfs spec)")
        }
        progress("root initramfs (\(fs) on \(device))")
        let arch = try b.arch ?? BoardBootImages.architecture(ofKernel: kernelPath)
        let builder = BlockRootInitramfs(
            busybox: bb, modules: try BoardNFSRoot.modulesFolder(b, kernel: kernelPath), filesystems: filesystems,
            architecture: arch.flatMap { Architecture.named($0, source: "board \(b.name)'s kernel") })
        let path = "\(out)/rootfs-initramfs.cpio.gz"
        let w = try builder.write(to: path, sourceDateEpoch: Int64(try BoardBootImages.epoch()))
        notes.append("rootfs-initramfs.cpio.gz: \(w.entries) entries, \(w.bytes) bytes, \(w.modules.count) modules of \(w.release) (\(w.modules.map { ModulesLayer.moduleName($0) }.joined(separator: " ")))")
        notes += w.notes.filter { !$0.hasPrefix("busybox:") }.map { "rootfs-initramfs: \($0)" }
        return path
    }

    // MARK: - QEMU and the report

    /// The disk as a virtio block device (MMIO on QEMU's virt machine, PCI elsewhere).
    static func qemuArguments(_ b: BoardLayout, _ q: BoardLayout.QEMUMachine) -> [String] {
        var a = BoardBuild.qemuMachineArguments(b, q)
        let device = q.machine.hasPrefix("virt") ? "virtio-blk-device" : "virtio-blk-pci"
        a += ["-drive", "if=none,format=raw,id=disk0,file=\(b.name).img", "-device", "\(device),drive=disk0"]
        return a
    }

    static func report(_ b: BoardLayout, table: PartitionTable, built: [Built], notes: [String]) throws -> String {
        let d = b.flash.disk ?? BoardLayout.Disk()
        var s = "\(b.name): \(ByteSize(bytes: b.flash.chipSize)) disk, \(d.table.rawValue.uppercased())\(table.diskID.map { ", disk id \($0)" } ?? "")\n"
        var k = 0
        for p in b.partitions {
            var line = "  "
            if p.inTable {
                let t = table.partitions[k]
                k += 1
                line += "\(k)".padding(3) + p.name.padding(12) + hex(p.offset).padding(12) + hex(p.size).padding(12) + t.type.description
                if let g = t.guid { line += "  \(g)" }
                if p.bootable { line += "  bootable" }
            } else {
                line += "-".padding(3) + p.name.padding(12) + hex(p.offset).padding(12) + hex(p.size).padding(12) + "raw (not in the table)"
            }
            s += line + "\n"
        }
        if let r = b.diskRootIndex { s += "  root: \(b.partitions[r].name) (\(b.diskRootArgument(r)))\n" }
        for x in built {
            let room = x.bytes == x.partition.size ? "fills the partition" : "\(x.partition.size - x.bytes) bytes of the partition left"
            s += "  \(x.partition.name): \(x.note); \(x.bytes) bytes, \(room)\n"
        }
        for n in notes { s += "  \(n)\n" }
        return s
    }
}

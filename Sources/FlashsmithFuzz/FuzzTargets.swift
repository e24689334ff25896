import Archive
import Board
import BootImage
import DeviceTree
import Disk
import Flash
import FlashsmithCLI
import FlashsmithCore
import Migration
import RootFS
import UBootEnv
import YAML

/// Every parser of Flashsmith, called the way its commands call it. A target writes its input where
/// the parser reads it (a file in the scratch folder, for parsers that take paths), runs the
/// parser and what the command does next with the result (describe, verify, re-encode), and lets
/// the first refusal throw. Paths inside mutated configs are pointed back into the scratch folder,
/// so a campaign never reads or writes anything else.
public enum FuzzTargets {
    /// The committed seeds (Tests/FuzzTests/Seeds) of this checkout.
    public static var defaultSeeds: String {
        let file = #filePath
        guard let r = file.firstRange(of: "/Sources/FlashsmithFuzz/") else { return "Tests/FuzzTests/Seeds" }
        return file[..<r.lowerBound] + "/Tests/FuzzTests/Seeds"
    }

    /// The folder of the repository's rootfs skeletons (for specs that name one).
    static var skeletons: String { defaultSeeds.replacing("/Tests/FuzzTests/Seeds", with: "/rootfs-skeletons") }

    public static func named(_ name: String) -> FuzzTarget? { all.first { $0.name == name } }

    public static let all: [FuzzTarget] = [
        envBlob, envText, fwEnvConfig, uImage, fit, dtb, its, fitYAML, ubi, ubifs, nandRaw, flashImage, disk, inspect, archive, archiveCompressed, deb, elf, busybox,
        kconfig, ubinize, deviceTable, usersTable, yaml, board, rootfsSpec, genimageConfig, byteSize, cliOptions,
    ]

    // MARK: U-Boot environment

    static let envBlob = FuzzTarget(
        "env-blob", "U-Boot environment blobs (EnvBlob.read, inspect, re-encode)", headerWindow: 16, dictionary: ["bootcmd=", "=", "\u{0}\u{0}"], fixup: FuzzFixups.env
    ) { bytes, s in
        let p = try s.write(bytes, "env.bin")
        _ = EnvFormat.probe(path: p, prefix: Array(bytes.prefix(FormatRegistry.probeSize)), fileSize: bytes.count)
        let hints = [
            EnvLayoutHints(), EnvLayoutHints(size: 0x1000), EnvLayoutHints(size: 0x800, redundant: true),
            EnvLayoutHints(redundant: false, byteOrder: .big), EnvLayoutHints(redundant: true, scheme: .boolean),
        ]
        var firstError: (any Error)?
        var read = false
        for h in hints {
            do {
                let blob = try EnvBlob.read(file: p, hints: h)
                _ = EnvFormat.describe(blob).text
                _ = EnvFormat.json(blob, includeVariables: true).encoded()
                var image = try blob.activeImage()
                _ = try EnvText.writeEquals(image.variables)
                _ = try? EnvText.writeUBoot(image.variables)
                image.set(Array("fuzz".utf8), Array("1".utf8))
                _ = try blob.writes(storing: image)
                read = true
            } catch {
                firstError = firstError ?? error
            }
        }
        if !read, let firstError { throw firstError }
    }

    static let envText = FuzzTarget("env-text", "environment text: name=value, U-Boot script (setenv)", text: true, dictionary: ["setenv ", "env set ", "env set -f ", "=", "\\", "'", "${"]) { bytes, _ in
        // As env create (name=value) and env set --script (either syntax) read a text.
        let vars = try? EnvText.parseEquals(bytes, source: "env.txt")
        var image = EnvImage(variables: vars ?? [], size: 0x1000, redundant: true)
        _ = try? image.encodeCopy()
        var parsed = vars != nil
        for syntax in [nil, EnvTextSyntax.equals, .uboot] {
            if let a = try? EnvText.parseScript(bytes, source: "script.txt", syntax: syntax) {
                EnvText.apply(a, to: &image)
                parsed = true
            }
        }
        _ = try? EnvText.parseUBoot(bytes, source: "script.txt")
        _ = try? EnvText.writeUBoot(image.variables)
        _ = try? EnvText.writeEquals(image.variables)
        guard parsed else { throw Refused() }
    }

    static let fwEnvConfig = FuzzTarget(
        "fw-env-config", "fw_env.config, then the environment it points at", text: true, dictionary: ["@ENV@", "/dev/mtd0", "0x20000", "#"],
        prepare: { s in try s.write(try s.fixtureOrSeed("env-blob/env-redundant-pair.bin"), "env.bin") }
    ) { bytes, s in
        let text = String(decoding: bytes, as: UTF8.self).replacing("@ENV@", with: s.file("env.bin"))
        var config = try FWEnvConfig.parse(Array(text.utf8), path: s.file("fw_env.config"))
        // Every device is the scratch environment: the offsets and sizes are what is fuzzed.
        for i in config.locations.indices { config.locations[i].device = s.file("env.bin") }
        _ = config.redundant
        _ = config.envSize
        for l in config.locations { _ = EnvStore.impliedScheme(l) }
        let blob = try EnvBlob.read(config: config, hints: EnvLayoutHints())
        _ = EnvFormat.describe(blob).text
        if let image = try? blob.activeImage() {
            _ = try blob.writes(storing: image)
            _ = try EnvBlob.freshWrites(image, at: config.locations)
        }
    }

    // MARK: Boot images

    static let uImage = FuzzTarget(
        "uimage", "legacy uImage (read, verify, parts, extract)", headerWindow: 64, dictionary: ["\u{27}\u{05}\u{19}\u{56}"], fixup: FuzzFixups.uImage
    ) { bytes, s in
        let p = try s.write(bytes, "uImage")
        _ = UImageFormat.probe(path: p, prefix: Array(bytes.prefix(FormatRegistry.probeSize)), fileSize: bytes.count)
        let parsed = try UImage.read(p)
        try UImage.verify(parsed)
        for i in parsed.parts.indices.prefix(4) { try UImage.extract(parsed, part: parsed.header.hasPartTable ? i : nil, output: s.file("part")) }
    }

    static let fit = FuzzTarget(
        "fit", "FIT images (read, hashes, signatures against a control DTB, lint, extract)", headerWindow: 64,
        dictionary: ["data-offset", "data-size", "data-position", "hash-1", "algo", "sha256", "crc32", "load", "entry", "configurations"],
        prepare: { s in try s.write(try s.fixture("control.dtb"), "control.dtb") }
    ) { bytes, s in
        let p = try s.write(bytes, "fit.itb")
        let prefix = Array(bytes.prefix(FormatRegistry.probeSize))
        _ = FITFormat.probe(path: p, prefix: prefix, fileSize: bytes.count)
        _ = DTBFormat.probe(path: p, prefix: prefix, fileSize: bytes.count)
        let info = try FITInfo.read(p)
        var options = FITLint.Options()
        _ = FITLint.check(info, options: options)
        options.fitAddress = 0x4000_0000
        options.bootmLen = 64 << 20
        _ = FITLint.check(info, options: options)
        _ = try? info.checkHashes()
        if let control = try? DeviceTree.decode(try readFile(s.file("control.dtb")), source: "control.dtb") {
            _ = try? info.checkSignatures(control: control)
        }
        for image in info.images.prefix(4) { try info.extract(image.name, output: s.file("image")) }
        try info.verify()
    }

    static let dtb = FuzzTarget("dtb", "flattened device trees (validate, decode, re-encode)", headerWindow: 40, dictionary: ["\u{D0}\u{0D}\u{FE}\u{ED}", "#address-cells", "reg"]) { bytes, s in
        let p = try s.write(bytes, "board.dtb")
        _ = DTBFormat.probe(path: p, prefix: Array(bytes.prefix(FormatRegistry.probeSize)), fileSize: bytes.count)
        try DeviceTree.validate(bytes, source: p)
        let blob = try FDTBlob(validating: bytes, source: p)
        _ = try? blob.subnodes("/")
        let tree = try DeviceTree.decode(bytes, source: p)
        _ = try tree.encoded(padding: 64)
    }

    /// dtc reports a repeated property once per pair (fuzz-findings.md F3): lines are repeated ten
    /// times at most here, or dtc's own error output would take most of the campaign.
    static let its: FuzzTarget = {
        var t = FuzzTarget(
            "its", "FIT sources (.its) through dtc, as fit build does", text: true,
            dictionary: ["/incbin/(\"kernel.bin\")", "/incbin/(", "data = ", "hash-1 { algo = \"sha256\"; };", "<0xffffffff>", "/dts-v1/;"],
            prepare: writeFITFixtures, run: compileITS)
        t.mutator.maxRepeat = 10
        return t
    }()

    static func compileITS(_ bytes: [UInt8], _ s: FuzzScratch) throws {
        let p = try s.write(bytes, "fit.its")
        var blob = try FIT.compileITS(p)
        var options = FIT.BuildOptions()
        options.sign = false
        options.timestamp = 0
        try FIT.fill(&blob, options: options)
    }

    static let fitYAML = FuzzTarget(
        "fit-yaml", "FIT specs in YAML (parse, tree, fill, read back, lint)", text: true,
        dictionary: ["images:", "configurations:", "address-cells: ", "load: ", "entry: ", "data: kernel.bin", "hash: ", "properties:", "signature-1:", "compression: gzip"],
        prepare: writeFITFixtures
    ) { bytes, s in
        let p = s.file("spec.yaml")
        let parsed = try FITSpec.parse(String(decoding: bytes, as: UTF8.self), path: p)
        // Data files named by the spec must be the scratch fixtures, never anything else on the machine.
        guard parsed.dataFiles.allSatisfy({ $0.file.hasPrefix(s.path + "/") && !$0.file.contains("/../") }) else { return }
        var blob = try FITSpec.blob(parsed, source: p)
        var options = FIT.BuildOptions()
        options.sign = false
        options.timestamp = 0
        try FIT.fill(&blob, options: options)
        let out = try s.write(blob.buffer, "fit.itb")
        let info = try FITInfo.read(out)
        _ = FITLint.check(info, options: FITLint.Options())
        _ = try info.checkHashes()
    }

    static func writeFITFixtures(_ s: FuzzScratch) throws {
        try s.write((0..<3000).map { UInt8(truncatingIfNeeded: $0 &* 7) }, "kernel.bin")
        try s.write(Array("initrd data".utf8), "initrd.bin")
        try s.write(try readFile("\(s.seeds)/dtb/board.dtb"), "board.dtb")
    }

    // MARK: Flash

    static let ubi = FuzzTarget(
        "ubi", "UBI images (read with and without a PEB size, inspect)", headerWindow: 128, dictionary: ["UBI#", "UBI!"], fixup: FuzzFixups.ubi
    ) { bytes, s in
        let p = try s.write(bytes, "ubi.img")
        _ = UBIFormat.probe(path: p, prefix: Array(bytes.prefix(FormatRegistry.probeSize)), fileSize: bytes.count)
        _ = try? UBIImageInfo.read(p, pebSize: 16 << 10)
        _ = try? UBIImageInfo.read(p, pebSize: 64 << 10)
        _ = try UBIImageInfo.read(p)
    }

    /// Files longer than this are not streamed (a mutated size of 2 TiB of holes is all zeros, slowly).
    static let ubifsStreamLimit: UInt64 = 16 << 20

    static let ubifs = FuzzTarget(
        "ubifs", "UBIFS images, plain and in UBI (superblock, masters, index, journal replay, listing, every file streamed, inspect)",
        headerWindow: 4096, dictionary: ["\u{31}\u{18}\u{10}\u{06}", "UBI#", "UBI!"], fixup: FuzzFixups.ubifs
    ) { bytes, s in
        let p = try s.write(bytes, "root.ubifs")
        _ = UBIFSFormat.probe(path: p, prefix: Array(bytes.prefix(FormatRegistry.probeSize)), fileSize: bytes.count)
        let r = try UBIFSReader(path: p)
        for e in try r.entries() where e.kind == .file && e.size <= ubifsStreamLimit {
            try r.readFile(e) { _ in }
        }
    }

    static let nandRaw = FuzzTarget("nand-raw", "raw NAND images with OOB (inspect: geometry, ECC, bad blocks)", headerWindow: 4096, dictionary: ["UBI#"]) { bytes, s in
        let p = try s.write(bytes, "nand.raw")
        guard NANDRawFormat.probe(path: p, prefix: Array(bytes.prefix(FormatRegistry.probeSize)), fileSize: bytes.count) != nil else { throw Refused() }
    }

    static let flashImage = FuzzTarget("flash-image", "raw flash images without OOB (inspect: env, uImage, FIT, UBI on 4 KiB steps)", headerWindow: 1 << 18, dictionary: ["UBI#", "\u{27}\u{05}\u{19}\u{56}", "\u{D0}\u{0D}\u{FE}\u{ED}"]) { bytes, s in
        let p = try s.write(bytes, "flash.img")
        guard FlashImageFormat.probe(path: p, prefix: Array(bytes.prefix(FormatRegistry.probeSize)), fileSize: bytes.count) != nil else { throw Refused() }
    }

    // MARK: Disks

    /// GPT and MBR disk images: both probes, the reader (headers, CRCs, entries, backup, EBR
    /// chain), describe, and the table written again from what was read.
    static let disk = FuzzTarget(
        "disk", "GPT and MBR partition tables (probe, read, backup header, EBR chain, describe, write again)", headerWindow: 2048,
        dictionary: ["EFI PART", "\u{55}\u{AA}", "\u{EE}", "\u{05}", "\u{0F}", "\u{80}"], fixup: gptFixup
    ) { bytes, s in
        let p = try s.write(bytes, "disk.img")
        let prefix = Array(bytes.prefix(FormatRegistry.probeSize))
        _ = GPTFormat.probe(path: p, prefix: prefix, fileSize: bytes.count)
        _ = MBRFormat.probe(path: p, prefix: prefix, fileSize: bytes.count)
        let info = try DiskImageInfo.read(path: p)
        _ = info.describe().json.encoded()
        _ = try? info.table.chunks()
    }

    /// The primary and backup GPT headers' CRCs (entries, then header) put right after a mutation.
    static func gptFixup(_ b: inout [UInt8], _ rng: inout FuzzRandom) {
        func le(_ o: Int, _ n: Int) -> Int { (0..<n).reduce(0) { $0 | Int(b[o + $1]) << (8 * $1) } }
        func put(_ v: UInt32, _ o: Int) { for i in 0..<4 { b[o + i] = UInt8(truncatingIfNeeded: v >> (8 * i)) } }
        for h in [512, b.count / 512 * 512 - 512] where h >= 512 && h + 512 <= b.count && b[h..<h + 8].elementsEqual("EFI PART".utf8) {
            let lba = le(h + 72, 8), count = le(h + 80, 4), size = le(h + 84, 4)
            let (bytes, overflow) = count.multipliedReportingOverflow(by: size)
            if lba >= 0, lba < b.count / 512, !overflow, bytes > 0, bytes <= b.count - lba * 512 { put(CRC32.zlib(b[lba * 512..<lba * 512 + bytes]), h + 88) }
            let headerSize = min(512, max(92, le(h + 12, 4)))
            var header = Array(b[h..<h + headerSize])
            header.replaceSubrange(16..<20, with: [0, 0, 0, 0])
            put(CRC32.zlib(header), h + 16)
        }
    }

    /// The formats `flashsmith inspect` tries, in its order (FlashsmithCLI/Formats.swift).
    static let inspectFormats: [any InspectableFormat.Type] = [
        UImageFormat.self, FITFormat.self, DTBFormat.self, EnvFormat.self, RootFSArchiveFormat.self, UBIFormat.self, UBIFSFormat.self, NANDRawFormat.self,
        GPTFormat.self, MBRFormat.self, FilesystemImageFormat.self, FlashImageFormat.self,
    ]

    static let inspect = FuzzTarget(
        "inspect", "flashsmith inspect: every format's probe on every kind of input",
        seeds: ["uimage", "fit", "dtb", "env-blob", "archive", "ubi", "ubifs", "nand-raw", "disk", "flash-image"], headerWindow: 256
    ) { bytes, s in
        let p = try s.write(bytes, "input")
        _ = try FormatRegistry(inspectFormats).inspect(path: p).text
    }

    // MARK: Archives and binaries

    static let archive = FuzzTarget(
        "archive", "tar and cpio, every compression (inspect, rootfs ls --digests, member data)", headerWindow: 512,
        dictionary: ["ustar\u{0}00", "ustar  \u{0}", "070701", "TRAILER!!!", "././@LongLink", "path=", "size=", "SCHILY.xattr.", "GNU.sparse."],
        fixup: FuzzFixups.tar
    ) { bytes, s in
        try readArchive(try s.write(bytes, "archive"), prefix: bytes)
    }

    /// Mutated tar and cpio, then compressed (the algorithm chosen by the input's size): the
    /// decompressors see valid streams around broken archives.
    static let archiveCompressed = FuzzTarget(
        "archive-compressed", "tar and cpio mutated, then compressed (gzip, bzip2, lzma, lz4, zstd) and read",
        seeds: ["archive"], headerWindow: 512, dictionary: ["ustar\u{0}00", "070701", "TRAILER!!!", "././@LongLink", "path=", "size="], fixup: FuzzFixups.tar
    ) { bytes, s in
        let plain = try s.write(bytes, "archive.plain")
        let algorithms = RawCompressor.Algorithm.allCases
        let p = s.file("archive.compressed")
        try RawCompressor.compress(plain, algorithm: algorithms[bytes.count % algorithms.count], output: p)
        try readArchive(p, prefix: Array(try readFile(p).prefix(FormatRegistry.probeSize)))
    }

    static func readArchive(_ p: String, prefix bytes: [UInt8]) throws {
        _ = RootFSArchiveFormat.probe(path: p, prefix: Array(bytes.prefix(FormatRegistry.probeSize)), fileSize: (try? FileIO.size(of: p)) ?? 0)
        let r = try ArchiveReader(path: p)
        var total = 0
        while let m = try r.next() {
            _ = (m.path, m.kind, m.size, m.link, m.deviceMajor, m.deviceMinor, m.xattrs.count)
            try r.readData { total &+= $0.count }
        }
        _ = (r.formatName, r.compressionName)
        _ = try Listing.of(archive: p, digests: true)
    }

    static let deb = FuzzTarget("deb", "Debian packages (kernel config from boot/config-*, extraction)", headerWindow: 256, dictionary: ["!<arch>\n", "debian-binary   ", "data.tar.xz/", "data.tar.gz/", "control.tar.xz/", "boot/config-"]) { bytes, s in
        let p = try s.write(bytes, "package.deb")
        _ = try? KernelConfig.load(p)
        let out = s.file("extracted")
        defer { FuzzScratch.remove(out) }
        _ = try DebianPackage.readFile(p) { $0.hasPrefix("boot/config-") }
        _ = try DebianPackage.extract(p, into: out)
    }

    static let elf = FuzzTarget("elf", "ELF files (class, machine, interpreter, DT_NEEDED, rpath, soname)", headerWindow: 64) { bytes, s in
        let p = try s.write(bytes, "binary")
        let e = try ELFFile.read(p)
        _ = (e.machineName, e.needed, e.rpath, e.runpath, e.soname, e.interpreter)
    }

    static let busybox = FuzzTarget("busybox", "busybox applet tables (names and install locations)", headerWindow: 1 << 15, dictionary: ["\u{0}[\u{0}[[\u{0}", "ash\u{0}", "init\u{0}", "chroot\u{0}"]) { bytes, s in
        let p = try s.write(bytes, "busybox")
        _ = try BusyboxApplets.read(p)
    }

    static let kconfig = FuzzTarget("kconfig", "kernel configurations (.config, config.gz)", text: true, dictionary: ["CONFIG_", "=y", "=m", " is not set", "# CONFIG_", "CONFIG_ARM64=y"]) { bytes, s in
        let p = try s.write(bytes, "config")
        let c = try KernelConfig.load(p)
        _ = c.architecture
        _ = c.state("CONFIG_MTD_UBI")
    }

    // MARK: Configs and tables

    static let ubinize = FuzzTarget(
        "ubinize", "ubinize.ini (sections, volumes, then a UBI image with them)", text: true,
        dictionary: ["[v]\n", "mode=ubi\n", "vol_id=", "vol_size=", "vol_type=static", "vol_alignment=", "vol_flags=autoresize", "image=@SCRATCH@/vol.bin", "vol_name="],
        prepare: { s in try s.write([UInt8](repeating: 0x5A, count: 20000), "vol.bin") }
    ) { bytes, s in
        let text = String(decoding: bytes, as: UTF8.self).replacing("@SCRATCH@", with: s.path)
        let p = try s.write(text, "ubinize.ini")
        _ = try? UbinizeConfig.sections(text, source: p)
        let volumes = try UbinizeConfig.volumes(p)
        // Only images of the scratch folder go into an image (a mutated path may name any file).
        guard volumes.allSatisfy({ $0.image.map { $0.hasPrefix(s.path + "/") } ?? true }) else { return }
        let g = try UBIGeometry(pebSize: 16 << 10, minIOSize: 512)
        _ = try UBIImageWriter.write(volumes, geometry: g, imageSeq: 1, to: s.file("out.ubi"))
    }

    static let deviceTable = FuzzTarget("device-table", "makedevs device tables (parse, apply to a manifest)", text: true, dictionary: ["/dev/x c 666 0 0 1 3 0 1 4", " - ", "|xattr ", "4755", "root", "1048575"]) { bytes, _ in
        let t = try DeviceTable.parse(String(decoding: bytes, as: UTF8.self), file: "device_table.txt")
        var m = try baseManifest()
        try t.apply(to: &m)
    }

    static let usersTable = FuzzTarget(
        "users-table", "mkusers users tables (parse, apply: passwd, group, shadow, homes)", text: true, dictionary: ["-1", "-2", "=pw", "!=pw", "*", "/home/x", ":", ","]
    ) { bytes, _ in
        let t = try UsersTable.parse(String(decoding: bytes, as: UTF8.self), file: "users_table.txt")
        var m = try baseManifest()
        try t.apply(to: &m)
    }

    static func baseManifest() throws -> Manifest {
        var m = Manifest(sourceDateEpoch: 0)
        for (p, t) in [
            ("/etc/passwd", "root:x:0:0:root:/root:/bin/sh\ndaemon:x:1:1:daemon:/usr/sbin:/bin/false\nwww:x:33:33::/var/www:/bin/false\n"),
            ("/etc/group", "root:x:0:\ndaemon:x:1:\ntty:x:5:\naudio:x:29:\nwww:x:33:\nusers:x:100:\n"),
            ("/etc/shadow", "root::::::::\ndaemon:*:::::::\n"),
        ] {
            var e = Manifest.Entry(path: p, kind: .file, mode: 0o644, source: "fuzz")
            e.content = .bytes(Array(t.utf8))
            try m.add(e)
        }
        try m.add(Manifest.Entry(path: "/usr/bin", kind: .directory, mode: 0o755, source: "fuzz"))
        var ping = Manifest.Entry(path: "/usr/bin/ping", kind: .file, mode: 0o755, source: "fuzz")
        ping.content = .bytes([1, 2, 3])
        try m.add(ping)
        return m
    }

    /// The YAML layer every spec goes through (libyaml, the node tree, its depth cap), on its own.
    static let yaml = FuzzTarget(
        "yaml", "YAML documents (libyaml events to ordered nodes, anchors, the nesting cap)", seeds: ["board", "rootfs-spec", "fit-yaml"], text: true,
        dictionary: ["&a ", "*a", "<<: *a", "!!str ", "!!binary ", "? ", "|\n", ">-\n", "---\n", "%TAG ! tag:x:\n", "{", "[", "'", "\""]
    ) { bytes, _ in
        guard let root = try YAML.parse(String(decoding: bytes, as: UTF8.self), source: "doc.yaml") else { return }
        _ = root == root
        _ = (root.line, root.kind, root.mapping?.count, root.sequence?.count, root.string, root.integer)
    }

    static let board = FuzzTarget(
        "board", "board.yaml (load, mtdparts and back, DT fragment, nandsim, report, SVG)", text: true,
        dictionary: ["flash:", "partitions:", "page: ", "oob: ", "erase-block: ", "chip: ", "sub-page: ", "size: ", "offset: ", "content: ", "bad-blocks: [", "ubi:", "qemu:", "memory: ", "name: ", "rest", "type: nor", "base: "],
        prepare: { s in
            try s.write("bootdelay=1\n", "uboot-env.txt")
            try s.write("layers:\n  - file: /etc/x\n    content: x\n", "rootfs.yaml")
            try s.write([UInt8](repeating: 1, count: 100), "kernel.bin")
            try s.write("/dev/x c 600 0 0 1 3 - - -\n", "device_table.txt")
        }
    ) { bytes, s in
        let p = try s.write(bytes, "board.yaml")
        let b = try BoardLayout.load(p, sysroot: s.path)
        _ = try BoardLayout.parseMtdparts(String(b.mtdparts.drop { $0 != "=" }.dropFirst()), chipSize: b.flash.chipSize)
        _ = (b.deviceTreeFragment, b.nandsimParameters, b.badBlockReserve(), b.report)
        _ = BoardSVG.draw(b)
    }

    static let rootfsSpec = FuzzTarget(
        "rootfs-spec", "rootfs specs in YAML (load)", text: true,
        dictionary: ["layers:", "- skeleton: base", "- overlay: ", "- devices: ", "- users: ", "- file: ", "content: ", "source-date-epoch: ", "replace: true", "links: "]
    ) { bytes, s in
        let p = try s.write(bytes, "rootfs.yaml")
        let spec = try RootFSSpec.load(p, skeletonPaths: [skeletons])
        _ = try spec.epoch()
    }

    /// genimage.cfg as `import genimage` reads it (include()s only from the scratch folder), then
    /// mapped to a board against the scratch folder's input files and root (a refusal there is
    /// not a refusal of the input: the syntax was accepted).
    static let genimageConfig = FuzzTarget(
        "genimage-config", "genimage.cfg (libconfuse syntax, genimage's option tables; import genimage's placement and mapping)", text: true,
        dictionary: [
            "image ", "partition ", "hdimage {", "vfat {", "ext4 {", "squashfs {", "flash ", "ubi {", "file ", "size = ", "offset = ", "align = ", "image = \"",
            "include(\"flash.cfg\")", "${SIZE}", "${X:-1M}", "/*", "*/", "//", "#", "+=", "in-partition-table = false", "partition-table-type = \"gpt\"", "gpt-location = ",
            "autoresize = true", "holes = {\"(440; 1K)\"}", "0x", "s", "k", "M", "G", "%",
        ],
        prepare: { s in
            _ = s.makeFolder("input")
            _ = s.makeFolder("root")
            _ = s.makeFolder("root/boot")
            try s.write([UInt8](repeating: 0xAA, count: 70_000), "input/u-boot.bin")
            try s.write([UInt8](repeating: 1, count: 5000), "input/Image")
            try s.write("echo boot\n", "input/boot.scr")
            try s.write([UInt8](repeating: 0, count: 1 << 20), "input/rootfs.ext4")
            try s.write("flash nand-128M { pebsize = 128k lebsize = 126k numpebs = 1024 minimum-io-unit-size = 2048 sub-page-size = 2048 }\n", "flash.cfg")
        }
    ) { bytes, s in
        let cfg = try GenimageConfig.parse(String(decoding: bytes, as: UTF8.self), source: "genimage.cfg", environment: ["SIZE": "1M"], confinedTo: s.path)
        var o = GenimageImport.Options(board: s.file("board"), cwd: s.path)
        o.inputPath = s.file("input")
        o.rootPath = s.file("root")
        if let out = try? GenimageImport.map(cfg, options: o) { _ = (out.boardYAML.count, out.notMapped.count) }
    }

    // MARK: Numbers from options

    static let byteSize = FuzzTarget("byte-size", "sizes and numbers as options take them (ByteSize, ubinize sizes, C integers, mtdparts=)", text: true, dictionary: ["KiB", "MiB", "GiB", "k", "m", "0x", "@", "(", ")", "ro", ","]) { bytes, _ in
        var refused = 0
        let lines = String(decoding: bytes, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).prefix(256)
        for line in lines {
            let t = String(line)
            if (try? ByteSize(parsing: t)) == nil { refused += 1 }
            _ = try? ByteSize(parsing: t, in: 1...(1 << 30))
            _ = try? ByteSize(parsing: t, in: 0...Int.max)
            _ = ByteSize.describe(1...Int.max)
            _ = UbinizeConfig.bytes(t)
            _ = FWEnvConfig.parseCInteger(t)
            _ = try? BoardLayout.parseMtdparts("nand0:" + t, chipSize: 128 << 20)
            _ = try? BoardLayout.parseMtdparts(t, chipSize: Int.max)
        }
        if refused == lines.count { throw Refused() }
    }

    /// Up to 16 command lines per input, through the same gate as `flashsmith` itself
    /// (`Flashsmith.parseChecked`). Lines are parsed until they hold `Flashsmith.maxArguments`
    /// arguments in all, so an input costs at most what one maximal invocation does (swift-argument-
    /// parser is quadratic in the argument count: 4,096 take 0.8 s in a release build, and sixteen
    /// such lines would be a hang of the target's making, not of the tool's); a longer line is still
    /// handed to the gate, which must refuse it at once.
    static let cliOptions = FuzzTarget(
        "cli-options", "command lines through the CLI's argument parsing and validation (nothing is run)", text: true,
        dictionary: ["--size ", "-s ", "--peb-size ", "-p ", "-B ", "-O ", "--dtb-padding ", "--fit-address ", "--erase-block ", "--blocks ", "--bad-blocks ", "--offset "]
    ) { bytes, _ in
        var refused = 0, tried = 0, argumentsSeen = 0
        for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n").prefix(16) {
            let args = line.split(separator: " ").map(String.init)
            let fitsOneInvocation = args.count > Flashsmith.maxArguments || argumentsSeen + args.count <= Flashsmith.maxArguments
            guard fitsOneInvocation else { break }
            if args.count <= Flashsmith.maxArguments { argumentsSeen += args.count }
            tried += 1
            if (try? Flashsmith.parseChecked(args)) == nil { refused += 1 }
        }
        if refused == tried { throw Refused() }
    }

    /// A target's way of saying "not this format" without an error of the parser's own.
    public struct Refused: Error {
        public init() {}
    }
}

extension FuzzScratch {
    /// A file of the seeds folder (relative path).
    func fixtureOrSeed(_ relative: String) throws -> [UInt8] { try readFile("\(seeds)/\(relative)") }
}

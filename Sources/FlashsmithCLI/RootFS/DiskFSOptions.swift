import ArgumentParser
import FlashsmithCore
import RootFS

/// The options of the disk filesystem outputs: `-o x.ext4` (mke2fs's meaning) and `-o x.squashfs`
/// (mksquashfs's). `--uuid` is shared with the UBIFS group; `--level` with the archives.
struct DiskFSOptions: ParsableArguments {
    @Option(name: .long, help: "ext4: the image size, a multiple of 4 KiB (required for -o x.ext4), e.g. 64MiB.")
    var size: ByteSize?

    @Option(name: .long, help: "ext4: the volume label (at most 16 bytes).")
    var label: String?

    @Option(name: .long, help: "ext4: the directory hash seed, a UUID (default: derived from the content and SOURCE_DATE_EPOCH).")
    var hashSeed: String?

    @Option(name: .long, help: "ext4: the inode count (default one per 16 KiB, raised to what the rootfs needs).")
    var inodes: Int?

    @Option(name: .long, help: "ext4: blocks reserved for root, in percent (mke2fs -m; default 5).")
    var reservedPercent: Int?

    @Option(name: .long, help: "squashfs: the compressor, gzip (default), xz, zstd, lz4 or lzo (--level sets gzip/lzo 1-9, zstd 1-22).")
    var squashfsComp: SquashfsOptions.Compression?

    @Option(name: .long, help: "squashfs: the data block size, a power of two from 4KiB to 1MiB (default 128KiB).")
    var squashfsBlockSize: ByteSize?

    @Option(name: .long, help: "squashfs: threads mksquashfs uses (default: the online CPUs; the image is the same).")
    var processors: Int?

    var ext4Given: Bool { size != nil || label != nil || hashSeed != nil || inodes != nil || reservedPercent != nil }
    var squashfsGiven: Bool { squashfsComp != nil || squashfsBlockSize != nil || processors != nil }

    /// The ext4 writer's options; `--size` required.
    func ext4(uuid: String?) throws -> Ext4Options {
        guard let size else { throw ValidationError("an ext4 output needs its size: say --size, e.g. --size 64MiB") }
        var o = Ext4Options(size: size.bytes)
        if let label { o.label = label }
        if let uuid { o.uuid = try UBIFSGeometryOptions.parseUUID(uuid) }
        if let hashSeed { o.hashSeed = try UBIFSGeometryOptions.parseUUID(hashSeed) }
        o.inodes = inodes
        if let reservedPercent { o.reservedPercent = reservedPercent }
        return o
    }

    func squashfs(level: Int?) throws -> SquashfsOptions {
        var o = SquashfsOptions(compression: squashfsComp ?? .gzip)
        o.level = level
        if let squashfsBlockSize { o.blockSize = squashfsBlockSize.bytes }
        o.processors = processors
        return o
    }

    /// Refuses options that do not apply to `kind`.
    func check(kind: RootFSOutputKind) throws {
        if kind != .ext4 && ext4Given {
            throw ValidationError("--size, --label, --hash-seed, --inodes and --reserved-percent apply to an ext4 output (-o x.ext4 or --format ext4), not to \(kind.rawValue)")
        }
        if kind != .squashfs && squashfsGiven {
            throw ValidationError("--squashfs-comp, --squashfs-block-size and --processors apply to a squashfs output (-o x.squashfs or --format squashfs), not to \(kind.rawValue)")
        }
    }
}

extension SquashfsOptions.Compression: ExpressibleByArgument {}

extension UBIFSGeometryOptions {
    /// Whether an option only UBIFS takes was given (`--uuid` is ext4's too).
    var givenBesidesUUID: Bool {
        minIOSize != nil || lebSize != nil || maxLEBCount != nil || compr != nil || favorPercent != nil || journalSize != nil || reserved != nil
            || fanout != nil || logLEBs != nil || orphanLEBs != nil || keyHash != nil || spaceFixup
    }
}

import ArgumentParser
import FlashsmithCore
import RootFS

extension RootFSCommand {
    /// `flashsmith rootfs ls ARCHIVE|DIR|SPEC [--digests] [--json]`.
    struct Ls: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "ls",
            abstract: "List a root filesystem (archive, folder, UBIFS, ext4 or squashfs image, or spec) mtree-style: type, mode, owner, size, link, device, time, xattrs.",
            discussion: "Archives: tar, cpio, mtree, any compression. UBIFS: a .ubifs image or a UBI image holding a UBIFS volume (--volume NAME when it holds several), read as Linux mounts it (journal replayed, every node's CRC checked). ext4 (read with debugfs) and squashfs (read with unsquashfs -pf, which shows no xattrs). A .yaml/.yml file is a spec: its layers are applied and the result listed without writing anything. Hard links are listed as in tar (the first name holds the data)."
        )

        @Argument(help: "An archive, a folder, a UBIFS, UBI, ext4 or squashfs image, or a YAML spec.")
        var source: String

        @OptionGroup var ubifs: UBIFSVolumeOption

        @Flag(name: .long, help: "Add each file's sha256 (reads every byte).")
        var digests = false

        @OptionGroup var layers: RootFSLayerOptions
        @OptionGroup var json: JSONOption

        func run() throws {
            let l = try RootFSCommand.listing(source, layers: layers, volume: ubifs.volume, digests: digests)
            try output(json.json ? l.json.encoded() + "\n" : l.text)
        }
    }

    static func listing(_ source: String, layers: RootFSLayerOptions, volume: String? = nil, digests: Bool) throws -> Listing {
        if source.hasSuffix(".yaml") || source.hasSuffix(".yml") {
            return try Listing.of(manifest: try layers.spec(file: source).build(), origin: source, digests: digests)
        }
        if Listing.looksLikeUBIFSOrUBI(source) { return try Listing.of(ubifs: source, volume: volume, digests: digests) }
        if Listing.looksLikeExt4(source) { return try Listing.of(ext4: source, digests: digests) }
        if Listing.looksLikeSquashfs(source) { return try Listing.of(squashfs: source, digests: digests) }
        switch FileIO.kind(of: source) {
        case .directory: return try Listing.of(directory: source, digests: digests)
        case .missing: throw FileError.cannotOpen(path: source, reason: "No such file or directory")
        default: return try Listing.of(archive: source, digests: digests)
        }
    }
}

/// `--volume NAME`: which UBIFS volume of a UBI image to read.
struct UBIFSVolumeOption: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("The UBIFS volume of a UBI image to read (default: the only one).", valueName: "name"))
    var volume: String?
}

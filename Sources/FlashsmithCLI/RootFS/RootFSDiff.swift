import ArgumentParser
import FlashsmithCore
import RootFS

extension RootFSCommand {
    /// `flashsmith rootfs diff A B`.
    struct Diff: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "diff",
            abstract: "Compare two root filesystems (archives, folders, UBIFS or UBI images, or specs) entry by entry, contents included.",
            discussion: "Prints '- entry' (only in A), '+ entry' (only in B) and '~ path field: a -> b'. Exits 0 when they are the same, 1 when they differ."
        )

        @Argument(help: "The first root filesystem.")
        var first: String
        @Argument(help: "The second root filesystem.")
        var second: String

        @Flag(name: .long, help: "Do not compare modification times.")
        var ignoreTimes = false

        @OptionGroup var ubifs: UBIFSVolumeOption
        @OptionGroup var layers: RootFSLayerOptions
        @OptionGroup var json: JSONOption

        func run() throws {
            let a = try RootFSCommand.listing(first, layers: layers, volume: ubifs.volume, digests: true)
            let b = try RootFSCommand.listing(second, layers: layers, volume: ubifs.volume, digests: true)
            let d = ListingDiff(a, b, times: !ignoreTimes)
            try output(json.json ? d.json.encoded() + "\n" : d.text)
            if !d.changes.isEmpty { throw DiffersExit() }
        }
    }
}

import ArgumentParser
import Flash
import FlashsmithCore

extension UBICommand {
    /// `flashsmith ubi inspect FILE [-p PEB] [--json]`.
    struct InspectUBI: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "inspect",
            abstract: "List a UBI image's volumes and check every CRC (EC and VID headers, static data, the volume table).",
            discussion: "Exits 65 when a CRC or a header is wrong (each problem is listed)."
        )

        @Argument(help: "A UBI image (anyone's).")
        var file: String

        @Option(name: [.customShort("p"), .customLong("peb-size")], help: "The PEB size (default: found from the headers).", transform: ByteSize.limited(OptionLimits.ubiInspectPEB))
        var pebSize: ByteSize?

        @OptionGroup var json: JSONOption

        func run() throws {
            let info = try UBIImageInfo.read(file, pebSize: pebSize?.bytes)
            if json.json {
                try output(info.json.encoded() + "\n")
            } else {
                try output(FormatDescription(format: "ubi", title: "\(file): UBI image", lines: info.lines, json: info.json).text + "\n")
            }
            if let p = info.problems.first {
                throw UBIImageInfo.Failure(message: "\(file): \(info.problems.count) problem(s), the first: \(p)")
            }
        }
    }
}

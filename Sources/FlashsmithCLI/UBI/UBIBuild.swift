import ArgumentParser
import Flash
import FlashsmithCore

extension UBICommand {
    /// `flashsmith ubi build INI -o OUT -p PEB -m MINIO [-s SUB] [-O VIDOFF] [-Q SEQ] [-e EC] [-x VER]`.
    struct Build: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "build",
            abstract: "Make a UBI image from ubinize.ini, with ubinize's options; the bytes are ubinize's.",
            discussion: """
                Differences: the image sequence number defaults to a fixed value derived from the volume table (ubinize: \
                random), so the same inputs give the same image; pass -Q to choose it. Images (image=) are relative to the \
                current folder, as with ubinize. The output is written to a temporary file and renamed.
                """
        )

        @Argument(help: "The ubinize.ini.")
        var ini: String

        @Option(name: .shortAndLong, help: "The UBI image to write.")
        var output: String

        @Option(name: [.customShort("p"), .customLong("peb-size")], help: "Physical eraseblock size: 128KiB, 0x20000.", transform: ByteSize.limited(OptionLimits.ubiBuildSize))
        var pebSize: ByteSize

        @Option(name: [.customShort("m"), .customLong("min-io-size")], help: "Minimum input/output unit (NAND page): 2048, 2KiB.", transform: ByteSize.limited(OptionLimits.ubiBuildSize))
        var minIOSize: ByteSize

        @Option(name: [.customShort("s"), .customLong("sub-page-size")], help: "Sub-page size (default: the min. I/O unit).", transform: ByteSize.limited(OptionLimits.ubiBuildSize))
        var subpageSize: ByteSize?

        @Option(name: [.customShort("O"), .customLong("vid-hdr-offset")], help: "VID header offset (default: the sub-page after the EC header).", transform: ByteSize.limited(OptionLimits.ubiBuildSize))
        var vidHeaderOffset: ByteSize?

        @Option(name: [.customShort("Q"), .customLong("image-seq")], help: "Image sequence number (default: fixed, from the volume table).")
        var imageSeq: UInt32?

        @Option(name: [.customShort("e"), .customLong("erase-counter")], help: "Erase counter written in every EC header (default 0, at most 2147483647).", transform: limitedInteger(OptionLimits.eraseCounter))
        var eraseCounter: UInt64 = 0

        @Option(name: [.customShort("x"), .customLong("ubi-ver")], help: "UBI version in the headers (default 1).")
        var ubiVersion: UInt8 = 1

        @OptionGroup var json: JSONOption

        func run() throws {
            let g = try UBIGeometry(pebSize: pebSize.bytes, minIOSize: minIOSize.bytes, subpageSize: subpageSize?.bytes, vidHeaderOffset: vidHeaderOffset?.bytes)
            let volumes = try UbinizeConfig.volumes(ini)
            let seq = try imageSeq ?? CRC32.raw(UBIImageWriter.volumeTable(volumes, g), seed: 0xFFFF_FFFF)
            let r = try UBIImageWriter.write(volumes, geometry: g, eraseCounter: eraseCounter, imageSeq: seq, ubiVersion: ubiVersion, to: output)
            if json.json {
                try FlashsmithCLI.output(
                    JSON.object([
                        ("output", .string(output)), ("pebs", .int(r.pebs)), ("lebSize", .int(g.lebSize)), ("vidHeaderOffset", .int(g.vidHeaderOffset)),
                        ("dataOffset", .int(g.dataOffset)), ("imageSeq", .int(Int(seq))),
                        ("volumes", .array(r.volumes.map { .object([("id", .int($0.id)), ("name", .string($0.name)), ("reservedPEBs", .int($0.reservedPEBs)), ("lebs", .int($0.writtenLEBs))]) })),
                    ]).encoded() + "\n"
                )
            } else {
                var text = "\(output): \(r.pebs) PEBs of \(g.pebSize) bytes (LEB \(g.lebSize), VID header at \(g.vidHeaderOffset), data at \(g.dataOffset)), image seq \(seq)\n"
                for v in r.volumes { text += "  volume \(v.id) '\(v.name)': \(v.writtenLEBs) LEBs written, \(v.reservedPEBs) reserved\n" }
                try FlashsmithCLI.output(text)
            }
        }
    }
}

import ArgumentParser
import Flash
import FlashsmithCore

extension NANDRawImage.ECC: ExpressibleByArgument {}

/// `flashsmith nand <verb>`: raw NAND images.
struct NANDCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nand",
        abstract: "NAND: a board's layout and what derives from it; raw images with OOB and ECC as Linux computes it.",
        subcommands: [Show.self, Raw.self]
    )

    /// `flashsmith nand raw INPUT -o OUT --page-size P --oob-size O --erase-block E [--ecc hamming|none] [--bad-blocks LIST] [--blocks N]`.
    struct Raw: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "raw",
            abstract: "Interleave a main-area image with OOB (page + OOB per page) for nandwrite --noecc --oob or a programmer.",
            discussion: """
                ECC: hamming is Linux's software Hamming (3 bytes per 256-byte step) where nand_ooblayout_ecc_lp_hamming \
                puts it (OOB 40… for 64-byte OOB, 80… for 128), or bytes 0-3, 6-7 of a 512+16 page; bch4/bch8 are Linux's \
                software BCH (512-byte steps, 7/13 bytes each, at the end of the OOB); none leaves the OOB 0xff. Bad blocks (--bad-blocks 3,7) are skipped as nandwrite skips them and marked (first page, OOB byte 0; \
                5 for 512-byte pages).
                """
        )

        @Argument(help: "The main-area image (what nandwrite would take).")
        var input: String

        @Option(name: .shortAndLong, help: "The raw image with OOB.")
        var output: String

        @Option(name: .long, help: "Page size: 2048, 4KiB.", transform: ByteSize.limited(OptionLimits.nandPage))
        var pageSize: ByteSize

        @Option(name: .long, help: "OOB bytes per page: 64, 128.", transform: ByteSize.limited(OptionLimits.nandPage))
        var oobSize: ByteSize

        @Option(name: .long, help: "Erase block size: 128KiB.", transform: ByteSize.limited(OptionLimits.nandEraseBlock))
        var eraseBlock: ByteSize

        @Option(name: .long, help: "none, hamming, bch4 or bch8.")
        var ecc: NANDRawImage.ECC = .hamming

        @Option(name: .long, help: "Bad erase blocks (numbers, comma-separated), skipped and marked.")
        var badBlocks: BlockList?

        @Option(name: .long, help: "Blocks in the image (default: as many as the data needs).", transform: limitedInteger(OptionLimits.nandBlocks))
        var blocks: Int?

        @OptionGroup var json: JSONOption

        func run() throws {
            let g = try NANDGeometry(pageSize: pageSize.bytes, oobSize: oobSize.bytes, eraseBlockSize: eraseBlock.bytes)
            let bad = badBlocks?.blocks ?? []
            let r = try NANDRawImage.write(input: input, geometry: g, ecc: ecc, badBlocks: bad, blocks: blocks, to: output)
            if json.json {
                try FlashsmithCLI.output(JSON.object([("output", .string(output)), ("pages", .int(r.pages)), ("blocks", .int(r.blocks)), ("badBlocks", .array(r.badBlocks.map { .int($0) }))]).encoded() + "\n")
            } else {
                try FlashsmithCLI.output("\(output): \(r.blocks) blocks, \(r.pages) pages of \(g.pageSize)+\(g.oobSize) bytes, ECC \(ecc.rawValue)\(r.badBlocks.isEmpty ? "" : ", bad blocks \(r.badBlocks.map(String.init).joined(separator: ","))")\n")
            }
        }
    }
}

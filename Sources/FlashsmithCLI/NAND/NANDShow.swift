import ArgumentParser
import Board
import FlashsmithCore

extension NANDCommand {
    /// `flashsmith nand show BOARD [--svg FILE] [--mtdparts|--dts|--nandsim] [--json]`.
    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "show",
            abstract: "Show a board's NAND layout (partitions, offsets, blocks, the UBI bad-block reserve) and what is derived from it.",
            discussion: "BOARD: a layouts/NAME folder or its board.yaml. --mtdparts, --dts and --nandsim print only that (for scripts); --svg also draws the layout."
        )

        @Argument(help: "The board: a folder holding board.yaml, the file itself, or the name of a shipped board (qemu-arm64, nandsim, …).")
        var board: String

        @Option(name: .long, help: "Also draw the layout as an SVG file.")
        var svg: String?

        @Flag(name: .long, help: "Print only the mtdparts= string.")
        var mtdparts = false

        @Flag(name: .long, help: "Print only the device-tree fixed-partitions node.")
        var dts = false

        @Flag(name: .long, help: "Print only nandsim's module parameters for this board.")
        var nandsim = false

        @OptionGroup var json: JSONOption

        func run() throws {
                let b = try BoardLayout.load(locateBoard(board))
            if let svg { try AtomicFile.write(Array(BoardSVG.draw(b).utf8), to: svg) }
            if mtdparts { return try output(b.mtdparts + "\n") }
            if dts { return try output(b.deviceTreeFragment) }
            if nandsim { return try output(try b.nandsimArguments() + "\n") }
            if json.json {
                try output(
                    JSON.object([
                        ("name", .string(b.name)), ("pageSize", .int(b.flash.pageSize)), ("oobSize", .int(b.flash.oobSize)),
                        ("eraseBlockSize", .int(b.flash.eraseBlockSize)), ("chipSize", .int(b.flash.chipSize)), ("ecc", .string(b.flash.ecc.rawValue)),
                        ("mtdparts", .string(b.mtdparts)), ("ubiBadBlockReserve", .int(b.badBlockReserve())),
                        ("partitions", .array(b.partitions.enumerated().map { i, p in
                            .object([("mtd", .int(i)), ("name", .string(p.name)), ("offset", .int(p.offset)), ("size", .int(p.size)), ("blocks", .int(p.blocks)), ("readOnly", .bool(p.readOnly))])
                        })),
                    ]).encoded() + "\n"
                )
            } else {
                try output(b.report + (svg.map { "  drawn: \($0)\n" } ?? ""))
            }
        }
    }
}

import ArgumentParser
import BootImage
import FlashsmithCore

extension UImageCommand {
    /// `flashsmith uimage extract FILE [-p INDEX] -o OUT`.
    struct Extract: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "extract",
            abstract: "Write a uImage's data, or one part of a multi-file or script image (-p), to a file.",
            discussion: "Both CRCs are checked first; --force extracts from an image that fails them."
        )

        @Argument(help: "The uImage.")
        var file: String

        @Option(name: .short, help: "Part index of a multi-file or script image (as dumpimage -p).")
        var part: Int?

        @Option(name: .shortAndLong, help: "Output file (written atomically).")
        var output: String

        @Flag(name: .long, help: "Extract even when a CRC does not match.")
        var force = false

        func run() throws {
            let p = try UImage.read(file)
            if !force { try UImage.verify(p) }
            try UImage.extract(p, part: part, output: output)
        }
    }
}

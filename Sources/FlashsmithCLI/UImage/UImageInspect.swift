import ArgumentParser
import BootImage
import FlashsmithCore

extension UImageCommand {
    /// `flashsmith uimage inspect FILE [--json]`.
    struct Inspect: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "inspect",
            abstract: "Show a uImage's header fields, check both CRCs, list multi-file parts and show a script's text.",
            discussion: "Exits 65 when a CRC does not match (after printing the description)."
        )

        @Argument(help: "The uImage.")
        var file: String

        @OptionGroup var json: JSONOption

        func run() throws {
            let p = try UImage.read(file)
            let d = UImageFormat.describe(p)
            var text = d.text + "\n"
            if !json.json, let script = UImageFormat.scriptText(p) {
                text += "script:\n" + script.split(separator: "\n", omittingEmptySubsequences: false).map { "  | " + $0 }.joined(separator: "\n") + "\n"
            }
            try output(json.json ? d.json.encoded() + "\n" : text)
            try UImage.verify(p)
        }
    }
}

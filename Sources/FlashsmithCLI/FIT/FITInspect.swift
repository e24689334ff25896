import ArgumentParser
import BootImage
import FlashsmithCore

extension FITCommand {
    /// `flashsmith fit inspect FILE [--json]`.
    struct Inspect: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "inspect",
            abstract: "Describe a FIT (what mkimage -l shows, plus data placement) and check every hash.",
            discussion: "Exits 65 after printing when a hash does not match."
        )

        @Argument(help: "The FIT (.itb).")
        var file: String

        @OptionGroup var json: JSONOption

        func run() throws {
            let info = try FITInfo.read(file)
            let checks = try info.checkHashes()
            let d = FITFormat.describe(info, checks: checks)
            try output(json.json ? d.json.encoded() + "\n" : d.text + "\n")
            try info.verify()
        }
    }
}

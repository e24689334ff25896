import ArgumentParser
import FlashsmithCore

/// `flashsmith inspect FILE [--json]`: recognise a file and describe it.
struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Recognise what a file is and describe it.",
        discussion: "Formats tried, in order: \(registeredFormats.map { "\($0.name) (\($0.summary))" }.joined(separator: "; "))."
    )

    @Argument(help: "The file to inspect.")
    var file: String

    @OptionGroup var json: JSONOption

    func run() throws {
        let d = try FormatRegistry(registeredFormats).inspect(path: file)
        try output(json.json ? d.json.encoded() + "\n" : d.text + "\n")
    }
}

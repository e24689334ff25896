import ArgumentParser
import FlashsmithCore
import UBootEnv

extension Env {
    /// `flashsmith env extract-default UBOOT_BINARY`.
    struct ExtractDefault: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "extract-default",
            abstract: "Find U-Boot's built-in default environment in a U-Boot binary and print it as name=value text."
        )

        @Argument(help: "u-boot.bin (or u-boot ELF, or a flash image holding U-Boot).")
        var binary: String

        @OptionGroup var json: JSONOption

        func run() throws {
            let bytes = try FileIO.readAll(binary)
            let found = try DefaultEnvironment.find(in: bytes, source: binary)
            if json.json {
                let j = JSON.object([
                    ("source", .string(binary)), ("offset", .int(found.offset)), ("length", .int(found.length)),
                    ("variables", .array(found.variables.map { .object([("name", jsonBytes($0.name)), ("value", jsonBytes($0.value))]) })),
                ])
                try output(j.encoded() + "\n")
            } else {
                var header = "# default environment of \(binary) at offset \(hex(found.offset)), \(found.length) bytes, \(found.variables.count) variables\n"
                let empty = found.variables.filter { $0.value.isEmpty }.map(\.nameText)
                if !empty.isEmpty {
                    header += "# empty values (stored, but U-Boot's import skips them: never defined): \(empty.joined(separator: ", "))\n"
                }
                try output(Array(header.utf8) + equalsLines(found.variables))
            }
        }
    }
}

import ArgumentParser
import BootImage

/// `flashsmith uimage <verb>`: legacy U-Boot images.
struct UImageCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "uimage",
        abstract: "Create, inspect and extract legacy U-Boot images (uImage), with mkimage's options.",
        subcommands: [Create.self, Inspect.self, Extract.self]
    )
}

/// A name from one of U-Boot's tables (`-A arm64`, `-T kernel`…), with the valid names in the error.
struct TableName {
    var entry: UImageName

    static func parse(_ text: String, _ table: [UImageName], kind: String) throws -> UImageName {
        if let e = UImageTables.lookup(table, text) { return e }
        throw BootImageError.unknownName(kind: kind, found: text, valid: table.map(\.short).filter { $0 != "invalid" })
    }
}

import ArgumentParser

/// `flashsmith import <verb>`: other tools' descriptions as Flashsmith boards.
struct ImportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Turn another tool's image description into a board folder (genimage.cfg).",
        subcommands: [ImportGenimage.self]
    )
}

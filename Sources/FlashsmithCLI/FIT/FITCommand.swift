import ArgumentParser

/// `flashsmith fit <verb>`: Flat Image Tree images.
struct FITCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fit",
        abstract: "Build, inspect, verify and extract FIT images (.its via dtc, or a YAML spec).",
        subcommands: [Build.self, Inspect.self, Verify.self, Extract.self, Lint.self]
    )
}

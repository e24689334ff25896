import ArgumentParser

/// `flashsmith ubi <verb>`: UBI images.
struct UBICommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ubi",
        abstract: "UBI images: build from ubinize.ini (byte-identical to ubinize), inspect any.",
        subcommands: [Build.self, InspectUBI.self]
    )
}

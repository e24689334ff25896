import ArgumentParser

/// `flashsmith kconfig <verb>`: kernel configurations.
struct KconfigCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kconfig",
        abstract: "Kernel configurations: check what CRIU, UBIFS, an NFS root or devtmpfs need.",
        subcommands: [Check.self]
    )
}

import ArgumentParser

/// `flashsmith rootfs <verb>`: root filesystems.
struct RootFSCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rootfs",
        abstract: "Root filesystems: build from skeletons, overlays, tables, busybox, modules and bundled binaries; list, compare; NFS roots; sysroots.",
        subcommands: [Build.self, Ls.self, Diff.self, NFSRoot.self, Ldd.self, Applets.self, SysrootCommand.self]
    )
}

import ArgumentParser

/// `flashsmith rootfs <verb>`: root filesystems (issue 4 adds build, ls, diff, nfsroot, sysroot).
struct RootFSCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rootfs",
        abstract: "Root filesystem tools: so far, the shared libraries a binary needs from a sysroot, and a busybox binary's applets.",
        subcommands: [Ldd.self, Applets.self, SysrootCommand.self]
    )
}

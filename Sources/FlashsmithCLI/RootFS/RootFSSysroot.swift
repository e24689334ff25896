import Archive
import ArgumentParser
import FlashsmithCore

extension RootFSCommand {
    /// `flashsmith rootfs sysroot DEB… -o DIR`.
    struct SysrootCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "sysroot",
            abstract: "Unpack Debian packages (their data.tar) into a folder, as dpkg -x does, to bundle a target's binaries and libraries from.",
            discussion: """
                Getting the packages is apt's job. For another architecture without touching dpkg's: a private apt state, \
                e.g. D=/tmp/apt-arm64; apt-get -o APT::Architecture=arm64 -o APT::Architectures=arm64 \
                -o Dir::State::Lists=$D/lists -o Dir::State::Status=$D/status -o Dir::Cache=$D/cache update, then the \
                same options with 'download PACKAGE'. Entries leaving the folder are refused; owners are not applied. \
                The packages are unpacked into a new folder beside DIR, which replaces DIR only when every package \
                unpacked: a package refused part-way leaves DIR as it was.
                """
        )

        @Argument(help: "Debian packages (.deb).")
        var packages: [String]

        @Option(name: .shortAndLong, help: "The sysroot folder (replaced whole).")
        var output: String

        @Flag(name: .long, help: "Replace DIR even if it holds files Flashsmith did not write.")
        var force = false

        func run() throws {
            let folder = try AtomicFolder(destination: output, force: force, marker: .xattr, command: "flashsmith rootfs sysroot")
            if let note = folder.markerNote { printError(note) }
            var total = 0
            for p in packages { total += try DebianPackage.extract(p, into: folder.path) }
            try folder.commit()
            try FlashsmithCLI.output("\(total) entries from \(packages.count) package(s) in \(output)\n")
        }
    }
}

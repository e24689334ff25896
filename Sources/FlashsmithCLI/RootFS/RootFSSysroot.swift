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
                same options with 'download PACKAGE'. Entries leaving the folder are refused; owners are not applied.
                """
        )

        @Argument(help: "Debian packages (.deb).")
        var packages: [String]

        @Option(name: .shortAndLong, help: "The sysroot folder.")
        var output: String

        func run() throws {
            var total = 0
            for p in packages { total += try DebianPackage.extract(p, into: output) }
            try FlashsmithCLI.output("\(total) entries from \(packages.count) package(s) in \(output)\n")
        }
    }
}

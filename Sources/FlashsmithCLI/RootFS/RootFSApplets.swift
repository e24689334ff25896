import ArgumentParser
import FlashsmithCore
import RootFS

extension RootFSCommand {
    /// `flashsmith rootfs applets BUSYBOX [--json]`.
    struct Applets: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "applets",
            abstract: "List a busybox binary's applets and their install paths, read from the binary (any architecture), as busybox --list-full would."
        )

        @Argument(help: "The busybox binary.")
        var binary: String

        @OptionGroup var json: JSONOption

        func run() throws {
            let applets = try BusyboxApplets.read(binary)
            if json.json {
                try output(JSON.array(applets.map { .object([("name", .string($0.name)), ("path", .string($0.path))]) }).encoded() + "\n")
            } else {
                try output(applets.map { String($0.path.dropFirst()) }.joined(separator: "\n") + "\n")
            }
        }
    }
}

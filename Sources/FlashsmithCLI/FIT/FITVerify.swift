import ArgumentParser
import BootImage
import FlashsmithCore

extension FITCommand {
    /// `flashsmith fit verify FILE [--image NAME]`.
    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "verify",
            abstract: "Recompute every image hash as U-Boot does at boot and say exactly which one is wrong.",
            discussion: "Signatures are not checked yet."
        )

        @Argument(help: "The FIT (.itb).")
        var file: String

        @Option(name: .long, help: "Only this image.")
        var image: String?

        func run() throws {
            let info = try FITInfo.read(file)
            if let image, !info.images.contains(where: { $0.name == image }) {
                throw FITError.noSuchImage(source: file, name: image, images: info.images.map(\.name))
            }
            let checks = try info.checkHashes(only: image)
            var text = ""
            for c in checks {
                text += "\(c.hash.node): \(c.hash.algo) \(c.ok ? "ok" : "BAD")\n"
            }
            let unhashed = info.images.filter { $0.hashes.isEmpty && (image == nil || $0.name == image) }.map(\.name)
            if !unhashed.isEmpty { text += "not hashed: \(unhashed.joined(separator: ", "))\n" }
            try output(text)
            try info.verify(only: image)
        }
    }

    /// `flashsmith fit extract FILE --image NAME -o OUT`.
    struct Extract: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "extract",
            abstract: "Write one image's data, by name, to a file (its hashes are checked first; --force skips that)."
        )

        @Argument(help: "The FIT (.itb).")
        var file: String

        @Option(name: .long, help: "Image name (a node under /images).")
        var image: String

        @Option(name: .shortAndLong, help: "Output file (written atomically).")
        var output: String

        @Flag(name: .long, help: "Extract even when a hash does not match.")
        var force = false

        func run() throws {
            let info = try FITInfo.read(file)
            if !force { try info.verify(only: image) }
            try info.extract(image, output: output)
        }
    }
}

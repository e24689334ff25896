import ArgumentParser
import BootImage
import DeviceTree
import FlashsmithCore

extension FITCommand {
    /// `flashsmith fit verify FILE [--image NAME]`.
    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "verify",
            abstract: "Recompute every image hash as U-Boot does at boot and say exactly which one is wrong.",
            discussion: "With --key CONTROL.dtb, every signature is checked against /signature/key-<hint> as U-Boot does (configuration signatures over the regions U-Boot rebuilds, never the stored hashed-nodes); a signature whose key is missing is reported, and an error when that key would be required."
        )

        @Argument(help: "The FIT (.itb).")
        var file: String

        @Option(name: .long, help: "Only this image.")
        var image: String?

        @Option(name: .long, help: "Control DTB holding the public keys (/signature/key-<hint>), or a PEM key (private or public) used for every signature.")
        var key: String?

        @Option(name: .long, help: "Only this configuration's signatures (and the images' as ever).")
        var config: String?

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
            var failed: [String] = []
            if let key {
                let control: DeviceTree
                if key.hasSuffix(".pem") || key.hasSuffix(".key") {
                    // One key for every signature: a /signature node holding it under each hint used.
                    let sigs = info.images.flatMap(\.signatures) + info.configurations.flatMap(\.signatures)
                    var nodes: [DeviceTree.Node] = []
                    for s in sigs where !nodes.contains(where: { $0.name == "key-\(s.keyNameHint)" }) {
                        nodes.append(try FITSigningKey.publicKeyNode(pem: key, hint: s.keyNameHint, algo: s.algo))
                    }
                    control = DeviceTree(root: DeviceTree.Node("", children: [DeviceTree.Node("signature", children: nodes)]))
                } else {
                    control = try DeviceTree.decode(try FileIO.readAll(key), source: key)
                }
                if let config, !info.configurations.contains(where: { $0.name == config }) {
                    throw ValidationError("--config: no configuration '\(config)' (configurations: \(info.configurations.map(\.name).joined(separator: ", ")))")
                }
                for c in try info.checkSignatures(control: control) where config == nil || !c.node.hasPrefix(FIT.configurations) || c.node.hasPrefix("\(FIT.configurations)/\(config!)/") {
                    switch c.ok {
                    case true?: text += "\(c.node): \(c.algo):\(c.keyNameHint) ok\n"
                    case false?:
                        text += "\(c.node): \(c.algo):\(c.keyNameHint) BAD\n"
                        failed.append(c.node)
                    case nil: text += "\(c.node): \(c.algo):\(c.keyNameHint) not checked (no key-\(c.keyNameHint) in \(key))\n"
                    }
                }
                let required = (control.root.node(at: "signature")?.children ?? []).filter { $0.property("required")?.stringValue == "conf" }
                if !required.isEmpty && !info.configurations.contains(where: { !$0.signatures.isEmpty }) {
                    failed.append("no signed configuration, but \(key) requires one (\(required.map(\.name).joined(separator: ", ")))")
                }
            } else if info.images.contains(where: { !$0.signatures.isEmpty }) || info.configurations.contains(where: { !$0.signatures.isEmpty }) {
                text += "signatures present: give --key CONTROL.dtb to check them\n"
            }
            try output(text)
            try info.verify(only: image)
            if let first = failed.first {
                throw FITError.signatureInvalid(source: file, node: first, key: "the keys in \(key ?? "the control DTB")")
            }
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

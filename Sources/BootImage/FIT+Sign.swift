import DeviceTree
import FlashsmithCore

extension FIT {
    /// Properties a configuration signature never covers, wherever they are.
    static let unsignedDataProperties: Set<String> = ["data", "data-size", "data-position", "data-offset"]

    static func signatureParameters(_ blob: FDTBlob, _ sigPath: String) throws -> (FITSignatureAlgorithm, String, Bool) {
        guard let algoName = try blob.string(sigPath, "algo") else { throw FITError.missing(source: blob.source, what: "\(sigPath)/algo") }
        let algo: FITSignatureAlgorithm
        do { algo = try FITSignatureAlgorithm(parsing: algoName) } catch {
            throw FITError.badValue(source: blob.source, path: "\(sigPath)/algo", expected: "sha1|sha256|sha384|sha512,rsa2048|rsa3072|rsa4096|ecdsa256", found: algoName)
        }
        guard let hint = try blob.string(sigPath, "key-name-hint") else { throw FITError.missing(source: blob.source, what: "\(sigPath)/key-name-hint") }
        let padding = try blob.string(sigPath, "padding") ?? "pkcs-1.5"
        guard padding == "pkcs-1.5" || padding == "pss" else {
            throw FITError.badValue(source: blob.source, path: "\(sigPath)/padding", expected: "pkcs-1.5 or pss", found: padding)
        }
        return (algo, hint, padding == "pss")
    }

    static func key(_ options: BuildOptions, _ hint: String, _ sigPath: String, source: String) throws -> FITSigningKey {
        guard let dir = options.keyDirectory else {
            throw FITError.missing(source: source, what: "-k KEYDIR to sign \(sigPath) (key-name-hint '\(hint)')")
        }
        return try FITSigningKey.load(directory: dir, hint: hint)
    }

    /// The properties mkimage writes into a signature node, in its order (value first).
    static func writeSignatureProperties(_ blob: inout FDTBlob, _ sigPath: String, value: [UInt8], options: BuildOptions) throws {
        try blob.setProperty(sigPath, "value", value)
        try blob.setString(sigPath, "signer-name", options.signerName)
        try blob.setString(sigPath, "signer-version", options.signerVersion)
        try blob.setU32(sigPath, "timestamp", options.timestamp)
    }

    /// An image signature: the image's data, signed.
    static func signImage(_ blob: inout FDTBlob, imagePath: String, signaturePath: String, options: BuildOptions) throws {
        let (algo, hint, pss) = try signatureParameters(blob, signaturePath)
        let key = try key(options, hint, signaturePath, source: blob.source)
        guard let range = try blob.propertyRange(imagePath, "data") else { throw FITError.missing(source: blob.source, what: "\(imagePath)/data") }
        let value = try key.sign([blob.buffer[range]], algo: algo, pss: pss, source: "\(blob.source): \(signaturePath)")
        try blob.reserve(value.count + 512)
        try writeSignatureProperties(&blob, signaturePath, value: value, options: options)
        try writeKey(key, hint: hint, algo: algo.name, required: "image", options: options)
    }

    /// The nodes a configuration signature covers, as patched U-Boot (CVE-2026-46728, Debian
    /// deb12u3, upstream HEAD) rebuilds them: "/", the configuration, and every image any of its
    /// properties names (except description, compatible, default) with its hash and cipher nodes.
    static func signedNodes(_ tree: DeviceTree, configuration: String, source: String) throws -> (nodes: [String], images: [String]) {
        guard let conf = tree.root.node(at: "configurations/\(configuration)") else { return (["/"], []) }
        let images = tree.root.node(at: "images")?.children ?? []
        var nodes = ["/", "\(configurations)/\(configuration)"]
        var used: [String] = []
        for p in conf.properties where !["description", "compatible", "default"].contains(p.name) {
            for name in p.stringList ?? [] where images.contains(where: { $0.name == name }) && !used.contains(name) {
                used.append(name)
            }
        }
        for name in used {
            guard let img = images.first(where: { $0.name == name }) else { continue }
            let path = "\(FIT.images)/\(name)"
            let hashes = img.children.filter { $0.name.hasPrefix("hash") }
            guard !hashes.isEmpty else {
                throw FITError.missing(source: source, what: "a hash-N node in \(path): configuration \(configuration) is signed, and U-Boot checks its images through their hashes")
            }
            nodes.append(path)
            nodes += img.children.filter { $0.name.hasPrefix("hash") || $0.name == "cipher" }.map { "\(path)/\($0.name)" }
        }
        return (nodes, used)
    }

    /// Signs every configuration signature node of a tree in its final layout.
    static func signConfigurations(_ blob: inout FDTBlob, options: BuildOptions) throws {
        guard options.sign else { return }
        // Most FITs are not signed: look before walking the whole tree.
        var any = false
        for conf in try blob.subnodes(configurations) where try blob.subnodes("\(configurations)/\(conf)").contains(where: { $0.hasPrefix("signature") }) {
            any = true
        }
        guard any else { return }
        let tree = try DeviceTree.decode(blob.buffer, source: blob.source) { path, name in name == "data" && path.hasPrefix(images + "/") }
        for conf in tree.root.node(at: "configurations")?.children ?? [] {
            for sig in conf.children where sig.name.hasPrefix("signature") {
                let confPath = "\(configurations)/\(conf.name)", sigPath = "\(confPath)/\(sig.name)"
                if conf.name.contains("@") || tree.root.node(at: "images")?.children.contains(where: { $0.name.contains("@") }) == true {
                    throw FITError.badValue(source: blob.source, path: sigPath, expected: "node names without '@' (U-Boot refuses unit addresses in signed FITs)", found: "'@'")
                }
                let (algo, hint, pss) = try signatureParameters(blob, sigPath)
                let key = try key(options, hint, sigPath, source: blob.source)
                let (nodes, used) = try signedNodes(tree, configuration: conf.name, source: blob.source)
                if let listed = sig.property("sign-images")?.stringList {
                    let roles = conf.properties.filter { listed.contains($0.name) }.flatMap { $0.stringList ?? [] }
                    let missing = used.filter { !roles.contains($0) }
                    if !missing.isEmpty {
                        throw FITError.badValue(source: blob.source, path: "\(sigPath)/sign-images", expected: "every image the configuration uses (U-Boot checks them all)", found: "without \(missing.joined(separator: ", "))")
                    }
                }
                try blob.reserve(algo.signatureSize + nodes.joined().utf8.count + nodes.count + 1024)
                try writeSignatureProperties(&blob, sigPath, value: [UInt8](repeating: 0, count: algo.signatureSize), options: options)
                try blob.setProperty(sigPath, "hashed-nodes", nodes.flatMap { Array($0.utf8) + [0] })
                try blob.setProperty(sigPath, "hashed-strings", [UInt8](repeating: 0, count: 8))
                let strings = blob.stringsBlock
                try blob.setProperty(sigPath, "hashed-strings", DeviceTree.Property.cells("hashed-strings", [0, UInt32(strings.size)]).value)
                let regions = try blob.regions(including: Set(nodes), excludingProperties: unsignedDataProperties)
                let chunks = regions.map { blob.buffer[$0] } + [blob.buffer[strings.offset..<(strings.offset + strings.size)]]
                let value = try key.sign(chunks, algo: algo, pss: pss, source: "\(blob.source): \(sigPath)")
                try blob.setProperty(sigPath, "value", value)  // same length: replaced in place
                try writeKey(key, hint: hint, algo: algo.name, required: "conf", options: options)
            }
        }
    }

    /// `-K`: remembers a public key for the control DTB; ``stageKeys(_:)`` prepares the new DTB
    /// before anything is committed, so a failed build leaves both the FIT and the DTB as they were.
    static func writeKey(_ key: FITSigningKey, hint: String, algo: String, required: String, options: BuildOptions) throws {
        guard options.keyDTB != nil else { return }
        options.pendingKeys.add(key: key, hint: hint, algo: algo, required: required)
    }

    /// Writes the remembered keys into the control DTB (`/signature/key-<hint>`), into a temporary
    /// file beside it: the caller commits it once every other output is complete (nil: no keys).
    /// A key used for configurations is marked "conf" even if images used it too (as mkimage ends up).
    static func stageKeys(_ options: BuildOptions) throws -> AtomicFile? {
        guard let path = options.keyDTB, !options.pendingKeys.entries.isEmpty else { return nil }
        var dtb = try FDTBlob(validating: try FileIO.readAll(path), source: path, extraSpace: 8192 * options.pendingKeys.entries.count)
        if try dtb.offset("/signature") == nil { try dtb.addSubnode("/", "signature") }
        for e in options.pendingKeys.entries {
            let node = try dtb.addSubnode("/signature", "key-\(e.hint)")
            for p in try e.key.publicKeyProperties(hint: e.hint, algo: e.algo, required: options.requireKeys ? e.required : nil) {
                try dtb.setProperty(node, p.name, p.value)
            }
        }
        try dtb.pack()
        var file = try AtomicFile(destination: path)
        try file.write(Array(dtb.bytes))
        return file
    }
}

/// Public keys waiting for the control DTB (a reference, so every copy of the options sees them).
public final class PendingKeys: @unchecked Sendable {
    struct Entry {
        var key: FITSigningKey
        var hint: String
        var algo: String
        var required: String
    }

    var entries: [Entry] = []

    public init() {}

    func add(key: FITSigningKey, hint: String, algo: String, required: String) {
        if let i = entries.firstIndex(where: { $0.hint == hint }) {
            entries[i] = Entry(key: key, hint: hint, algo: algo, required: required == "conf" ? "conf" : entries[i].required)
        } else {
            entries.append(Entry(key: key, hint: hint, algo: algo, required: required))
        }
    }
}

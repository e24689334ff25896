import DeviceTree
import FlashsmithCore
#if canImport(Glibc)
import Glibc
#endif

/// A FIT as read back: the tree, where each image's data lies, the hashes to check.
public struct FITInfo: Sendable {
    public struct Hash: Sendable {
        public var node: String
        public var algo: String
        public var value: [UInt8]
    }

    public struct Signature: Sendable {
        public var node: String
        public var algo: String
        public var keyNameHint: String
        public var signed: Bool
        public var padding: String? = nil
        public var signImages: [String]? = nil
    }

    public struct Image: Sendable {
        public var name: String
        public var path: String
        public var properties: [String: [UInt8]]
        /// Where the data lie in the file, and whether they are inside the tree.
        public var dataOffset: Int
        public var dataSize: Int
        public var external: Bool
        public var hashes: [Hash]
        /// `signature-N` subnodes: (node path, algo, key-name-hint).
        public var signatures: [Signature] = []

        public func string(_ key: String) -> String? {
            guard let v = properties[key], v.last == 0 else { return nil }
            return String(validating: v.dropLast(), as: UTF8.self)
        }

        /// A `load`/`entry` address: one or two cells.
        public func address(_ key: String) -> UInt64? {
            guard let v = properties[key], v.count == 4 || v.count == 8 else { return nil }
            let r = ByteReader(v)
            return v.count == 4 ? (try? r.get(UInt32.self, at: 0, .big)).map(UInt64.init) : try? r.get(UInt64.self, at: 0, .big)
        }
    }

    public struct Configuration: Sendable {
        public var name: String
        public var properties: [String: [UInt8]]
        public var signatures: [Signature] = []

        public func strings(_ key: String) -> [String] {
            guard let v = properties[key], v.last == 0 else { return [] }
            return v.dropLast().split(separator: 0, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
        }
    }

    public var path: String
    public var fileSize: Int
    public var treeSize: Int
    public var description: String?
    public var timestamp: UInt32?
    public var images: [Image]
    public var configurations: [Configuration]
    public var defaultConfiguration: String?

    /// Reads the tree (validated in full before it is walked) and locates every image's data,
    /// checking that external data lie inside the file.
    public static func read(_ path: String) throws -> FITInfo {
        let fileSize = try FileIO.size(of: path)
        let head = try FileIO.read(path, offset: 0, count: min(fileSize, 40))
        let r = ByteReader(head)
        guard head.count == 40, try r.get(UInt32.self, at: 0, .big) == DeviceTree.magic else {
            throw DeviceTreeError.invalid(source: path, reason: "offset 0x0 (magic): expected 0xd00dfeed: not a FIT")
        }
        let treeSize = Int(try r.get(UInt32.self, at: 4, .big))
        guard treeSize <= fileSize else { throw FITError.outOfBounds(source: path, path: "totalsize", offset: 0, size: treeSize, fileSize: fileSize) }
        let blob = try FDTBlob(validating: try FileIO.read(path, offset: 0, count: treeSize), source: path)
        guard try blob.offset(FIT.images) != nil else { throw FITError.missing(source: path, what: "/images node: a device tree, but not a FIT") }
        let tree = try DeviceTree.decode(blob.buffer, source: path) { p, name in name == "data" && p.hasPrefix(FIT.images + "/") }
        func props(_ n: DeviceTree.Node) -> [String: [UInt8]] {
            Dictionary(n.properties.map { ($0.name, $0.value) }, uniquingKeysWith: { a, _ in a })
        }
        func signatures(_ n: DeviceTree.Node, _ p: String) -> [Signature] {
            n.children.filter { $0.name.hasPrefix("signature") }.map { s in
                Signature(node: "\(p)/\(s.name)", algo: s.property("algo")?.stringValue ?? "?",
                          keyNameHint: s.property("key-name-hint")?.stringValue ?? "", signed: s.property("value") != nil,
                          padding: s.property("padding")?.stringValue, signImages: s.property("sign-images")?.stringList)
            }
        }
        var images: [Image] = []
        for node in tree.root.node(at: "images")?.children ?? [] {
            let p = "\(FIT.images)/\(node.name)"
            let pr = props(node)
            var image = Image(name: node.name, path: p, properties: pr, dataOffset: 0, dataSize: 0, external: false, hashes: [])
            if let range = try blob.propertyRange(p, "data") {
                image.dataOffset = range.lowerBound
                image.dataSize = range.count
            } else if let size = pr["data-size"].flatMap({ try? ByteReader($0).get(UInt32.self, at: 0, .big) }) {
                image.external = true
                image.dataSize = Int(size)
                if let pos = pr["data-position"].flatMap({ try? ByteReader($0).get(UInt32.self, at: 0, .big) }) {
                    image.dataOffset = Int(pos)
                } else if let off = pr["data-offset"].flatMap({ try? ByteReader($0).get(UInt32.self, at: 0, .big) }) {
                    image.dataOffset = FIT.roundUp(treeSize, 4) + Int(off)
                } else {
                    throw FITError.missing(source: path, what: "\(p)/data-offset or data-position beside data-size")
                }
                guard image.dataOffset + image.dataSize <= fileSize else {
                    throw FITError.outOfBounds(source: path, path: p, offset: image.dataOffset, size: image.dataSize, fileSize: fileSize)
                }
            } else {
                throw FITError.missing(source: path, what: "\(p)/data, or data-size with data-offset or data-position")
            }
            for sub in node.children where sub.name.hasPrefix("hash") {
                let sp = props(sub)
                let algo = sp["algo"].map { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) } ?? "?"
                image.hashes.append(Hash(node: "\(p)/\(sub.name)", algo: algo, value: sp["value"] ?? []))
            }
            image.signatures = signatures(node, p)
            images.append(image)
        }
        let confNode = tree.root.node(at: "configurations")
        let rootProps = props(tree.root)
        return FITInfo(
            path: path, fileSize: fileSize, treeSize: treeSize,
            description: tree.root.property("description")?.stringValue,
            timestamp: rootProps["timestamp"].flatMap { try? ByteReader($0).get(UInt32.self, at: 0, .big) },
            images: images,
            configurations: (confNode?.children ?? []).map {
                Configuration(name: $0.name, properties: props($0), signatures: signatures($0, "\(FIT.configurations)/\($0.name)"))
            },
            defaultConfiguration: confNode?.property("default")?.stringValue)
    }

    /// One hash check: the stored and the computed value.
    public struct HashCheck: Sendable {
        public var image: String
        public var hash: Hash
        public var computed: [UInt8]?
        public var ok: Bool { computed == hash.value }
    }

    /// Recomputes every hash of every image (or of `only`), streaming the data from the file.
    public func checkHashes(only: String? = nil) throws -> [HashCheck] {
        var out: [HashCheck] = []
        for image in images where only == nil || image.name == only {
            for h in image.hashes {
                guard let algo = FITHashAlgorithm(rawValue: h.algo) else {
                    out.append(HashCheck(image: image.name, hash: h, computed: nil))
                    continue
                }
                var hasher = algo.hasher()
                try FileIO.forEachChunk(path, offset: image.dataOffset, count: image.dataSize) { hasher.update($0) }
                out.append(HashCheck(image: image.name, hash: h, computed: hasher.finalize()))
            }
        }
        return out
    }

    /// Throws on the first failed hash.
    public func verify(only: String? = nil) throws {
        for c in try checkHashes(only: only) where !c.ok {
            throw FITError.hashMismatch(source: path, path: c.hash.node, algo: c.hash.algo,
                                        expected: c.computed.map { hexString($0) } ?? "a known algo",
                                        found: hexString(c.hash.value))
        }
    }

    /// Copies image `name`'s data to `output`, atomically and streaming.
    public func extract(_ name: String, output: String) throws {
        guard let image = images.first(where: { $0.name == name }) else {
            throw FITError.noSuchImage(source: path, name: name, images: images.map(\.name))
        }
        try FileIO.copyRange(path, offset: image.dataOffset, count: image.dataSize, to: output)
    }
}

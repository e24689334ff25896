import DeviceTree
import FlashsmithCore

extension FITInfo {
    /// One signature check against a control DTB's keys.
    public struct SignatureCheck: Sendable {
        public var node: String
        public var algo: String
        public var keyNameHint: String
        /// nil when no key for it is in the control DTB.
        public var ok: Bool?
        public var required: Bool
    }

    /// Checks every image and configuration signature as U-Boot does at boot: image signatures over
    /// the image data (streamed), configuration signatures over the regions U-Boot rebuilds itself
    /// (never trusting the stored `hashed-nodes`) and the strings block's first `hashed-strings[1]`
    /// bytes, each with `/signature/key-<key-name-hint>` of `control`.
    public func checkSignatures(control: DeviceTree) throws -> [SignatureCheck] {
        let blob = try FDTBlob(validating: try FileIO.read(path, offset: 0, count: treeSize), source: path)
        let tree = try DeviceTree.decode(blob.buffer, source: path) { p, name in name == "data" && p.hasPrefix(FIT.images + "/") }
        let keys = control.root.node(at: "signature")?.children ?? []
        func key(_ hint: String) -> DeviceTree.Node? { keys.first { $0.name == "key-\(hint)" } }
        var out: [SignatureCheck] = []
        for img in images {
            for s in img.signatures {
                let k = key(s.keyNameHint)
                var ok: Bool?
                if let k, let algo = try? FITSignatureAlgorithm(parsing: s.algo), let value = try blob.property(s.node, "value") {
                    let pss = try blob.string(s.node, "padding") == "pss"
                    ok = try FITSignatureVerifier.verify(Array(value), algo: algo, pss: pss, key: k) { sink in
                        try FileIO.forEachChunk(path, offset: img.dataOffset, count: img.dataSize) { sink($0) }
                    }
                } else if k != nil {
                    ok = false
                }
                out.append(SignatureCheck(node: s.node, algo: s.algo, keyNameHint: s.keyNameHint, ok: ok, required: k?.property("required")?.stringValue == "image"))
            }
        }
        for conf in configurations {
            for s in conf.signatures {
                let k = key(s.keyNameHint)
                var ok: Bool?
                if let k {
                    ok = false
                    if let algo = try? FITSignatureAlgorithm(parsing: s.algo), let value = try blob.property(s.node, "value"),
                       let hs = try blob.property(s.node, "hashed-strings"), hs.count == 8,
                       let (nodes, _) = try? FIT.signedNodes(tree, configuration: conf.name, source: path) {
                        let stringsSize = Int(try ByteReader(Array(hs)).get(UInt32.self, at: 4, .big))
                        let strings = blob.stringsBlock
                        if stringsSize <= strings.size {
                            let regions = try blob.regions(including: Set(nodes), excludingProperties: FIT.unsignedDataProperties)
                            let pss = try blob.string(s.node, "padding") == "pss"
                            ok = try FITSignatureVerifier.verify(Array(value), algo: algo, pss: pss, key: k) { sink in
                                for r in regions { blob.buffer[r].withUnsafeBytes { sink($0) } }
                                blob.buffer[strings.offset..<(strings.offset + stringsSize)].withUnsafeBytes { sink($0) }
                            }
                        }
                    }
                }
                out.append(SignatureCheck(node: s.node, algo: s.algo, keyNameHint: s.keyNameHint, ok: ok, required: k?.property("required")?.stringValue == "conf"))
            }
        }
        return out
    }
}

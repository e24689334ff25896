import DeviceTree
import FlashsmithCore
#if canImport(Glibc)
import Glibc
#endif

/// Flat Image Tree, "FIT" (Flat Image Tree specification, `source/chapter2-source-file-format.rst`;
/// U-Boot `boot/image-fit.c`, `tools/fit_image.c`, `tools/image-host.c`). A device tree blob:
/// ```
/// / { description; timestamp; #address-cells;
///     images {
///         NAME { description; type; compression; arch; os; load; entry;
///                data | data-offset + data-size | data-position + data-size;
///                hash-N { algo; value; }; };  … };
///     configurations { default;
///         NAME { description; kernel; fdt = "a", "overlay"…; ramdisk; loadables; script; compatible; }; … }; }
/// ```
/// Embedded images keep their bytes in `data`. External ones (`-E`) sit after the tree: `data-offset`
/// counts from the tree's end rounded up to 4 bytes, `data-position` from the start of the file
/// (`-p`). `hash-N/value` is the digest of the image's data with `algo`.
public enum FIT {
    public static let images = "/images"
    public static let configurations = "/configurations"

    /// mkimage's `-E -B -p` and what it fills in.
    public struct BuildOptions: Sendable {
        /// Move image data after the tree (`-E`).
        public var external = false
        /// Alignment of each external image (`-B`); default 4, 8 for `flat_dt`.
        public var alignment: Int?
        /// Absolute position of the external data (`-p`): `data-position` instead of `data-offset`.
        public var position: Int?
        /// Free space added inside every embedded `flat_dt` image (room for `fdt resize`).
        public var dtbPadding = 0
        /// `/timestamp` and every signature's: callers choose (`fit build` takes mkimage's
        /// `UImage.creationTime()`: SOURCE_DATE_EPOCH when set, else now; boards take the epoch or 0).
        public var timestamp: UInt32 = 0
        /// Where signing keys are (`-k`): `<dir>/<key-name-hint>.key` or `.pem`.
        public var keyDirectory: String?
        /// A control DTB to write the public keys into (`-K`), in place.
        public var keyDTB: String?
        /// Mark the written keys required (`-r`): "conf" for configuration keys, else "image".
        public var requireKeys = false
        /// Keys for `keyDTB`, written after the FIT is committed.
        public let pendingKeys = PendingKeys()
        /// Sign the signature nodes (off for `fit lint`, which only looks).
        public var sign = true
        public var signerName = "flashsmith"
        public var signerVersion = "0.1.0"

        public init() {}
    }

    /// Limits of the build options: DTB padding is room for `fdt resize` (reserved for every
    /// device tree), and external data must stay where 32-bit `data-offset`/`data-position` reach.
    public static let maxDTBPadding = 1 << 20
    public static let maxAlignment = 16 << 20
    public static let maxPosition = 256 << 20

    /// Compiles an `.its` with dtc, as mkimage does (`/incbin/` paths are looked up beside the
    /// source). dtc itself would read every payload into memory: so each plain `/incbin/("file")`
    /// is first pointed at a small marker file, dtc compiles the tree, and the payloads are then
    /// read straight into the blob where their markers landed. Anything else (`/incbin/` with an
    /// offset and length, a marker that does not fill a whole property) falls back to letting dtc
    /// read the data itself.
    public static func compileITS(_ path: String) throws -> FDTBlob {
        let dir = path.lastIndex(of: "/").map { String(path[..<$0]) } ?? "."
        let include = dir.isEmpty ? "/" : dir
        func plain() throws -> FDTBlob {
            try FDTBlob(validating: try ExternalTool.run("dtc", ["-I", "dts", "-O", "dtb", "-i", include, path]).stdout, source: path)
        }
        let text = String(decoding: try FileIO.readAll(path), as: UTF8.self)
        let parts = text.components(separatedBy: "/incbin/")
        guard parts.count > 1 else { return try plain() }
        let scratch = try ScratchDirectory()
        var rewritten = parts[0]
        var markers: [(marker: [UInt8], file: String)] = []
        for (i, part) in parts.dropFirst().enumerated() {
            // Only the plain form: ("name") — with nothing but blanks around the quoted name.
            let trimmed = part.drop { $0 == " " || $0 == "\t" }
            guard trimmed.hasPrefix("(\""), let close = trimmed.dropFirst(2).firstIndex(of: "\"") else { return try plain() }
            let name = String(trimmed[trimmed.index(trimmed.startIndex, offsetBy: 2)..<close])
            let after = trimmed[trimmed.index(after: close)...].drop { $0 == " " || $0 == "\t" }
            guard after.hasPrefix(")") else { return try plain() }
            let resolved = name.hasPrefix("/") ? name : (FileIO.kind(of: "\(dir)/\(name)") != .missing ? "\(dir)/\(name)" : name)
            let marker = Array("FLASHSMITH-INCBIN-MARKER-\(i)-".utf8) + Array(hexString(Array(resolved.utf8).prefix(8)).utf8)
            let placeholder = "\(scratch.path)/incbin-\(i)"
            try AtomicFile.write(marker, to: placeholder)
            markers.append((marker, resolved))
            rewritten += "/incbin/(\"\(placeholder)\")" + after.dropFirst()
        }
        let its = "\(scratch.path)/source.its"
        try AtomicFile.write(Array(rewritten.utf8), to: its)
        let compiled = try ExternalTool.run("dtc", ["-I", "dts", "-O", "dtb", "-i", include, its]).stdout
        var blob = try FDTBlob(validating: compiled, source: path)
        // Where did each marker land? Property values are small now: the whole tree is cheap to walk.
        let tree = try DeviceTree.decode(blob.buffer, source: path)
        var found: [(path: String, property: String, file: String)] = []
        func walk(_ n: DeviceTree.Node, _ p: String) {
            for prop in n.properties {
                if let m = markers.first(where: { $0.marker == prop.value }) { found.append((p, prop.name, m.file)) }
            }
            for c in n.children { walk(c, p == "/" ? "/\(c.name)" : "\(p)/\(c.name)") }
        }
        walk(tree.root, "/")
        guard found.count == markers.count else { return try plain() }
        var total = 0
        for f in found {
            guard case let .regular(size) = FileIO.kind(of: f.file) else {
                throw FileError.cannotOpen(path: f.file, reason: "/incbin/ of \(f.path)/\(f.property) in \(path): not a regular file")
            }
            total += size + 64
        }
        try blob.reserve(total)
        for f in found { try blob.setProperty(f.path, f.property, fromFile: f.file) }
        return blob
    }

    /// Fills in a FIT: `/timestamp`, every `hash-N/value`, padding of embedded device trees.
    /// Image signature nodes are signed here (they cover the data); configuration signatures are
    /// made by ``write(_:options:output:)`` on the final tree.
    public static func fill(_ blob: inout FDTBlob, options: BuildOptions) throws {
        guard try blob.offset(images) != nil else {
            throw FITError.missing(source: blob.source, what: "/images node")
        }
        // One reservation up front for everything fill adds (timestamp, hash values, DTB padding):
        // growing a blob means copying it, and it is as large as its images.
        guard (0...maxDTBPadding).contains(options.dtbPadding) else {
            throw FITError.badValue(source: blob.source, path: "--dtb-padding", expected: "0…\(hex(maxDTBPadding))", found: "\(options.dtbPadding)")
        }
        let imageNames = try blob.subnodes(images)
        var deviceTrees = 0
        if options.dtbPadding > 0 {
            for name in imageNames where try blob.string("\(images)/\(name)", "type") == "flat_dt" { deviceTrees += 1 }
        }
        try blob.reserve(4096 + imageNames.count * 512 + deviceTrees * options.dtbPadding)
        try blob.setU32("/", "timestamp", options.timestamp)
        for name in imageNames {
            let path = "\(images)/\(name)"
            guard try blob.propertyRange(path, "data") != nil else {
                throw FITError.missing(source: blob.source, what: "\(path)/data (an image needs its data: /incbin/ in an .its, data: in a spec)")
            }
            if options.dtbPadding > 0, try blob.string(path, "type") == "flat_dt", let dtb = try blob.property(path, "data") {
                let padded = try FDTBlob.padded(Array(dtb), by: options.dtbPadding, source: "\(blob.source): \(path)/data")
                try blob.setProperty(path, "data", padded)
            }
            for sub in try blob.subnodes(path) {
                let subPath = "\(path)/\(sub)"
                if sub.hasPrefix("signature") {
                    if !options.sign { continue }
                    try signImage(&blob, imagePath: path, signaturePath: subPath, options: options)
                    continue
                }
                guard sub.hasPrefix("hash") else { continue }
                guard let algoName = try blob.string(subPath, "algo") else { throw FITError.missing(source: blob.source, what: "\(subPath)/algo") }
                guard let algo = FITHashAlgorithm(rawValue: algoName) else {
                    throw FITError.badValue(source: blob.source, path: "\(subPath)/algo", expected: FITHashAlgorithm.allCases.map(\.rawValue).joined(separator: ", "), found: algoName)
                }
                guard let range = try blob.propertyRange(path, "data") else { continue }
                let digest = blob.buffer[range].withUnsafeBytes { p -> [UInt8] in
                    var h = algo.hasher()
                    h.update(p)
                    return h.finalize()
                }
                try blob.setProperty(subPath, "value", digest)
            }
        }
    }

    /// Writes a filled FIT to `output` atomically: packed with its data embedded, or (`-E`) with
    /// the data moved after the tree exactly as mkimage's `fit_extract_data` lays it out.
    /// Every output of the command (the FIT, and with `-K` the control DTB) is committed only when
    /// all of them are complete: the new control DTB is written beside its destination first, then
    /// the FIT and the DTB are renamed into place.
    public static func write(_ blob: inout FDTBlob, options: BuildOptions, output: String) throws {
        var out = try AtomicFile(destination: output)
        guard options.external else {
            try blob.pack()
            try signConfigurations(&blob, options: options)
            try blob.pack()
            let size = blob.totalSize
            try blob.buffer.withUnsafeBytes { try out.write(UnsafeRawBufferPointer(rebasing: $0[0..<size])) }
            let keys = try stageKeys(options)
            try out.commit()
            try keys?.commit()
            return
        }
        if let a = options.alignment {
            guard (1...maxAlignment).contains(a), a & (a - 1) == 0 else {
                throw FITError.badValue(source: blob.source, path: "-B", expected: "a power of two up to \(hex(maxAlignment))", found: hex(a))
            }
        }
        if let p = options.position {
            guard (0...maxPosition).contains(p) else {
                throw FITError.badValue(source: blob.source, path: "-p", expected: "a position up to \(hex(maxPosition))", found: hex(p))
            }
        }
        // Layout: image i's data at offset_i = offset_{i-1} + align(len_{i-1}, align_i).
        var placed: [(path: String, range: Range<Int>, offset: Int)] = []
        var pointer = 0, previous = 0, align = 4
        for name in try blob.subnodes(images) {
            let path = "\(images)/\(name)"
            align = try options.alignment ?? (blob.string(path, "type") == "flat_dt" ? 8 : 4)
            pointer += roundUp(previous, align)
            guard let range = try blob.propertyRange(path, "data") else { previous = 0; continue }
            placed.append((path, range, pointer))
            previous = range.count
        }
        pointer += roundUp(previous, align)
        let dataSize = pointer
        // data-offset / data-position are 32-bit: the data must end below 4 GiB.
        if let last = placed.last, (options.position ?? 0) + last.offset + last.range.count > Int(UInt32.max) {
            throw FITError.badValue(source: blob.source, path: last.path, expected: "external data that ends below 4 GiB (data-offset and data-position are 32-bit)", found: hex((options.position ?? 0) + last.offset + last.range.count))
        }
        // The tree without the data (a copy of the small part only), with offsets and sizes.
        let paths = Set(placed.map(\.path))
        var tree = try DeviceTree.decode(blob.buffer, source: blob.source) { path, name in name == "data" && paths.contains(path) }
        for p in placed {
            let name = String(p.path.dropFirst(images.count + 1))
            guard let i = tree.root.children.firstIndex(where: { $0.name == "images" }),
                  let j = tree.root.children[i].children.firstIndex(where: { $0.name == name }) else { continue }
            var props = tree.root.children[i].children[j].properties
            if let position = options.position {
                props.append(.u32("data-position", UInt32(position + p.offset)))
            } else {
                props.append(.u32("data-offset", UInt32(p.offset)))
            }
            props.append(.u32("data-size", UInt32(p.range.count)))
            tree.root.children[i].children[j].properties = props
        }
        // Configuration signatures cover the final tree, so they are made on it.
        var small = try FDTBlob(validating: try tree.encoded(), source: blob.source)
        try signConfigurations(&small, options: options)
        try small.pack()
        var head = Array(small.bytes)
        let treeSize = roundUp(head.count, align)
        head += [UInt8](repeating: 0, count: treeSize - head.count)
        head.withUnsafeMutableBytes { p in
            let be = UInt32(treeSize).bigEndian
            withUnsafeBytes(of: be) { p.baseAddress!.advanced(by: 4).copyMemory(from: $0.baseAddress!, byteCount: 4) }
        }
        try out.write(head)
        var written = 0
        if let position = options.position {
            guard position >= treeSize else {
                throw FITError.badValue(source: blob.source, path: "-p", expected: "a position at or after the tree's end (\(hex(treeSize)))", found: hex(position))
            }
            try writeZeros(&out, position - treeSize)
        }
        for p in placed {
            if p.offset > written { try writeZeros(&out, p.offset - written) }
            try blob.buffer[p.range].withUnsafeBytes { try out.write($0) }
            written = p.offset + p.range.count
        }
        if dataSize > written { try writeZeros(&out, dataSize - written) }
        let keys = try stageKeys(options)
        try out.commit()
        try keys?.commit()
    }

    static func roundUp(_ v: Int, _ a: Int) -> Int { (v + a - 1) / a * a }

    /// Padding, 64 KiB at a time (never one allocation of the whole gap).
    static func writeZeros(_ out: inout AtomicFile, _ count: Int) throws {
        let zeros = [UInt8](repeating: 0, count: min(count, 64 << 10))
        var left = count
        while left > 0 {
            let n = min(left, zeros.count)
            try zeros.withUnsafeBytes { try out.write(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
            left -= n
        }
    }
}

public enum FITError: FlashsmithError, Equatable {
    case missing(source: String, what: String)
    case badValue(source: String, path: String, expected: String, found: String)
    case unsupported(source: String, what: String)
    case outOfBounds(source: String, path: String, offset: Int, size: Int, fileSize: Int)
    case hashMismatch(source: String, path: String, algo: String, expected: String, found: String)
    case noSuchImage(source: String, name: String, images: [String])
    case signatureInvalid(source: String, node: String, key: String)

    public var category: ErrorCategory {
        switch self {
        case .unsupported: return .unavailable
        case .noSuchImage: return .usage
        default: return .data
        }
    }

    public var description: String {
        switch self {
        case let .missing(source, what): return "\(source): expected \(what), found none"
        case let .badValue(source, path, expected, found): return "\(source): \(path): expected \(expected), found '\(found)'"
        case let .unsupported(source, what): return "\(source): \(what)"
        case let .outOfBounds(source, path, offset, size, fileSize):
            return "\(source): \(path): \(size) bytes at offset \(hex(offset)) run past the end of the file (\(fileSize) bytes)"
        case let .hashMismatch(source, path, algo, expected, found):
            return "\(source): \(path): \(algo) mismatch: expected \(expected) (computed over the data), found \(found) (stored)"
        case let .noSuchImage(source, name, images): return "\(source): no image '\(name)' (images: \(images.joined(separator: ", ")))"
        case let .signatureInvalid(source, node, key): return "\(source): \(node): expected a signature that verifies with \(key), found one that does not"
        }
    }
}

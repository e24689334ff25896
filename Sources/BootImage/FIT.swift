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
        /// `/timestamp`: `SOURCE_DATE_EPOCH` when set, else now.
        public var timestamp: UInt32 = UImage.creationTime()

        public init() {}
    }

    /// Compiles an `.its` with dtc, as mkimage does (`dtc -I dts -O dtb`; `/incbin/` paths are
    /// looked up beside the source too).
    public static func compileITS(_ path: String) throws -> [UInt8] {
        let dir = path.lastIndex(of: "/").map { String(path[..<$0]) } ?? "."
        return try ExternalTool.run("dtc", ["-I", "dts", "-O", "dtb", "-i", dir.isEmpty ? "/" : dir, path]).stdout
    }

    /// Fills in a FIT: `/timestamp`, every `hash-N/value`, padding of embedded device trees.
    /// Signature nodes are refused (signing is not implemented yet).
    public static func fill(_ blob: inout FDTBlob, options: BuildOptions) throws {
        guard try blob.offset(images) != nil else {
            throw FITError.missing(source: blob.source, what: "/images node")
        }
        try blob.setU32("/", "timestamp", options.timestamp)
        for name in try blob.subnodes(images) {
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
                    throw FITError.unsupported(source: blob.source, what: "\(subPath): signing is not implemented yet")
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
        for name in try blob.subnodes(configurations) where name.hasPrefix("signature") {
            throw FITError.unsupported(source: blob.source, what: "\(configurations)/\(name): signing is not implemented yet")
        }
        for conf in try blob.subnodes(configurations) {
            for sub in try blob.subnodes("\(configurations)/\(conf)") where sub.hasPrefix("signature") {
                throw FITError.unsupported(source: blob.source, what: "\(configurations)/\(conf)/\(sub): signing is not implemented yet")
            }
        }
    }

    /// Writes a filled FIT to `output` atomically: packed with its data embedded, or (`-E`) with
    /// the data moved after the tree exactly as mkimage's `fit_extract_data` lays it out.
    public static func write(_ blob: inout FDTBlob, options: BuildOptions, output: String) throws {
        var out = try AtomicFile(destination: output)
        guard options.external else {
            try blob.pack()
            try out.write(Array(blob.bytes))
            try out.commit()
            return
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
        // The tree without the data (a copy of the small part only), with offsets and sizes.
        let paths = Set(placed.map(\.path))
        var tree = try DeviceTree.decode(blob.bytes, source: blob.source) { path, name in name == "data" && paths.contains(path) }
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
        var head = try tree.encoded()
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
            try out.write([UInt8](repeating: 0, count: position - treeSize))
        }
        for p in placed {
            if p.offset > written { try out.write([UInt8](repeating: 0, count: p.offset - written)) }
            try blob.buffer[p.range].withUnsafeBytes { try out.write($0) }
            written = p.offset + p.range.count
        }
        if dataSize > written { try out.write([UInt8](repeating: 0, count: dataSize - written)) }
        try out.commit()
    }

    static func roundUp(_ v: Int, _ a: Int) -> Int { (v + a - 1) / a * a }
}

public enum FITError: FlashsmithError, Equatable {
    case missing(source: String, what: String)
    case badValue(source: String, path: String, expected: String, found: String)
    case unsupported(source: String, what: String)
    case outOfBounds(source: String, path: String, offset: Int, size: Int, fileSize: Int)
    case hashMismatch(source: String, path: String, algo: String, expected: String, found: String)
    case noSuchImage(source: String, name: String, images: [String])

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
        }
    }
}

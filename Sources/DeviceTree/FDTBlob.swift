import CFDT
import FlashsmithCore

/// A device tree blob edited in place through libfdt's read-write API: property data are never
/// copied out, so a FIT holding a 32 MiB kernel costs one buffer. Nodes are addressed by path and
/// looked up again for every call (libfdt offsets move when the blob changes).
public struct FDTBlob: Sendable {
    /// The blob and its free space; `totalSize` bytes are the tree.
    public private(set) var buffer: [UInt8]
    public let source: String

    /// Validates `bytes` fully (``DeviceTree/validate(_:source:)``) and opens them for editing with
    /// `extraSpace` bytes of room.
    public init(validating bytes: [UInt8], source: String, extraSpace: Int = 0) throws(DeviceTreeError) {
        try DeviceTree.validate(bytes, source: source)
        self.source = source
        guard extraSpace > 0 else {
            buffer = bytes  // read-only use needs no reorganising copy; writes reserve room first
            return
        }
        let size = try Self.checkedSize(bytes.count, plus: extraSpace, slack: 0, source: source)
        var out = [UInt8](repeating: 0, count: size)
        let rc = bytes.withUnsafeBytes { src in out.withUnsafeMutableBytes { dst in fdt_open_into(src.baseAddress!, dst.baseAddress!, Int32(dst.count)) } }
        try DeviceTreeError.check(rc, "fdt_open_into")
        buffer = out
    }

    /// The largest blob libfdt can edit: its sizes and offsets are `int`.
    public static let maxSize = Int(Int32.max)

    /// `base + extra + slack`, if libfdt can address it; checked before anything is allocated.
    static func checkedSize(_ base: Int, plus extra: Int, slack: Int, source: String) throws(DeviceTreeError) -> Int {
        let (sum, o1) = base.addingReportingOverflow(extra)
        let (size, o2) = sum.addingReportingOverflow(slack)
        guard extra >= 0, !o1, !o2, size <= maxSize else {
            throw .tooLarge(source: source, size: o1 || o2 ? Int.max : sum, limit: maxSize)
        }
        return size
    }

    public var totalSize: Int { buffer.withUnsafeBytes { Int(flashsmith_fdt_totalsize($0.baseAddress!)) } }

    /// The tree's bytes (without the free space after `totalsize`).
    public var bytes: ArraySlice<UInt8> { buffer[0..<totalSize] }

    private func fail(_ op: String, _ rc: Int32, _ path: String) -> DeviceTreeError {
        .libfdt(operation: "\(op) \(path)", code: rc, message: String(cString: fdt_strerror(rc)))
    }

    /// The offset of the node at `path`, or nil when there is none.
    public func offset(_ path: String) throws(DeviceTreeError) -> Int32? {
        let rc = buffer.withUnsafeBytes { fdt_path_offset($0.baseAddress!, path) }
        if rc == -FDT_ERR_NOTFOUND { return nil }
        if rc < 0 { throw fail("fdt_path_offset", rc, path) }
        return rc
    }

    /// Names of the direct subnodes of `path`, in order.
    public func subnodes(_ path: String) throws(DeviceTreeError) -> [String] {
        guard let parent = try offset(path) else { return [] }
        return buffer.withUnsafeBytes { p in
            var names: [String] = []
            var child = fdt_first_subnode(p.baseAddress!, parent)
            while child >= 0 {
                var len: Int32 = 0
                if let n = fdt_get_name(p.baseAddress!, child, &len) { names.append(String(decoding: UnsafeRawBufferPointer(start: n, count: Int(len)), as: UTF8.self)) }
                child = fdt_next_subnode(p.baseAddress!, child)
            }
            return names
        }
    }

    /// Where property `name` of node `path` lies in ``buffer``, or nil.
    public func propertyRange(_ path: String, _ name: String) throws(DeviceTreeError) -> Range<Int>? {
        guard let node = try offset(path) else { return nil }
        return buffer.withUnsafeBytes { p -> Range<Int>? in
            var len: Int32 = 0
            guard let v = fdt_getprop(p.baseAddress!, node, name, &len) else { return nil }
            let start = UnsafeRawPointer(v) - p.baseAddress!
            return start..<(start + Int(len))
        }
    }

    public func property(_ path: String, _ name: String) throws(DeviceTreeError) -> ArraySlice<UInt8>? {
        try propertyRange(path, name).map { buffer[$0] }
    }

    public func string(_ path: String, _ name: String) throws(DeviceTreeError) -> String? {
        guard let v = try property(path, name), v.last == 0 else { return nil }
        return String(validating: v.dropLast(), as: UTF8.self)
    }

    public func u32(_ path: String, _ name: String) throws(DeviceTreeError) -> UInt32? {
        guard let v = try property(path, name), v.count == 4 else { return nil }
        return try? ByteReader(Array(v)).get(UInt32.self, at: 0, .big)
    }

    /// Bytes the tree really uses (libfdt's `totalsize` also counts the free space after the
    /// strings block once a blob is opened for writing).
    public var usedSize: Int {
        buffer.withUnsafeBytes { p in
            let h = ByteReader(Array(UnsafeRawBufferPointer(rebasing: p[0..<40])))
            let field = { (o: Int) in Int((try? h.get(UInt32.self, at: o, .big)) ?? 0) }
            return max(field(12) + field(32), field(8) + field(36))
        }
    }

    /// Makes sure at least `bytes` are free for edits. Grows to exactly what is asked (plus 64 KiB),
    /// never by doubling: a FIT's blob is as large as its images.
    public mutating func reserve(_ bytes: Int) throws(DeviceTreeError) {
        guard (0...Self.maxSize).contains(bytes) else { throw .tooLarge(source: source, size: bytes, limit: Self.maxSize) }
        let used = usedSize
        // libfdt's room is what `totalsize` leaves after the blocks (fdt_pack shrinks it, not the buffer).
        guard totalSize - used < bytes + 64 else { return }
        let newSize = try Self.checkedSize(used, plus: bytes, slack: 64 << 10, source: source)
        var out = [UInt8](repeating: 0, count: newSize)
        let rc = buffer.withUnsafeBytes { src in out.withUnsafeMutableBytes { dst in fdt_open_into(src.baseAddress!, dst.baseAddress!, Int32(dst.count)) } }
        try DeviceTreeError.check(rc, "fdt_open_into")
        buffer = out
    }

    public mutating func setProperty(_ path: String, _ name: String, _ value: [UInt8]) throws(DeviceTreeError) {
        try reserve(value.count + name.utf8.count + 16)
        guard let node = try offset(path) else { throw fail("setprop", -FDT_ERR_NOTFOUND, path) }
        let rc = buffer.withUnsafeMutableBytes { p in value.withUnsafeBytes { fdt_setprop(p.baseAddress!, node, name, $0.baseAddress, Int32($0.count)) } }
        if rc < 0 { throw fail("fdt_setprop \(name) of", rc, path) }
    }

    public mutating func setString(_ path: String, _ name: String, _ value: String) throws(DeviceTreeError) {
        try setProperty(path, name, Array(value.utf8) + [0])
    }

    public mutating func setU32(_ path: String, _ name: String, _ value: UInt32) throws(DeviceTreeError) {
        try setProperty(path, name, [UInt8(value >> 24), UInt8((value >> 16) & 0xFF), UInt8((value >> 8) & 0xFF), UInt8(value & 0xFF)])
    }

    /// Makes room for a `count`-byte property and lets `fill` write its value in place (data read
    /// straight from a file into the blob).
    public mutating func setProperty(_ path: String, _ name: String, count: Int, fill: (UnsafeMutableRawBufferPointer) throws -> Void) throws {
        guard (0...Self.maxSize).contains(count) else { throw DeviceTreeError.tooLarge(source: source, size: count, limit: Self.maxSize) }
        try reserve(count + name.utf8.count + 16)
        guard let node = try offset(path) else { throw fail("setprop", -FDT_ERR_NOTFOUND, path) }
        var rc: Int32 = 0
        try buffer.withUnsafeMutableBytes { p in
            var ptr: UnsafeMutableRawPointer?
            rc = fdt_setprop_placeholder(p.baseAddress!, node, name, Int32(count), &ptr)
            if rc == 0, let ptr {
                try fill(UnsafeMutableRawBufferPointer(start: ptr, count: count))
                // Zeros up to the next 4-byte tag, as dtc writes them (libfdt leaves what was there).
                (ptr + count).initializeMemory(as: UInt8.self, repeating: 0, count: (4 - count % 4) % 4)
            }
        }
        if rc < 0 { throw fail("fdt_setprop_placeholder \(name) of", rc, path) }
    }

    public mutating func deleteProperty(_ path: String, _ name: String) throws(DeviceTreeError) {
        guard let node = try offset(path) else { return }
        let rc = buffer.withUnsafeMutableBytes { fdt_delprop($0.baseAddress!, node, name) }
        if rc < 0 && rc != -FDT_ERR_NOTFOUND { throw fail("fdt_delprop \(name) of", rc, path) }
    }

    @discardableResult
    public mutating func addSubnode(_ parentPath: String, _ name: String) throws(DeviceTreeError) -> String {
        try reserve(name.utf8.count + 16)
        guard let parent = try offset(parentPath) else { throw fail("add_subnode", -FDT_ERR_NOTFOUND, parentPath) }
        let rc = buffer.withUnsafeMutableBytes { fdt_add_subnode($0.baseAddress!, parent, name) }
        if rc < 0 && rc != -FDT_ERR_EXISTS { throw fail("fdt_add_subnode \(name) of", rc, parentPath) }
        return parentPath == "/" ? "/\(name)" : "\(parentPath)/\(name)"
    }

    /// Removes the free space inside the blob (`fdt_pack`); ``buffer`` keeps its size.
    public mutating func pack() throws(DeviceTreeError) {
        let rc = buffer.withUnsafeMutableBytes { fdt_pack($0.baseAddress!) }
        try DeviceTreeError.check(rc, "fdt_pack")
    }

    /// Sets the header's `totalsize` (growing the buffer with zeros if needed), for padding a blob
    /// to an alignment as mkimage does before external data.
    public mutating func setTotalSize(_ size: Int) {
        if buffer.count < size { buffer += [UInt8](repeating: 0, count: size - buffer.count) }
        for i in totalSize..<size { buffer[i] = 0 }
        buffer.withUnsafeMutableBytes { fdt_set_totalsize($0.baseAddress!, UInt32(size)) }
    }

    /// Pads an embedded device tree blob with `padding` bytes of free space (for `fdt resize`).
    public static func padded(_ dtb: [UInt8], by padding: Int, source: String) throws(DeviceTreeError) -> [UInt8] {
        // fdt_open_into makes totalsize the whole buffer: the padding becomes free space in the tree.
        try FDTBlob(validating: dtb, source: source, extraSpace: padding).buffer
    }
}

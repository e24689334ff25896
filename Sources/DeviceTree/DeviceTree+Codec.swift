import CFDT
import FlashsmithCore

extension DeviceTree {
    /// The blob, through libfdt's sequential-write API, with `padding` bytes of free space at the
    /// end (room for U-Boot's `fdt resize` or for signatures added later).
    public func encoded(padding: Int = 0) throws(DeviceTreeError) -> [UInt8] {
        var capacity = 4096 + estimatedSize()
        while true {
            var buf = [UInt8](repeating: 0, count: capacity)
            let rc = buf.withUnsafeMutableBytes { p -> Int32 in write(into: p.baseAddress!, capacity: Int32(p.count)) }
            if rc == -FDT_ERR_NOSPACE {
                capacity *= 2
                continue
            }
            try DeviceTreeError.check(rc, "sequential write")
            let size = buf.withUnsafeBytes { Int(flashsmith_fdt_totalsize($0.baseAddress!)) }
            guard padding > 0 else { return Array(buf[0..<size]) }
            var out = [UInt8](repeating: 0, count: size + padding)
            let r2 = buf.withUnsafeBytes { src in out.withUnsafeMutableBytes { dst in fdt_open_into(src.baseAddress!, dst.baseAddress!, Int32(dst.count)) } }
            try DeviceTreeError.check(r2, "fdt_open_into")
            return out
        }
    }

    private func estimatedSize() -> Int {
        func walk(_ n: Node) -> Int {
            n.name.utf8.count + 16 + n.properties.reduce(0) { $0 + $1.name.utf8.count * 2 + $1.value.count + 16 } + n.children.reduce(0) { $0 + walk($1) }
        }
        return walk(root) + 16 * (reservations.count + 1)
    }

    private func write(into fdt: UnsafeMutableRawPointer, capacity: Int32) -> Int32 {
        var rc = fdt_create(fdt, capacity)
        if rc < 0 { return rc }
        for r in reservations {
            rc = fdt_add_reservemap_entry(fdt, r.address, r.size)
            if rc < 0 { return rc }
        }
        rc = fdt_finish_reservemap(fdt)
        if rc < 0 { return rc }
        func node(_ n: Node) -> Int32 {
            var rc = fdt_begin_node(fdt, n.name)
            if rc < 0 { return rc }
            for p in n.properties {
                rc = p.value.withUnsafeBytes { fdt_property(fdt, p.name, $0.baseAddress, Int32($0.count)) }
                if rc < 0 { return rc }
            }
            for c in n.children {
                rc = node(c)
                if rc < 0 { return rc }
            }
            return fdt_end_node(fdt)
        }
        rc = node(root)
        if rc < 0 { return rc }
        rc = fdt_finish(fdt)
        if rc < 0 { return rc }
        fdt_set_boot_cpuid_phys(fdt, bootCPU)
        return 0
    }

    /// Reads a blob: the header's sizes are checked against `bytes`, the whole structure with
    /// `fdt_check_full` (bad offsets, overlapping blocks, bad string offsets, unbalanced nodes),
    /// the nesting depth against ``maxDepth``; only then is it walked.
    /// `omitting(path, name)` drops properties from the model (the data of a FIT's images, when
    /// only the tree around them is wanted). Pass an `[UInt8]` (a buffer may run past `totalsize`)
    /// rather than a slice: a slice is copied first.
    public static func decode(_ bytes: some Collection<UInt8>, source: String, omitting: ((String, String) -> Bool)? = nil) throws(DeviceTreeError) -> DeviceTree {
        let bytes = Array(bytes)
        try validate(bytes, source: source)
        let result: Result<DeviceTree, DeviceTreeError> = bytes.withUnsafeBytes { p in
            let fdt = p.baseAddress!
            var reservations: [(address: UInt64, size: UInt64)] = []
            let count = fdt_num_mem_rsv(fdt)
            if count < 0 { return .failure(.invalid(source: source, reason: String(cString: fdt_strerror(count)))) }
            for i in 0..<count {
                var a: UInt64 = 0, s: UInt64 = 0
                if fdt_get_mem_rsv(fdt, i, &a, &s) == 0 { reservations.append((a, s)) }
            }
            do throws(DeviceTreeError) {
                let root = try readNode(fdt, 0, path: "/", depth: 0, source: source, omitting: omitting, size: p.count)
                return .success(DeviceTree(root: root, reservations: reservations, bootCPU: flashsmith_fdt_boot_cpuid_phys(fdt)))
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }

    /// Checks a blob before anything walks it: the header against the buffer, the blocks' bounds and
    /// overlaps (``checkBlocks``), `fdt_check_full` (structure, names, string offsets), and the
    /// nesting depth (``maxDepth``, counted with `fdt_next_node`, no recursion).
    public static func validate(_ bytes: [UInt8], source: String) throws(DeviceTreeError) {
        guard bytes.count >= 40 else { throw .invalid(source: source, reason: "expected a 40-byte header, found \(bytes.count) bytes") }
        let header = ByteReader(bytes)
        let magic = (try? header.get(UInt32.self, at: 0, .big)) ?? 0
        guard magic == DeviceTree.magic else {
            throw .invalid(source: source, reason: "offset 0x0 (magic): expected 0xd00dfeed, found 0x" + String(magic, radix: 16))
        }
        let total = Int((try? header.get(UInt32.self, at: 4, .big)) ?? 0)
        guard total <= bytes.count else {
            throw .invalid(source: source, reason: "offset 0x4 (totalsize): \(total) bytes, but the file has \(bytes.count)")
        }
        try checkBlocks(header, total: total, source: source)
        let problem: DeviceTreeError? = bytes.withUnsafeBytes { p in
            let fdt = p.baseAddress!
            if let stuck = firstNonAdvancingTag(fdt, structOffset: Int((try? header.get(UInt32.self, at: 8, .big)) ?? 0), bytes: p) {
                return .invalid(source: source, reason: stuck)
            }
            let rc = fdt_check_full(fdt, total)
            if rc < 0 { return .invalid(source: source, reason: String(cString: fdt_strerror(rc))) }
            var depth: Int32 = 0
            var offset: Int32 = 0
            while offset >= 0 {
                if depth > Int32(maxDepth) {
                    var len: Int32 = 0
                    let name = fdt_get_name(fdt, offset, &len).map { String(cString: $0) } ?? "?"
                    return .tooDeep(source: source, path: "…/\(name)", limit: maxDepth)
                }
                offset = fdt_next_node(fdt, offset, &depth)
            }
            return nil
        }
        if let problem { throw problem }
    }

    /// Walks the structure block's tags once with `fdt_next_tag` and names the first that does not
    /// move forward. libfdt 1.6.1 (Debian 12) adds a property's 32-bit length to an `int` offset, so
    /// a length of 0xfffffff4 brings the next tag back onto the same property and `fdt_check_full`
    /// (and every later walk) loops for ever (fuzzing finding: fit #232537, #660888, #962595).
    /// Every tag moving forward bounds each later walk by the structure block's size.
    private static func firstNonAdvancingTag(_ fdt: UnsafeRawPointer, structOffset: Int, bytes: UnsafeRawBufferPointer) -> String? {
        var offset: Int32 = 0
        while true {
            var next: Int32 = 0
            let tag = fdt_next_tag(fdt, offset, &next)
            if tag == UInt32(FDT_END) || next < 0 { return nil }   // the end, or an error fdt_check_full names
            if next <= offset {
                let at = structOffset + Int(offset)
                if tag == UInt32(FDT_PROP), at + 8 <= bytes.count {
                    let len = bytes.loadUnaligned(fromByteOffset: at + 4, as: UInt32.self).bigEndian
                    return "offset 0x\(String(at + 4, radix: 16)) (property length): expected at most \(bytes.count - at - 12) bytes, found 0x\(String(len, radix: 16))"
                }
                return "offset 0x\(String(at, radix: 16)) (tag \(tag)): expected the next tag after it, found one at or before it"
            }
            offset = next
        }
    }

    /// Flashsmith's own bounds, beyond libfdt's: the reservation map, structure and strings blocks
    /// start after the header, end inside `totalsize`, and do not overlap one another.
    private static func checkBlocks(_ h: ByteReader, total: Int, source: String) throws(DeviceTreeError) {
        func field(_ offset: Int) -> Int { Int((try? h.get(UInt32.self, at: offset, .big)) ?? 0) }
        let version = field(20)
        // Versions 2…15 name nodes by full path, a layout libfdt 1.6's fdt_check_full dereferences
        // NULL on (found by fuzzing); dtc, mkimage and the kernel write 17, 16 is the oldest U-Boot reads.
        guard version >= 16 else {
            throw .invalid(source: source, reason: "offset 0x14 (version): expected 16 or 17, found \(version)")
        }
        let rsv = field(16), structOff = field(8), stringsOff = field(12), stringsSize = field(32)
        let structSize = version >= 17 ? field(36) : 0
        var blocks: [(name: String, field: String, range: Range<Int>)] = [
            ("structure block", "off_dt_struct", structOff..<(structOff + structSize)),
            ("strings block", "off_dt_strings", stringsOff..<(stringsOff + stringsSize)),
        ]
        blocks.append(("memory reservation map", "off_mem_rsvmap", rsv..<(rsv + 16)))
        for b in blocks {
            guard b.range.lowerBound >= 40 else {
                throw .invalid(source: source, reason: "\(b.field) = \(b.range.lowerBound): the \(b.name) must start after the 40-byte header")
            }
            guard b.range.upperBound <= total else {
                throw .invalid(source: source, reason: "the \(b.name) (\(b.range.lowerBound)…\(b.range.upperBound)) runs past totalsize \(total)")
            }
        }
        for i in 0..<blocks.count {
            for j in (i + 1)..<blocks.count where blocks[i].range.overlaps(blocks[j].range) {
                throw .invalid(source: source, reason: "the \(blocks[i].name) (\(blocks[i].range.lowerBound)…\(blocks[i].range.upperBound)) overlaps the \(blocks[j].name) (\(blocks[j].range.lowerBound)…\(blocks[j].range.upperBound))")
            }
        }
    }

    /// `size`: the blob's bytes from `fdt`; every property value is checked to lie inside them before
    /// it is copied (fuzzing finding: dtb #132663 passed validation and read past the blob).
    private static func readNode(_ fdt: UnsafeRawPointer, _ offset: Int32, path: String, depth: Int, source: String, omitting: ((String, String) -> Bool)?, size: Int) throws(DeviceTreeError) -> Node {
        guard depth <= maxDepth else { throw .tooDeep(source: source, path: path, limit: maxDepth) }
        var len: Int32 = 0
        guard let namePtr = fdt_get_name(fdt, offset, &len) else { throw .invalid(source: source, reason: "node at \(path): \(String(cString: fdt_strerror(len)))") }
        let name = String(decoding: UnsafeRawBufferPointer(start: namePtr, count: Int(len)), as: UTF8.self)
        var node = Node(depth == 0 ? "" : name)
        var prop = fdt_first_property_offset(fdt, offset)
        while prop >= 0 {
            var nameOut: UnsafePointer<CChar>?
            var vlen: Int32 = 0
            guard let value = fdt_getprop_by_offset(fdt, prop, &nameOut, &vlen), let nameOut else {
                throw .invalid(source: source, reason: "property at structure offset \(prop) of \(path): \(String(cString: fdt_strerror(vlen)))")
            }
            let start = fdt.distance(to: UnsafeRawPointer(value))
            guard vlen >= 0, start >= 0, start <= size, Int(vlen) <= size - start else {
                throw .invalid(source: source, reason: "property at structure offset \(prop) of \(path): \(vlen) bytes at offset \(start), past the blob's \(size)")
            }
            let propName = String(cString: nameOut)
            if omitting?(path, propName) != true {
                node.properties.append(Property(propName, Array(UnsafeRawBufferPointer(start: value, count: Int(vlen)))))
            }
            prop = fdt_next_property_offset(fdt, prop)
        }
        if prop != -FDT_ERR_NOTFOUND { throw .invalid(source: source, reason: "properties of \(path): \(String(cString: fdt_strerror(prop)))") }
        var child = fdt_first_subnode(fdt, offset)
        while child >= 0 {
            var clen: Int32 = 0
            let cname = fdt_get_name(fdt, child, &clen).map { String(decoding: UnsafeRawBufferPointer(start: $0, count: Int(clen)), as: UTF8.self) } ?? "?"
            node.children.append(try readNode(fdt, child, path: path == "/" ? "/\(cname)" : "\(path)/\(cname)", depth: depth + 1, source: source, omitting: omitting, size: size))
            child = fdt_next_subnode(fdt, child)
        }
        if child != -FDT_ERR_NOTFOUND { throw .invalid(source: source, reason: "children of \(path): \(String(cString: fdt_strerror(child)))") }
        return node
    }
}

import FlashsmithCore

/// The byte regions of a tree's structure block that cover a set of nodes, as U-Boot's
/// `fdt_find_regions` (`boot/fdt_region.c`) computes them for FIT configuration signatures
/// (docs/fit-signing.md §2.2):
/// - a node whose path is listed is included whole (its BEGIN_NODE tag with name, its properties
///   except the excluded names, its END_NODE tag);
/// - a direct child of a listed node that is not listed itself contributes its BEGIN_NODE and
///   END_NODE tags only; anything deeper, nothing;
/// - the FDT_END tag is always included; adjacent pieces merge.
extension FDTBlob {
    public enum Tag: UInt32 {
        case beginNode = 1, endNode = 2, prop = 3, nop = 4, end = 9
    }

    /// Absolute byte ranges in ``buffer``, in file order.
    public func regions(including paths: Set<String>, excludingProperties excluded: Set<String>) throws(DeviceTreeError) -> [Range<Int>] {
        let h = ByteReader(Array(buffer[0..<40]))
        func field(_ o: Int) -> Int { Int((try? h.get(UInt32.self, at: o, .big)) ?? 0) }
        let structOff = field(8), stringsOff = field(12), structSize = field(36)
        let r = ByteReader(buffer)
        func u32(_ at: Int) throws(DeviceTreeError) -> Int {
            guard let v = try? r.get(UInt32.self, at: at, .big) else { throw .invalid(source: source, reason: "structure block cut short at \(hex(at))") }
            return Int(v)
        }
        func cString(_ at: Int) -> (String, Int) {
            var end = at
            while end < buffer.count && buffer[end] != 0 { end += 1 }
            return (String(decoding: buffer[at..<end], as: UTF8.self), end - at)
        }
        var out: [Range<Int>] = []
        func include(_ range: Range<Int>) {
            if let last = out.last, last.upperBound == range.lowerBound {
                out[out.count - 1] = last.lowerBound..<range.upperBound
            } else {
                out.append(range)
            }
        }
        var pos = structOff
        let end = structOff + structSize
        var wantStack: [Int] = []
        var want = 0
        var path: [String] = []
        while pos < end {
            let tagStart = pos
            guard let tag = Tag(rawValue: UInt32(try u32(pos))) else { throw .invalid(source: source, reason: "unknown structure tag at \(hex(pos))") }
            pos += 4
            switch tag {
            case .beginNode:
                let (name, len) = cString(pos)
                pos += (len + 1 + 3) & ~3
                wantStack.append(want)
                path.append(name)
                let full = path.count == 1 ? "/" : "/" + path.dropFirst().joined(separator: "/")
                let parent = want
                want = paths.contains(full) ? 2 : (parent > 0 ? parent - 1 : 0)
                if want >= 1 { include(tagStart..<pos) }
            case .endNode:
                if want >= 1 { include(tagStart..<pos) }
                want = wantStack.popLast() ?? 0
                _ = path.popLast()
            case .prop:
                let len = try u32(pos)
                let nameOff = try u32(pos + 4)
                pos += 8 + ((len + 3) & ~3)
                let (name, _) = cString(stringsOff + nameOff)
                if want == 2 && !excluded.contains(name) { include(tagStart..<pos) }
            case .nop:
                if want == 2 { include(tagStart..<pos) }
            case .end:
                include(tagStart..<pos)
            }
        }
        return out
    }

    /// Offset and size of the strings block.
    public var stringsBlock: (offset: Int, size: Int) {
        let h = ByteReader(Array(buffer[0..<40]))
        return (Int((try? h.get(UInt32.self, at: 12, .big)) ?? 0), Int((try? h.get(UInt32.self, at: 32, .big)) ?? 0))
    }
}

import Flash
import FlashsmithCore

/// Checksums recomputed after a mutation (half of the time), so mutations reach what lies behind
/// a format's CRC instead of all stopping at it. Each fixup reads the fields it needs from the
/// mutated bytes and stays within them: any input, any size.
public enum FuzzFixups {
    /// uImage: the header CRC (over the 64-byte header with ih_hcrc zeroed) and the data CRC (over
    /// ih_size bytes of data, or what there is).
    public static func uImage(_ b: inout [UInt8], _ rng: inout FuzzRandom) {
        guard b.count >= 64 else { return }
        if rng.chance(70) {
            let size = Int(be32(b, 12))
            let end = min(b.count, 64 + size)
            put32(CRC32.zlib(b[64..<end]), into: &b, at: 24, bigEndian: true)
        }
        var header = Array(b[0..<64])
        header.replaceSubrange(4..<8, with: [0, 0, 0, 0])
        put32(CRC32.zlib(header), into: &b, at: 4, bigEndian: true)
    }

    /// U-Boot environment: the CRC of one copy (the whole file, single or redundant header) or of
    /// each half (a redundant pair), in either byte order.
    public static func env(_ b: inout [UInt8], _ rng: inout FuzzRandom) {
        let big = rng.chance(20)
        switch rng.below(3) {
        case 0: fixEnvCopy(&b, 0..<b.count, header: 4, big: big)
        case 1: fixEnvCopy(&b, 0..<b.count, header: 5, big: big)
        default:
            let half = b.count / 2
            fixEnvCopy(&b, 0..<half, header: 5, big: big)
            fixEnvCopy(&b, half..<(2 * half), header: 5, big: big)
        }
    }

    static func fixEnvCopy(_ b: inout [UInt8], _ r: Range<Int>, header: Int, big: Bool) {
        guard r.count > header else { return }
        put32(CRC32.zlib(b[(r.lowerBound + header)..<r.upperBound]), into: &b, at: r.lowerBound, bigEndian: big)
    }

    /// UBI: the EC and VID header CRCs of every PEB (at the spacing of the first two "UBI#", or
    /// 16 KiB), and the volume table records behind the layout volume's VID headers.
    public static func ubi(_ b: inout [UInt8], _ rng: inout FuzzRandom) {
        let ec: [UInt8] = Array("UBI#".utf8)
        var peb = 16 << 10
        if let second = find(ec, in: b, from: 1) { peb = max(64, second) }
        var o = 0
        while o + UBIMedia.headerSize <= b.count {
            if b[o..<(o + 4)].elementsEqual(ec) {
                fixUBIHeader(&b, at: o)
                let vid = Int(be32(b, o + 16))
                if vid >= 64, vid <= peb - 64, o + vid + 64 <= b.count, b[(o + vid)..<(o + vid + 4)].elementsEqual(Array("UBI!".utf8)) {
                    fixUBIHeader(&b, at: o + vid)
                    // The layout volume's data is the volume table: 172-byte records, CRC at 168.
                    let dataOffset = Int(be32(b, o + 20))
                    if be32(b, o + vid + 8) == UBIMedia.layoutVolumeID, dataOffset > 0, dataOffset < peb {
                        var r = o + dataOffset
                        for _ in 0..<UBIMedia.maxVolumes where r + UBIMedia.vtblRecordSize <= min(b.count, o + peb) {
                            put32(UBIMedia.crc(b[r..<(r + UBIMedia.vtblRecordCRCSize)]), into: &b, at: r + UBIMedia.vtblRecordCRCSize, bigEndian: true)
                            r += UBIMedia.vtblRecordSize
                        }
                    }
                }
            }
            o += peb
        }
    }

    /// UBIFS: the CRC of every node (magic at an 8-byte boundary, length inside the input), then
    /// the UBI headers when the input is a UBI image.
    public static func ubifs(_ b: inout [UInt8], _ rng: inout FuzzRandom) {
        let magic: [UInt8] = [0x31, 0x18, 0x10, 0x06]
        var o = 0
        while o + 24 <= b.count {
            if b[o..<(o + 4)].elementsEqual(magic) {
                let len = Int(b[o + 16]) | Int(b[o + 17]) << 8 | Int(b[o + 18]) << 16 | Int(b[o + 19]) << 24
                if len >= 24, len <= b.count - o {
                    let crc = CRC32.raw(b[(o + 8)..<(o + len)], seed: 0xFFFF_FFFF)
                    for i in 0..<4 { b[o + 4 + i] = UInt8(truncatingIfNeeded: crc >> (8 * UInt32(i))) }
                }
            }
            o += 8
        }
        if b.starts(with: Array("UBI#".utf8)) { ubi(&b, &rng) }
    }

    static func fixUBIHeader(_ b: inout [UInt8], at o: Int) {
        put32(UBIMedia.crc(b[o..<(o + UBIMedia.headerCRCSize)]), into: &b, at: o + UBIMedia.headerCRCSize, bigEndian: true)
    }

    /// tar: the checksum of every 512-byte header block (ustar/GNU magic at 257), as six octal
    /// digits, NUL, space.
    public static func tar(_ b: inout [UInt8], _ rng: inout FuzzRandom) {
        var o = 0
        while o + 512 <= b.count {
            if b[(o + 257)..<(o + 262)].elementsEqual(Array("ustar".utf8)) {
                var sum = 0
                for i in 0..<512 { sum += (148..<156).contains(i) ? 32 : Int(b[o + i]) }
                let digits = Array(String(sum & 0o777777, radix: 8).utf8)
                let field = [UInt8](repeating: UInt8(ascii: "0"), count: 6 - digits.count) + digits + [0, 32]
                b.replaceSubrange((o + 148)..<(o + 156), with: field)
            }
            o += 512
        }
    }

    static func be32(_ b: [UInt8], _ o: Int) -> UInt32 {
        guard o >= 0, o + 4 <= b.count else { return 0 }
        return b[o..<(o + 4)].reduce(0) { $0 << 8 | UInt32($1) }
    }

    static func put32(_ v: UInt32, into b: inout [UInt8], at o: Int, bigEndian: Bool) {
        guard o >= 0, o + 4 <= b.count else { return }
        for k in 0..<4 { b[o + (bigEndian ? 3 - k : k)] = UInt8(truncatingIfNeeded: v >> (8 * UInt32(k))) }
    }

    static func find(_ needle: [UInt8], in b: [UInt8], from: Int) -> Int? {
        guard b.count >= needle.count, from <= b.count - needle.count else { return nil }
        var i = from
        while i <= b.count - needle.count {
            if b[i] == needle[0] && b[i..<(i + needle.count)].elementsEqual(needle) { return i }
            i += 1
        }
        return nil
    }
}

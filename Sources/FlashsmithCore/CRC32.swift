/// CRC-32 with the IEEE 802.3 polynomial (reflected: 0xEDB88320), computed by slicing-by-16.
///
/// Two conventions use the same register arithmetic and differ only at the ends:
/// - **zlib** (`crc32()` in zlib and U-Boot; env blobs, uImage, gzip): start with the previous CRC
///   inverted, invert at the end. `CRC32.zlib(data)` == `crc32(0, data, len)`.
/// - **raw / non-inverted** (Linux `crc32_le()`; UBI headers with `UBI_CRC32_INIT` = 0xFFFFFFFF, JFFS2
///   with 0): no inversion at either end. `CRC32.raw(data, seed: 0xFFFF_FFFF)` is UBI's header CRC.
///
/// Slicing-by-16 processes 16 bytes per step through 16 tables of 256 entries (16 KiB, built once).
/// `bench/run.sh crc` measures its throughput against zlib.
public enum CRC32 {
    /// Reflected IEEE polynomial.
    public static let polynomial: UInt32 = 0xEDB8_8320

    /// `tables[k][b]`: the CRC of byte `b` followed by `k` zero bytes.
    private static let tables: [UInt32] = {
        var t = [UInt32](repeating: 0, count: 16 * 256)
        for i in 0..<256 {
            var c = UInt32(i)
            for _ in 0..<8 { c = (c & 1) != 0 ? (c >> 1) ^ polynomial : c >> 1 }
            t[i] = c
        }
        for i in 0..<256 {
            for k in 1..<16 {
                let prev = t[(k - 1) * 256 + i]
                t[k * 256 + i] = (prev >> 8) ^ t[Int(prev & 0xFF)]
            }
        }
        return t
    }()

    /// Advances the CRC register `crc` over `buffer`, with no inversion (Linux `crc32_le`).
    public static func raw(_ buffer: UnsafeRawBufferPointer, seed crc: UInt32) -> UInt32 {
        var c = crc
        guard var p = buffer.baseAddress, !buffer.isEmpty else { return c }
        var n = buffer.count
        tables.withUnsafeBufferPointer { tp in
            let t = tp.baseAddress!
            while n >= 16 {
                let a = UInt32(littleEndian: p.loadUnaligned(as: UInt32.self)) ^ c
                let b = UInt32(littleEndian: p.loadUnaligned(fromByteOffset: 4, as: UInt32.self))
                let d = UInt32(littleEndian: p.loadUnaligned(fromByteOffset: 8, as: UInt32.self))
                let e = UInt32(littleEndian: p.loadUnaligned(fromByteOffset: 12, as: UInt32.self))
                var r = t[15 * 256 + Int(a & 0xFF)] ^ t[14 * 256 + Int((a >> 8) & 0xFF)]
                r ^= t[13 * 256 + Int((a >> 16) & 0xFF)] ^ t[12 * 256 + Int(a >> 24)]
                r ^= t[11 * 256 + Int(b & 0xFF)] ^ t[10 * 256 + Int((b >> 8) & 0xFF)]
                r ^= t[9 * 256 + Int((b >> 16) & 0xFF)] ^ t[8 * 256 + Int(b >> 24)]
                r ^= t[7 * 256 + Int(d & 0xFF)] ^ t[6 * 256 + Int((d >> 8) & 0xFF)]
                r ^= t[5 * 256 + Int((d >> 16) & 0xFF)] ^ t[4 * 256 + Int(d >> 24)]
                r ^= t[3 * 256 + Int(e & 0xFF)] ^ t[2 * 256 + Int((e >> 8) & 0xFF)]
                r ^= t[1 * 256 + Int((e >> 16) & 0xFF)] ^ t[Int(e >> 24)]
                c = r
                p += 16
                n -= 16
            }
            while n > 0 {
                c = (c >> 8) ^ t[Int((c ^ UInt32(p.load(as: UInt8.self))) & 0xFF)]
                p += 1
                n -= 1
            }
        }
        return c
    }

    /// Advances the register over `bytes` with no inversion.
    public static func raw<C: Collection>(_ bytes: C, seed: UInt32) -> UInt32 where C.Element == UInt8 {
        if let r = bytes.withContiguousStorageIfAvailable({ raw(UnsafeRawBufferPointer($0), seed: seed) }) { return r }
        return Array(bytes).withUnsafeBytes { raw($0, seed: seed) }
    }

    /// zlib's `crc32(previous, bytes)`: continue a zlib-convention CRC (start with 0).
    public static func zlib<C: Collection>(_ bytes: C, previous: UInt32 = 0) -> UInt32 where C.Element == UInt8 {
        ~raw(bytes, seed: ~previous)
    }

    public static func zlib(_ buffer: UnsafeRawBufferPointer, previous: UInt32 = 0) -> UInt32 {
        ~raw(buffer, seed: ~previous)
    }
}

import FlashsmithCore
import PropertyBased
import Testing

/// Bit-at-a-time CRC-32 straight from the definition (reflected 0xEDB88320), the reference the
/// sliced implementation must agree with.
func bitwiseCRC(_ data: [UInt8], seed: UInt32) -> UInt32 {
    var c = seed
    for b in data {
        c ^= UInt32(b)
        for _ in 0..<8 { c = (c & 1) != 0 ? (c >> 1) ^ 0xEDB8_8320 : c >> 1 }
    }
    return c
}

@Suite struct CRC32Tests {
    /// Check values from the CRC catalogue ("123456789") and zlib's own results.
    @Test(arguments: [
        ("", UInt32(0)),
        ("a", UInt32(0xE8B7_BE43)),
        ("123456789", UInt32(0xCBF4_3926)),
        ("The quick brown fox jumps over the lazy dog", UInt32(0x414F_A339)),
    ])
    func zlibConvention(text: String, expected: UInt32) {
        #expect(CRC32.zlib(Array(text.utf8)) == expected)
    }

    @Test func rawIsTheUninvertedRegister() {
        let data = Array("123456789".utf8)
        // UBI: crc32(UBI_CRC32_INIT = 0xFFFFFFFF, …) without the final inversion.
        #expect(CRC32.raw(data, seed: 0xFFFF_FFFF) == ~UInt32(0xCBF4_3926))
        // JFFS2 starts from 0.
        #expect(CRC32.raw(data, seed: 0) == bitwiseCRC(data, seed: 0))
    }

    @Test func slicedAgreesWithBitwiseOnRandomData() async {
        await propertyCheck(count: 200, input: Gen.uint8().array(of: 0...300), Gen.uint32()) { data, seed in
            #expect(CRC32.raw(data, seed: seed) == bitwiseCRC(data, seed: seed))
        }
    }

    @Test func chunkedEqualsWhole() async {
        await propertyCheck(count: 100, input: Gen.uint8().array(of: 0...2000), Gen.int(in: 0...2000)) { data, cut in
            let k = min(cut, data.count)
            let whole = CRC32.zlib(data)
            let chunked = CRC32.zlib(data[k...], previous: CRC32.zlib(data[..<k]))
            #expect(whole == chunked)
        }
    }

    @Test func unalignedSlicesAreRead() {
        let data = (0..<1000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        for start in 0..<17 {
            #expect(CRC32.zlib(data[start...]) == ~bitwiseCRC(Array(data[start...]), seed: 0xFFFF_FFFF))
        }
    }
}

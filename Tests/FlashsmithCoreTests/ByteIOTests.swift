import FlashsmithCore
import PropertyBased
import Testing

@Suite struct ByteIOTests {
    @Test func readsBothByteOrders() throws {
        let r = ByteReader([0x12, 0x34, 0x56, 0x78, 0x9A])
        #expect(try r.get(UInt32.self, at: 0, .big) == 0x1234_5678)
        #expect(try r.get(UInt32.self, at: 0, .little) == 0x7856_3412)
        #expect(try r.get(UInt16.self, at: 3, .big) == 0x789A)
        #expect(try r.get(UInt8.self, at: 4, .little) == 0x9A)
    }

    @Test func outOfBoundsNamesFieldAndFileOffset() {
        let r = ByteReader([1, 2, 3], baseOffset: 0x100)
        #expect(throws: ByteReadError(field: "ih_size", offset: 0x102, needed: 4, available: 1)) {
            try r.get(UInt32.self, at: 2, .big, field: "ih_size")
        }
        let e = ByteReadError(field: "ih_size", offset: 0x102, needed: 4, available: 1)
        #expect(e.description == "ih_size at offset 0x102: expected 4 bytes, found 1")
    }

    @Test func cursorReadsMove() throws {
        var r = ByteReader([0, 0, 0, 1, 0xFF, 0xEE])
        #expect(try r.read(UInt32.self, .big) == 1)
        #expect(Array(try r.read(count: 2)) == [0xFF, 0xEE])
        #expect(r.remaining == 0)
        #expect(throws: ByteReadError.self) { try r.read(UInt8.self, .big) }
    }

    @Test func writerRoundTripsThroughReader() async {
        await propertyCheck(count: 200, input: Gen.uint64(), Gen.uint32(), Gen.uint16()) { a, b, c in
            for order in ByteOrder.allCases {
                var w = ByteWriter()
                w.append(a, order)
                w.append(b, order)
                w.append(c, order)
                let r = ByteReader(w.bytes)
                #expect((try? r.get(UInt64.self, at: 0, order)) == a)
                #expect((try? r.get(UInt32.self, at: 8, order)) == b)
                #expect((try? r.get(UInt16.self, at: 12, order)) == c)
            }
        }
    }

    @Test func backPatchingWithSet() {
        var w = ByteWriter()
        w.append(UInt32(0), .little)
        w.append(contentsOf: [9, 9])
        w.set(UInt32(0xAABB_CCDD), at: 0, .big)
        #expect(w.bytes == [0xAA, 0xBB, 0xCC, 0xDD, 9, 9])
        w.pad(to: 8, with: 0xFF)
        #expect(w.bytes.suffix(2) == [0xFF, 0xFF])
    }
}

@Suite struct ByteSizeTests {
    @Test(arguments: [
        ("131072", 131_072), ("0x20000", 0x20000), ("0X20000", 0x20000), ("128KiB", 131_072), ("128k", 131_072),
        ("128K", 131_072), ("128KB", 131_072), ("2MiB", 2 << 20), ("2M", 2 << 20), ("1GiB", 1 << 30), (" 64 ", 64), ("512b", 512),
    ])
    func parses(text: String, bytes: Int) throws {
        #expect(try ByteSize(parsing: text).bytes == bytes)
    }

    @Test(arguments: ["", "0x", "12QiB", "KiB", "-5", "0xZZ", "99999999999999999999G"])
    func refuses(text: String) {
        #expect(throws: ByteSize.ParseError.self) { try ByteSize(parsing: text) }
    }

    @Test func errorNamesTextAndExpectation() {
        do {
            _ = try ByteSize(parsing: "12QiB")
            Issue.record("expected an error")
        } catch {
            #expect(error.description == "size '12QiB': unknown suffix 'QiB' (expected e.g. 131072, 0x20000, 128KiB, 128k, 2MiB)")
        }
    }

    @Test(arguments: [(131_072, "128KiB"), (2 << 20, "2MiB"), (1000, "1000")])
    func describes(bytes: Int, text: String) {
        #expect(ByteSize(bytes: bytes).description == text)
    }
}

import FlashsmithCore
import Foundation
import PropertyBased
import Testing
import TestSupport
@testable import BootImage

@Suite struct UImageHeaderTests {
    @Test func encodesTheDocumentedLayout() throws {
        let h = UImage.Header(time: 0x6553_F100, size: 17, load: 0x4040_0000, entry: 0x4040_0004, dataCRC: 0xAABB_CCDD,
                              os: 5, arch: 22, type: 2, comp: 0, name: Array("Linux test".utf8))
        let b = h.encoded()
        #expect(b.count == 64)
        #expect(Array(b[0..<4]) == [0x27, 0x05, 0x19, 0x56])
        #expect(Array(b[16..<24]) == [0x40, 0x40, 0, 0, 0x40, 0x40, 0, 4])
        #expect(Array(b[28..<32]) == [5, 22, 2, 0])
        #expect(Array(b[32..<42]) == Array("Linux test".utf8) && b[42...].allSatisfy { $0 == 0 })
        var zeroed = b
        zeroed.replaceSubrange(4..<8, with: [0, 0, 0, 0])
        #expect(try ByteReader(b).get(UInt32.self, at: 4, .big) == CRC32.zlib(zeroed))
    }

    @Test func roundTrips() async {
        await propertyCheck(count: 200, input: Gen.uint32().array(of: 5...5), Gen.uint8().array(of: 4...4), Gen.letterOrNumber.string(of: 0...32)) { words, ids, name in
            let h = UImage.Header(time: words[0], size: words[1], load: words[2], entry: words[3], dataCRC: words[4],
                                  os: ids[0], arch: ids[1], type: ids[2], comp: ids[3], name: Array(name.utf8))
            var decoded = try? UImage.Header.decode(h.encoded())
            decoded?.headerCRC = 0
            #expect(decoded == h)
        }
    }

    @Test(arguments: [(UInt8(22), UInt8(5), UInt8(2), UInt8(0), "AArch64 Linux Kernel Image (uncompressed)"),
                      (2, 5, 6, 0, "ARM Linux Script (uncompressed)"), (24, 5, 3, 1, "AMD x86_64 Linux RAMDisk Image (gzip compressed)")])
    func describesLikeMkimage(arch: UInt8, os: UInt8, type: UInt8, comp: UInt8, text: String) {
        let h = UImage.Header(time: 0, size: 0, load: 0, entry: 0, dataCRC: 0, os: os, arch: arch, type: type, comp: comp, name: [])
        #expect(h.typeDescription == text)
    }

    @Test func tablesHaveUniqueShortNames() {
        for table in [UImageTables.arch, UImageTables.os, UImageTables.type, UImageTables.comp] {
            #expect(Set(table.map(\.short)).count == table.count)
        }
    }
}

@Suite struct UImageFileTests {
    func params(type: String = "multi") -> UImage.Parameters {
        UImage.Parameters(arch: 2, os: 5, type: UImageTables.lookup(UImageTables.type, type)!.id, comp: 0, load: 0, entry: 0, name: Array("t".utf8), time: 1)
    }

    @Test func multiFilePartsRoundTrip() throws {
        let dir = try TempDir()
        let a = try dir.write("a", [1, 2, 3]), b = try dir.write("b", [4, 5, 6, 7, 8]), c = try dir.write("c", [9])
        let out = dir.file("m.img")
        try UImage.create(params(), files: [a, b, c], output: out)
        let p = try UImage.read(out)
        try UImage.verify(p)
        #expect(p.parts.map(\.size) == [3, 5, 1])
        #expect(p.parts.map(\.offset) == [64 + 16, 64 + 16 + 4, 64 + 16 + 12])
        for (i, expected) in [[UInt8]([1, 2, 3]), [4, 5, 6, 7, 8], [9]].enumerated() {
            try UImage.extract(p, part: i, output: dir.file("p\(i)"))
            #expect(try readBytes(dir.file("p\(i)")) == expected)
        }
        #expect(throws: BootImageError.noSuchPart(path: out, index: 3, count: 3)) { try UImage.extract(p, part: 3, output: dir.file("x")) }
    }

    @Test func hostilePartTablesAreRefused() throws {
        let dir = try TempDir()
        // A part table whose size points past the data, and one with no terminating 0.
        for (name, table) in [("past", [UInt32(1000), 0]), ("unterminated", [UInt32(4), 4])] {
            var data = ByteWriter()
            for v in table { data.append(v, .big) }
            let h = UImage.Header(time: 0, size: UInt32(data.count), load: 0, entry: 0, dataCRC: CRC32.zlib(data.bytes), os: 5, arch: 2, type: 4, comp: 0, name: [])
            let f = try dir.write(name, h.encoded() + data.bytes)
            #expect(throws: BootImageError.self) { try UImage.read(f) }
        }
    }

    @Test func truncatedAndForeignFiles() throws {
        let dir = try TempDir()
        let short = try dir.write("short", [0x27, 0x05, 0x19, 0x56])
        #expect(throws: BootImageError.truncated(path: short, what: "header", offset: 0, expected: 64, found: 4)) { try UImage.read(short) }
        let foreign = try dir.write("foreign", [UInt8](repeating: 0xAB, count: 100))
        #expect(throws: BootImageError.badMagic(path: foreign, expected: UImage.magic, found: 0xABAB_ABAB)) { try UImage.read(foreign) }
        let h = UImage.Header(time: 0, size: 1000, load: 0, entry: 0, dataCRC: 0, os: 5, arch: 2, type: 2, comp: 0, name: [])
        let cut = try dir.write("cut", h.encoded() + [1, 2, 3])
        #expect(throws: BootImageError.truncated(path: cut, what: "data (ih_size)", offset: 64, expected: 1000, found: 3)) { try UImage.read(cut) }
    }

    @Test func emptyPartIsRefused() throws {
        let dir = try TempDir()
        let a = try dir.write("a", [1]), empty = try dir.write("e", [])
        #expect(throws: BootImageError.self) { try UImage.create(params(), files: [a, empty], output: dir.file("o")) }
        #expect(!FileManager.default.fileExists(atPath: dir.file("o")))
    }

    @Test func nameLongerThan32BytesIsRefused() throws {
        let dir = try TempDir()
        var p = params(type: "kernel")
        p.name = Array(String(repeating: "n", count: 33).utf8)
        let f = try dir.write("k", [1])
        #expect(throws: BootImageError.nameTooLong(name: String(repeating: "n", count: 33), bytes: 33, limit: 32)) {
            try UImage.create(p, files: [f], output: dir.file("o"))
        }
        #expect(!FileManager.default.fileExists(atPath: dir.file("o")))
    }
}

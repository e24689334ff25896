import Foundation
import Testing
import TestSupport
@testable import Flash

/// Raw NAND images: ECC placement per geometry, erased pages, bad blocks skipped as nandwrite
/// skips them; the kernel's agreement is the E2E test (nandsim).
@Suite struct NANDRawUnitTests {
    @Test func erasedStepsHaveErasedECC() {
        let ff = [UInt8](repeating: 0xFF, count: 256)
        let c = ff.withUnsafeBytes { HammingECC.compute($0) }
        #expect(c == (0xFF, 0xFF, 0xFF))
        // One flipped bit changes exactly the parities that locate it.
        var one = ff
        one[0] = 0xFE
        let d = one.withUnsafeBytes { HammingECC.compute($0) }
        #expect(d != c && d.2 & 0x03 == 0x03)
    }

    @Test(arguments: [(2048, 64, 40, 24), (4096, 128, 80, 48), (512, 16, 0, 6)])
    func eccPositions(page: Int, oob: Int, first: Int, count: Int) throws {
        let g = try NANDGeometry(pageSize: page, oobSize: oob, eraseBlockSize: page * 64)
        let p = try HammingECC.eccPositions(g)
        #expect(p.count == count && p.first == first)
        #expect(throws: NANDGeometry.Failure.self) { try HammingECC.eccPositions(try NANDGeometry(pageSize: 2048, oobSize: 32, eraseBlockSize: 131072)) }
    }

    @Test func badBlocksAreSkippedAndMarked() throws {
        let dir = try TempDir()
        let data = (0..<(3 * 131072)).map { UInt8(truncatingIfNeeded: $0 / 131072 + 1) }
        let input = try dir.write("in.bin", data)
        let g = try NANDGeometry(pageSize: 2048, oobSize: 64, eraseBlockSize: 131072)
        let r = try NANDRawImage.write(input: input, geometry: g, ecc: .hamming, badBlocks: [1], blocks: 6, to: dir.file("raw.img"))
        #expect(r.blocks == 6 && r.badBlocks == [1])
        let raw = try readBytes(dir.file("raw.img"))
        let block = 64 * 2112
        func page(_ b: Int, _ p: Int) -> ArraySlice<UInt8> { raw[(b * block + p * 2112)..<(b * block + p * 2112 + 2112)] }
        #expect(page(0, 0).first == 1 && page(2, 0).first == 2 && page(3, 0).first == 3, "data goes on in the next good block")
        #expect(page(1, 0)[page(1, 0).startIndex + 2048] == 0x00 && page(1, 1)[page(1, 1).startIndex + 2048] == 0xFF, "bad-block marker in the first page")
        #expect(page(1, 0).prefix(2048).allSatisfy { $0 == 0xFF })
        #expect(page(5, 10).allSatisfy { $0 == 0xFF }, "unused blocks are erased, OOB included")
        // Too little room: an error naming the numbers, nothing written.
        #expect(throws: NANDGeometry.Failure.self) { _ = try NANDRawImage.write(input: input, geometry: g, ecc: .none, badBlocks: [0, 1], blocks: 4, to: dir.file("x.img")) }
        #expect(!FileManager.default.fileExists(atPath: dir.file("x.img")))
    }

    @Test(arguments: ["hamming", "bch8"])
    func inspectRecognisesRawImages(ecc: String) throws {
        guard filesAvailable(flashsmithPath) else { return }
        let dir = try TempDir()
        _ = try dir.write("in.bin", (0..<(300_000)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) })
        let r = try flashsmith("nand", "raw", dir.file("in.bin"), "-o", dir.file("raw.img"), "--page-size", "2048", "--oob-size", "64", "--erase-block", "128KiB", "--ecc", ecc, "--bad-blocks", "1", "--blocks", "4")
        #expect(r.status == 0, "\(r.err)")
        let i = try flashsmith("inspect", dir.file("raw.img"))
        #expect(i.status == 0 && i.out.contains("raw NAND image with OOB") && i.out.contains("ECC:        \(ecc)") && i.out.contains("bad blocks: 1"), "\(i.out)\(i.err)")
        // The main-area image alone is not claimed (nothing in it says NAND).
        #expect(try flashsmith("inspect", dir.file("in.bin")).status == 65)
    }
}

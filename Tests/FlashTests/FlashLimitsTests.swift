import Board
import FlashsmithCore
import Foundation
import Testing
import TestSupport
@testable import Flash

/// Numbers from UBI images, ubinize.ini and raw flash images: each beyond what the format holds is
/// an error naming it (the old code trapped on every one), and the raw-image scans find what sits
/// on the boundaries of small erase blocks.
@Suite struct FlashLimitsTests {
    /// A UBI image (ubinize's layout) written by Flashsmith: 2 layout PEBs + one volume.
    func ubiImage(_ dir: TempDir) throws -> String {
        _ = try dir.write("data.bin", [UInt8](repeating: 0x5A, count: 3000))
        let g = try UBIGeometry(pebSize: 16 << 10, minIOSize: 512)
        let v = UBIVolume(id: 0, name: "v", size: 3000, image: dir.file("data.bin"), source: "test")
        _ = try UBIImageWriter.write([v], geometry: g, imageSeq: 1, to: dir.file("ubi.img"))
        return dir.file("ubi.img")
    }

    /// Sets PEB `n`'s erase counter to `ec` and fixes the header CRC.
    func setEraseCounter(_ path: String, peb n: Int, pebSize: Int, _ ec: UInt64) throws {
        var b = try readBytes(path)
        let base = n * pebSize
        for i in 0..<8 { b[base + 8 + i] = UInt8(truncatingIfNeeded: ec >> (56 - 8 * UInt64(i))) }
        let crc = UBIMedia.crc(b[base..<(base + 60)])
        for i in 0..<4 { b[base + 60 + i] = UInt8(truncatingIfNeeded: crc >> (24 - 8 * UInt32(i))) }
        try Data(b).write(to: URL(fileURLWithPath: path))
    }

    @Test(arguments: [UInt64(1) << 63, UInt64.max, UInt64(0x8000_0000)])
    func eraseCountersBeyondUBIsMaximumAreProblems(ec: UInt64) throws {
        let dir = try TempDir()
        let img = try ubiImage(dir)
        try setEraseCounter(img, peb: 2, pebSize: 16 << 10, ec)
        let info = try UBIImageInfo.read(img)
        #expect(info.problems.contains("PEB 2: erase counter \(ec): expected at most 2147483647 (UBI_MAX_ERASECOUNTER)"), "\(info.problems)")
        #expect(info.json.encoded().contains("\"eraseCounters\""))
        // The first PEB's counter too: still recognised as UBI, the counter reported.
        try setEraseCounter(img, peb: 0, pebSize: 16 << 10, ec)
        let again = try UBIImageInfo.read(img)
        #expect(again.problems.contains { $0.hasPrefix("PEB 0: erase counter") })
        // A header with such a counter is no header to take a counter from (ubiformat: "unknown").
        #expect(UBIMedia.ECHeader.decode(try FileIO.read(img, offset: 0, count: 64)) == nil)
    }

    @Test(arguments: [0, -1, 100, 1 << 40])
    func givenPEBSizeOutsideTheRangeIsRefused(peb: Int) throws {
        let dir = try TempDir()
        let img = try ubiImage(dir)
        #expect(throws: UBIImageInfo.Failure.self) { try UBIImageInfo.read(img, pebSize: peb) }
    }

    @Test(arguments: ["8589934592GiB", "0x7fffffffffffffffKiB", "9223372036854775807 KiB", "0x-10", "-5", "+5"])
    func volumeSizesThatOverflowAreRefused(size: String) throws {
        #expect(UbinizeConfig.bytes(size) == nil)
        let dir = try TempDir()
        let ini = try dir.write("u.ini", "[v]\nmode=ubi\nvol_id=0\nvol_name=v\nvol_size=\(size)\n")
        #expect(throws: UbinizeConfig.Failure.self) { try UbinizeConfig.volumes(ini) }
    }

    @Test func hugeVolumeSizesAreRefusedByTheWriter() throws {
        let g = try UBIGeometry(pebSize: 128 << 10, minIOSize: 2048)
        let v = UBIVolume(id: 0, name: "v", size: Int.max, image: nil, source: "u.ini:1: [v]")
        #expect(throws: UBIImageWriter.Failure.self) { try UBIImageWriter.volumeTable([v], g) }
        let dir = try TempDir()
        #expect(throws: UBIImageWriter.Failure.self) {
            try UBIImageWriter.write([UBIVolume(id: 0, name: "v", size: 4096, image: nil, source: "t")], geometry: g, eraseCounter: 1 << 63, imageSeq: 1, to: dir.file("o"))
        }
    }

    @Test(arguments: [Int.max, Int.max - 7, -8, 1 << 62])
    func vidHeaderOffsetsAreCheckedWithoutOverflow(vid: Int) {
        #expect(throws: UBIGeometry.Failure.self) { try UBIGeometry(pebSize: 128 << 10, minIOSize: 2048, vidHeaderOffset: vid) }
    }

    @Test(arguments: [1 << 62, 1 << 40, 2048 * 2048])
    func nandEraseBlocksBeyondAChipsAreRefused(eraseBlock: Int) {
        #expect(throws: NANDGeometry.Failure.self) { try NANDGeometry(pageSize: 2048, oobSize: 64, eraseBlockSize: eraseBlock) }
    }

    /// A raw NAND image with 128 pages per block and block 1 bad: inspect tells blocks of 128 pages
    /// and names block 1 (the old probe assumed 64 pages and named block 2).
    @Test(arguments: [128, 256, 32])
    func nandInspectFindsThePagesPerBlock(pagesPerBlock: Int) throws {
        let dir = try TempDir()
        let g = try NANDGeometry(pageSize: 2048, oobSize: 64, eraseBlockSize: 2048 * pagesPerBlock)
        var rng = Xorshift(seed: 7)
        let data = try dir.write("main.bin", (0..<(3 * g.eraseBlockSize)).map { _ in rng.next() })
        _ = try NANDRawImage.write(input: data, geometry: g, ecc: .hamming, badBlocks: [1], blocks: 6, to: dir.file("raw.bin"))
        let size = try FileIO.size(of: dir.file("raw.bin"))
        let d = try #require(NANDRawFormat.probe(path: dir.file("raw.bin"), prefix: try FileIO.read(dir.file("raw.bin"), offset: 0, count: 4096), fileSize: size))
        let json = d.json.encoded()
        #expect(json.contains("\"pagesPerBlock\": \(pagesPerBlock)"), "\(json)")
        #expect(json.contains("\"badBlocks\": [\n    1\n  ]"), "\(json)")
        #expect(d.text.contains("6 blocks of \(pagesPerBlock) pages, from the bad-block markers"), "\(d.text)")
    }

    /// A UBI image in a raw NAND image: the EC headers' spacing gives the block.
    @Test func nandInspectTakesTheBlockFromUBIHeaders() throws {
        let dir = try TempDir()
        _ = try dir.write("data.bin", [UInt8](repeating: 0x33, count: 600 << 10))
        let peb = 2048 * 128
        let ug = try UBIGeometry(pebSize: peb, minIOSize: 2048)
        _ = try UBIImageWriter.write([UBIVolume(id: 0, name: "v", size: 600 << 10, image: dir.file("data.bin"), source: "t")], geometry: ug, imageSeq: 9, to: dir.file("ubi.img"))
        let g = try NANDGeometry(pageSize: 2048, oobSize: 64, eraseBlockSize: peb)
        _ = try NANDRawImage.write(input: dir.file("ubi.img"), geometry: g, ecc: .bch8, to: dir.file("raw.bin"))
        let path = dir.file("raw.bin")
        let d = try #require(NANDRawFormat.probe(path: path, prefix: try FileIO.read(path, offset: 0, count: 4096), fileSize: try FileIO.size(of: path)))
        #expect(d.text.contains("blocks of 128 pages, from the UBI headers' spacing"), "\(d.text)")
    }

    /// A U-Boot environment on a 16 KiB boundary of a chip with 16 KiB erase blocks: the old scan
    /// looked at 64 KiB boundaries only and found nothing.
    @Test(arguments: [0x4000, 0xC000, 0x1000])
    func flashImageScanFindsContentOnSmallEraseBlocks(offset: Int) throws {
        let dir = try TempDir()
        var chip = [UInt8](repeating: 0xFF, count: 512 << 10)
        let envSize = 0x2000
        var data = Array("bootcmd=run boot\0bootdelay=1\0\0".utf8)
        data += [UInt8](repeating: 0, count: envSize - 4 - data.count)
        let crc = CRC32.zlib(data)
        let env = [UInt8(crc & 0xFF), UInt8(crc >> 8 & 0xFF), UInt8(crc >> 16 & 0xFF), UInt8(crc >> 24)] + data
        chip.replaceSubrange(offset..<(offset + envSize), with: env)
        let path = try dir.write("chip.img", chip)
        let d = try #require(FlashImageFormat.probe(path: path, prefix: Array(chip.prefix(4096)), fileSize: chip.count))
        #expect(d.text.contains("\(hex(offset))") && d.text.contains("U-Boot environment (single copy), 0x2000 bytes, 2 variables"), "\(d.text)")
    }

    /// A FIT at a 4 KiB boundary inside a UBI PEB (a static volume's data on a 4 KiB-page chip) is
    /// part of the UBI run, not a partition of its own.
    @Test func contentInsideUBIPEBsIsNotAPartition() throws {
        let dir = try TempDir()
        var payload = [UInt8](repeating: 0, count: 3000)
        // An FDT header (version 17) at the start of the volume's data.
        let header: [UInt32] = [0xD00D_FEED, 3000, 56, 200, 40, 17, 16, 0, 100, 100]
        for (i, v) in header.enumerated() { for k in 0..<4 { payload[i * 4 + k] = UInt8(truncatingIfNeeded: v >> (24 - 8 * UInt32(k))) } }
        _ = try dir.write("fit.bin", payload)
        let g = try UBIGeometry(pebSize: 256 << 10, minIOSize: 4096)
        #expect(g.dataOffset % 4096 == 0)
        _ = try UBIImageWriter.write([UBIVolume(id: 0, name: "k", kind: .static, size: 3000, image: dir.file("fit.bin"), source: "t")], geometry: g, imageSeq: 3, to: dir.file("ubi.img"))
        var chip = try readBytes(dir.file("ubi.img"))
        chip += [UInt8](repeating: 0xFF, count: (1 << 20) - chip.count)
        let path = try dir.write("chip.img", chip)
        let d = try #require(FlashImageFormat.probe(path: path, prefix: Array(chip.prefix(4096)), fileSize: chip.count))
        #expect(d.text.contains("UBI: 3 PEB(s) with EC headers of 256 KiB"), "\(d.text)")
        #expect(!d.text.contains("device tree") && !d.text.contains("FIT"), "\(d.text)")
    }
}

import FlashsmithCore
import Testing
import TestSupport
@testable import UBootEnv

/// Environments in env partition images (build's env.img, trimmed or padded) and inside bigger
/// images at given offsets; short inputs decoded without trapping.
@Suite struct EnvPartitionImageTests {
    static let vars = [EnvVariable("bootdelay", "3"), EnvVariable("bootcmd", "nand read ${loadaddr} kernel")]

    /// Copy 1 at 0, copy 2 at `second`, copies of `size`; the file cut to `length` (trailing 0xff trimmed when nil).
    func partitionImage(size: Int, second: Int, length: Int? = nil) throws -> [UInt8] {
        let env = EnvImage(variables: Self.vars, size: size, redundant: true)
        var bytes = try env.encodeCopy(flag: 1)
        bytes += [UInt8](repeating: 0xFF, count: second - size) + (try env.encodeCopy(flag: 0))
        if let length { return Array(bytes.prefix(length)) + [UInt8](repeating: 0xFF, count: max(0, length - bytes.count)) }
        while bytes.last == 0xFF { bytes.removeLast() }
        return bytes
    }

    /// env.img of a NAND board: 0x4000-byte copies, the second at 0x40000 (the partition's second
    /// half), whole, trimmed (what build wrote before: 131,485 bytes for the nandsim board), padded.
    @Test(arguments: [(0x4000, 0x40000, Optional(0x44000)), (0x4000, 0x40000, nil), (0x4000, 0x40000, Optional(0x80000)), (0x20000, 0x20000, nil), (0x2000, 0x2000 + 0x1000, Optional(0x8000))])
    func readsAPartitionImage(size: Int, second: Int, length: Int?) throws {
        let dir = try TempDir()
        let path = try dir.write("env.img", try partitionImage(size: size, second: second, length: length))
        let blob = try EnvBlob.read(file: path, hints: EnvLayoutHints())
        #expect(blob.copies.count == 2 && blob.size == size)
        #expect(blob.copies.map(\.offset) == [0, second])
        #expect(blob.copies.allSatisfy { $0.crcOK })
        #expect(blob.selection.active == 1)
        #expect(try blob.activeImage().variables == Self.vars)
        // With -s the same.
        let sized = try EnvBlob.read(file: path, hints: EnvLayoutHints(size: size))
        #expect(sized.copies.map(\.offset) == [0, second])
    }

    /// A single copy followed by erased bytes (a dump of a one-copy env partition).
    @Test func readsOneCopyPaddedToThePartition() throws {
        let dir = try TempDir()
        let copy = try EnvImage(variables: Self.vars, size: 0x2000).encodeCopy()
        let path = try dir.write("env.img", copy + [UInt8](repeating: 0xFF, count: 0x20000 - copy.count))
        let blob = try EnvBlob.read(file: path, hints: EnvLayoutHints())
        #expect(blob.copies.count == 1 && blob.size == 0x2000 && !blob.redundant)
        #expect(try blob.activeImage().variables == Self.vars)
    }

    /// Data after the copies that is not erased: not an env partition image.
    @Test func somethingElseAfterTheCopiesIsNoPartitionImage() throws {
        var bytes = try partitionImage(size: 0x1000, second: 0x2000, length: 0x4000)
        bytes[0x3800] = 0x12
        #expect(EnvPartitionImage.read(bytes, path: "x", hints: EnvLayoutHints()) == nil)
    }

    @Test func copySizesAreWhereTheCRCChecks() throws {
        let copy = try EnvImage(variables: Self.vars, size: 0x1000, redundant: true).encodeCopy()
        #expect(EnvPartitionImage.copySizes((copy + [UInt8](repeating: 0xFF, count: 0x3000))[...], redundant: true) == [0x1000])
        #expect(EnvPartitionImage.copySizes(copy[...], redundant: false).isEmpty)
        #expect(EnvPartitionImage.copySizes([UInt8](repeating: 0, count: 8)[...], redundant: true).isEmpty)
    }

    /// An environment inside a chip image: --offset and --redundant, the size found from the CRC.
    @Test func findsTheCopiesAtOffsetsInABiggerImage() throws {
        let dir = try TempDir()
        let env = EnvImage(variables: Self.vars, size: 0x4000, redundant: true)
        var chip = [UInt8](repeating: 0xFF, count: 0x100000)
        chip.replaceSubrange(0x20000..<0x24000, with: try env.encodeCopy(flag: 4))
        chip.replaceSubrange(0x60000..<0x64000, with: try env.encodeCopy(flag: 5))
        chip[0] = 0x55
        let path = try dir.write("chip.img", chip)
        let config = try EnvPartitionImage.config(path: path, offset: 0x20000, redundantOffset: 0x60000, size: nil, hints: EnvLayoutHints())
        #expect(config.locations.map(\.offset) == [0x20000, 0x60000] && config.envSize == 0x4000)
        let blob = try EnvBlob.read(config: config, hints: EnvLayoutHints())
        #expect(blob.selection.active == 2)
        #expect(try blob.activeImage().variables == Self.vars)
        #expect(throws: EnvError.self) { try EnvPartitionImage.config(path: path, offset: 0x30000, redundantOffset: nil, size: nil, hints: EnvLayoutHints()) }
        #expect(throws: EnvError.self) { try EnvPartitionImage.config(path: path, offset: 0xFFFFF, redundantOffset: nil, size: 0x4000, hints: EnvLayoutHints()) }
        #expect(throws: EnvError.self) { try EnvPartitionImage.config(path: path, offset: -1, redundantOffset: nil, size: 0x4000, hints: EnvLayoutHints()) }
    }

    /// Any slice decodes without trapping: an 8-byte file was read as two 4-byte redundant copies.
    @Test(arguments: 0...8)
    func shortSlicesDecode(count: Int) {
        let bytes = [UInt8](repeating: 0xAB, count: count)
        for redundant in [false, true] {
            let c = EnvCopy.decode(bytes[...], index: 2, offset: 4, redundant: redundant, byteOrder: nil, source: "x")
            #expect(c.variables == nil || count > EnvLayout.headerSize(redundant: redundant))
            if count <= EnvLayout.headerSize(redundant: redundant) { #expect(!c.crcOK) }
        }
    }

    @Test(arguments: [8, 9, 10, 12])
    func tinyFilesAreAnErrorNotACrash(size: Int) throws {
        let dir = try TempDir()
        let path = try dir.write("tiny.bin", [UInt8](repeating: 0, count: size))
        let blob = try EnvBlob.read(file: path, hints: EnvLayoutHints())
        #expect(blob.selection.active == nil)
    }
}

import Flash
import FlashsmithCore

/// nandsim's module parameters for a board (`nand show BOARD --nandsim`): everything Linux's NAND
/// simulator (drivers/mtd/nand/raw/nandsim.c) needs so that the board's OOB image, written raw,
/// reads back through the kernel's ECC with no error:
/// - `id_bytes=`: the chip's READ ID bytes (board.yaml's `id-bytes:`), else derived from the
///   geometry as Linux decodes them: ST Micro (0x20, no vendor quirks), the device ID of the chip
///   size in Linux's table (nand_ids.c), and for large pages the 4th byte that gives page, OOB and
///   erase-block sizes (nand_decode_ext_id: page 1 KiB << b[1:0], OOB 8 or 16 bytes per 512 by
///   b[2], block 64 KiB << b[5:4]);
/// - `bch=4` / `bch=8` for a BCH board (nandsim's soft BCH, 512-byte steps; without it nandsim
///   checks soft Hamming);
/// - `badblocks=` the board's known bad blocks (board.yaml's `bad-blocks:`), chip block numbers;
/// - `parts=` the partitions in erase blocks (the last one takes the rest, as nandsim does).
extension BoardLayout {
    /// nandsim's largest page (NS_LARGEST_PAGE_SIZE).
    static let nandsimLargestPage = 4096

    /// Linux's device IDs for 3.3 V 8-bit chips by size in MiB: large-page chips whose geometry
    /// is in the extended ID byte, and small-page (512-byte) chips with 16 KiB blocks.
    static let largePageDeviceIDs: [Int: UInt8] = [64: 0xF0, 128: 0xF1, 256: 0xDA, 512: 0xDC, 1024: 0xD3, 2048: 0xD5, 4096: 0xD7, 8192: 0xDE]
    static let smallPageDeviceIDs: [Int: UInt8] = [16: 0x73, 32: 0x75, 64: 0x76, 128: 0x79, 256: 0x71]
    static let stMicro: UInt8 = 0x20

    public func nandsimArguments() throws -> String {
        func fail(_ m: String) -> Failure { Failure(message: "\(source): nandsim: \(m)") }
        guard flash.kind == .nand else { throw fail("nandsim simulates NAND, and board \(name) is NOR flash") }
        guard flash.pageSize <= Self.nandsimLargestPage else { throw fail("nandsim simulates pages up to \(Self.nandsimLargestPage) bytes, the board has \(flash.pageSize)") }
        try checkBadBlocksOnChip()
        var args: [String] = []
        let ids = flash.idBytes.isEmpty ? try derivedIDBytes() : flash.idBytes
        args.append("id_bytes=" + ids.map { "0x" + String($0, radix: 16) }.joined(separator: ","))
        switch flash.ecc {
        case .hamming: break
        case .bch4, .bch8:
            let strength = flash.ecc == .bch4 ? 4 : 8
            let steps = flash.pageSize / 512
            // nandsim's ns_attach_chip: 13 bits per corrected bit per step, 2 bytes for the bad-block marker.
            guard flash.oobSize >= 64, steps > 0, (strength * 13 + 7) / 8 * steps + 2 <= flash.oobSize else {
                throw fail("nandsim's BCH needs an OOB of at least 64 bytes holding \((strength * 13 + 7) / 8) ECC bytes per 512-byte step and the bad-block marker; the board has \(flash.oobSize)")
            }
            args.append("bch=\(strength)")
        case .none:
            throw fail("nandsim always checks ECC (soft Hamming or BCH), and the board's OOB image has none (ecc: none): it cannot read it back")
        }
        if !badBlocks.isEmpty { args.append("badblocks=" + badBlocks.sorted().map(String.init).joined(separator: ",")) }
        args.append("parts=" + partitions.dropLast().map { String($0.blocks) }.joined(separator: ","))
        return args.joined(separator: " ")
    }

    /// READ ID bytes that make Linux see this board's geometry, or an error saying why there are none.
    func derivedIDBytes() throws -> [UInt8] {
        let mib = flash.chipSize >> 20
        let missing = "give the chip's READ ID bytes as flash: id-bytes:"
        guard flash.chipSize == mib << 20 else { throw Failure(message: "\(source): nandsim: a \(flash.chipSize)-byte chip has no device ID in Linux's table; \(missing)") }
        if flash.pageSize == 512 {
            guard let id = Self.smallPageDeviceIDs[mib], flash.oobSize == 16, flash.eraseBlockSize == 16 << 10 else {
                throw Failure(message: "\(source): nandsim: no small-page chip in Linux's table has \(mib) MiB, 16-byte OOB and 16 KiB blocks as this board; \(missing)")
            }
            return [Self.stMicro, id]
        }
        let pageBits = [1024, 2048, 4096, 8192].firstIndex(of: flash.pageSize)
        let oobBit = [8, 16].firstIndex(of: flash.oobSize * 512 / flash.pageSize).flatMap { flash.oobSize * 512 % flash.pageSize == 0 ? $0 : nil }
        let blockBits = [64 << 10, 128 << 10, 256 << 10, 512 << 10].firstIndex(of: flash.eraseBlockSize)
        guard let id = Self.largePageDeviceIDs[mib], let pageBits, let oobBit, let blockBits else {
            throw Failure(message: "\(source): nandsim: Linux's extended ID cannot describe \(mib) MiB with \(flash.pageSize)-byte pages, \(flash.oobSize)-byte OOB and \(flash.eraseBlockSize >> 10) KiB blocks; \(missing)")
        }
        return [Self.stMicro, id, 0x00, UInt8(pageBits | oobBit << 2 | blockBits << 4)]
    }
}

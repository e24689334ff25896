import FlashsmithCore
#if canImport(Glibc)
import Glibc
#endif

/// NAND geometry as far as a raw image needs it.
public struct NANDGeometry: Sendable, Equatable {
    public var pageSize: Int
    public var oobSize: Int
    public var eraseBlockSize: Int
    public var pagesPerBlock: Int { eraseBlockSize / pageSize }
    /// The most pages an erase block has (chips have 32 … 512; a block is held in memory whole).
    public static let maxPagesPerBlock = 1024

    public struct Failure: FlashsmithError, Equatable {
        public var message: String
        public var category: ErrorCategory { .usage }
        public var description: String { message }
        public init(message: String) { self.message = message }
    }

    public init(pageSize: Int, oobSize: Int, eraseBlockSize: Int) throws {
        guard [512, 2048, 4096, 8192, 16384].contains(pageSize) else { throw Failure(message: "page size \(pageSize): expected 512, 2048, 4096, 8192 or 16384") }
        guard oobSize >= 16, oobSize <= pageSize / 8 else { throw Failure(message: "OOB size \(oobSize): expected 16…\(pageSize / 8) for \(pageSize)-byte pages") }
        guard eraseBlockSize > 0, eraseBlockSize % pageSize == 0, (eraseBlockSize / pageSize).nonzeroBitCount == 1,
              eraseBlockSize / pageSize <= Self.maxPagesPerBlock else {
            throw Failure(message: "erase block \(eraseBlockSize): expected a power-of-two number of \(pageSize)-byte pages, at most \(Self.maxPagesPerBlock)")
        }
        self.pageSize = pageSize
        self.oobSize = oobSize
        self.eraseBlockSize = eraseBlockSize
    }
}

/// Linux's software Hamming ECC (`drivers/mtd/nand/ecc-sw-hamming.c`, the old nand_ecc.c): 3 bytes
/// per 256-byte step, non-SMC byte order, inverted so an erased (0xff) step has 0xff ECC.
/// ```
/// rp(2k) = xor of the bytes whose index has bit k clear, rp(2k+1) = … bit k set (k = 0…7)
/// code[0] = ~parity bits of rp8…rp15   code[1] = ~parity bits of rp0…rp7
/// code[2] = ~column parities cp5 cp4 cp3 cp2 cp1 cp0 (bits 7…2) | 0b11
/// ```
/// Placed in the OOB as `nand_ooblayout_ecc_lp_hamming` places it: from byte 40 (64-byte OOB) or 80
/// (128-byte OOB), steps in order; small pages (512 + 16) as `nand_ooblayout_ecc_sp`: bytes 0–3 and
/// 6–7 (byte 5 is the bad-block marker).
public enum HammingECC {
    public static let stepSize = 256
    public static let bytesPerStep = 3

    static let evenParity: [UInt8] = (0..<256).map { UInt8(1 - ($0.nonzeroBitCount & 1)) }

    public static func compute(_ step: UnsafeRawBufferPointer) -> (UInt8, UInt8, UInt8) {
        var par: UInt8 = 0
        var odd = [UInt8](repeating: 0, count: 8)
        for i in 0..<stepSize {
            let b = step[i]
            par ^= b
            if i & 1 != 0 { odd[0] ^= b }
            if i & 2 != 0 { odd[1] ^= b }
            if i & 4 != 0 { odd[2] ^= b }
            if i & 8 != 0 { odd[3] ^= b }
            if i & 16 != 0 { odd[4] ^= b }
            if i & 32 != 0 { odd[5] ^= b }
            if i & 64 != 0 { odd[6] ^= b }
            if i & 128 != 0 { odd[7] ^= b }
        }
        func ip(_ x: UInt8) -> UInt8 { evenParity[Int(x)] }
        var c0: UInt8 = 0
        var c1: UInt8 = 0
        for k in 0..<8 {
            let even = par ^ odd[k]  // rp(2k)
            let rpEven = ip(even), rpOdd = ip(odd[k])
            // rp index 2k and 2k+1: rp0…rp7 → code[1] bits 0…7, rp8…rp15 → code[0] bits 0…7.
            let e = 2 * k, o = 2 * k + 1
            if e < 8 { c1 |= rpEven << e } else { c0 |= rpEven << (e - 8) }
            if o < 8 { c1 |= rpOdd << o } else { c0 |= rpOdd << (o - 8) }
        }
        let c2 = ip(par & 0xF0) << 7 | ip(par & 0x0F) << 6 | ip(par & 0xCC) << 5 | ip(par & 0x33) << 4 | ip(par & 0xAA) << 3 | ip(par & 0x55) << 2 | 3
        return (c0, c1, c2)
    }

    /// The OOB bytes that hold each ECC byte, in order, for this geometry.
    public static func eccPositions(_ g: NANDGeometry) throws -> [Int] {
        let total = g.pageSize / stepSize * bytesPerStep
        if g.pageSize == 512 {
            guard g.oobSize >= 16 else { throw NANDGeometry.Failure(message: "small-page Hamming needs 16 OOB bytes") }
            return [0, 1, 2, 3, 6, 7]
        }
        let start: Int
        switch g.oobSize {
        case 64: start = 40
        case 128: start = 80
        default: throw NANDGeometry.Failure(message: "Linux soft Hamming has an OOB layout for 64- and 128-byte OOB only, found \(g.oobSize)")
        }
        guard start + total <= g.oobSize else {
            throw NANDGeometry.Failure(message: "\(total) Hamming ECC bytes for \(g.pageSize)-byte pages do not fit OOB bytes \(start)…\(g.oobSize - 1)")
        }
        return Array(start..<(start + total))
    }
}

/// A raw NAND image with OOB: each page followed by its OOB (0xff, the ECC where the kernel puts
/// it), what `nandwrite --noecc --oob` or a factory programmer writes. Bad blocks are skipped as
/// `nandwrite` skips them (the data goes on in the next good block) and marked (OOB byte 0 of
/// their first page 0x00; byte 5 for small pages).
public enum NANDRawImage {
    public enum ECC: String, Sendable, CaseIterable {
        case none, hamming
        /// Linux soft BCH, 512-byte steps, strength 4 or 8 bits per step.
        case bch4, bch8

        public var bchStrength: Int? { self == .bch4 ? 4 : self == .bch8 ? 8 : nil }
    }

    /// Whether every byte is 0xff (8 bytes at a time).
    static func isErased(_ b: UnsafeRawBufferPointer) -> Bool {
        var i = 0
        while i + 8 <= b.count {
            if b.loadUnaligned(fromByteOffset: i, as: UInt64.self) != UInt64.max { return false }
            i += 8
        }
        while i < b.count {
            if b[i] != 0xFF { return false }
            i += 1
        }
        return true
    }

    /// The ECC bytes of one page, in OOB order, and where they go.
    static func encoder(_ ecc: ECC, _ g: NANDGeometry) throws -> (positions: [Int], compute: (UnsafeRawBufferPointer, UnsafeMutableBufferPointer<UInt8>) -> Void)? {
        switch ecc {
        case .none: return nil
        case .hamming:
            let positions = try HammingECC.eccPositions(g)
            return (positions, { page, out in
                for s in 0..<(g.pageSize / HammingECC.stepSize) {
                    let (c0, c1, c2) = HammingECC.compute(UnsafeRawBufferPointer(rebasing: page[(s * 256)..<(s * 256 + 256)]))
                    out[3 * s] = c0
                    out[3 * s + 1] = c1
                    out[3 * s + 2] = c2
                }
            })
        case .bch4, .bch8:
            let bch = try BCHECC(strength: ecc.bchStrength ?? 8)
            let positions: [Int]
            do { positions = try bch.eccPositions(pageSize: g.pageSize, oobSize: g.oobSize) } catch { throw NANDGeometry.Failure(message: "\(error)") }
            return (positions, { page, out in bch.computeSteps(page, steps: g.pageSize / bch.stepSize, into: out) })
        }
    }

    public struct Report: Sendable {
        public var pages: Int
        public var blocks: Int
        public var badBlocks: [Int]
    }

    /// `badBlocks`: skipped (the data goes on in the next block) and marked. `markBad`: marked in
    /// place, their share of the input dropped (for an input already laid out around them).
    public static func write(
        input: String, geometry g: NANDGeometry, ecc: ECC, badBlocks: Set<Int> = [], blocks: Int? = nil, to path: String,
        markBad: Set<Int> = []
    ) throws -> Report {
        let size = try FileIO.size(of: input)
        guard size > 0 else { throw NANDGeometry.Failure(message: "\(input): expected data to lay out, found an empty file") }
        let enc = try encoder(ecc, g)
        let dataBlocks = (size + g.eraseBlockSize - 1) / g.eraseBlockSize
        var needed = dataBlocks
        var b = 0
        var goods = 0
        while goods < dataBlocks {
            if !badBlocks.contains(b) { goods += 1 }
            b += 1
        }
        needed = b
        let total = max(needed, blocks ?? 0)
        if let blocks, needed > blocks {
            throw NANDGeometry.Failure(message: "\(input): \(size) bytes need \(dataBlocks) good blocks; with bad blocks \(badBlocks.sorted()) that is \(needed) blocks, more than the \(blocks) available")
        }
        var out = try AtomicFile(destination: path, durable: false)
        let fd = try FileIO.openForReading(input)
        defer { close(fd) }
        let rawPage = g.pageSize + g.oobSize
        var blockBuffer = [UInt8](repeating: 0xFF, count: g.pagesPerBlock * rawPage)
        var chunk = [UInt8](repeating: 0xFF, count: g.eraseBlockSize)
        var code = [UInt8](repeating: 0xFF, count: enc?.positions.count ?? 0)
        var consumed = 0
        var pages = 0
        let bbmOffset = g.pageSize == 512 ? 5 : 0
        for block in 0..<total {
            let bad = badBlocks.contains(block) || markBad.contains(block)
            if markBad.contains(block) && !badBlocks.contains(block) { consumed = min(size, consumed + g.eraseBlockSize) }
            blockBuffer.withUnsafeMutableBytes { _ = memset($0.baseAddress!, 0xFF, $0.count) }
            if bad {
                blockBuffer[g.pageSize + bbmOffset] = 0x00
            } else if consumed < size {
                // One read per erase block; the rest of a short last block stays 0xff.
                let n = min(g.eraseBlockSize, size - consumed)
                try chunk.withUnsafeMutableBytes { buf in
                    _ = memset(buf.baseAddress!, 0xFF, buf.count)
                    var got = 0
                    while got < n {
                        let r = pread(fd, buf.baseAddress! + got, n - got, off_t(consumed + got))
                        if r < 0 && errno == EINTR { continue }
                        guard r > 0 else { throw FileError.shortRead(path: input, offset: consumed + got, expected: n, found: got) }
                        got += r
                    }
                }
                let dataPages = (n + g.pageSize - 1) / g.pageSize
                chunk.withUnsafeBytes { inp in
                    blockBuffer.withUnsafeMutableBytes { outb in
                        code.withUnsafeMutableBufferPointer { c in
                            for p in 0..<dataPages {
                                let src = UnsafeRawBufferPointer(rebasing: inp[(p * g.pageSize)..<((p + 1) * g.pageSize)])
                                let dst = outb.baseAddress! + p * rawPage
                                dst.copyMemory(from: src.baseAddress!, byteCount: g.pageSize)
                                // An erased (all 0xff) page has 0xff ECC in every scheme: nothing to compute.
                                if let enc, !Self.isErased(src) {
                                    enc.compute(src, c)
                                    for (i, pos) in enc.positions.enumerated() { dst.storeBytes(of: c[i], toByteOffset: g.pageSize + pos, as: UInt8.self) }
                                }
                            }
                        }
                    }
                }
                consumed += n
            }
            try out.write(blockBuffer)
            pages += g.pagesPerBlock
        }
        try out.commit()
        return Report(pages: pages, blocks: total, badBlocks: badBlocks.union(markBad).filter { $0 < total }.sorted())
    }
}

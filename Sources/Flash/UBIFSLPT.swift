/// The UBIFS LEB properties tree (Linux `fs/ubifs/lpt.c`, `lpt_commit.c`): every main-area LEB's
/// free and dirty space and whether it holds the index, packed bit by bit, least significant bit
/// first, into nodes that each start with a 16-bit CRC and a 4-bit type.
/// ```
/// pnode: crc16 | type 0 | [num, big model] | 4 × (free >> 3, dirty >> 3 : space_bits each, index : 1)
/// nnode: crc16 | type 1 | [num, big model] | 4 × (lnum - lpt_first : lpt_lnum_bits, offs : lpt_offs_bits)
/// ltab:  crc16 | type 2 | per LPT LEB (free, dirty : lpt_spc_bits each)
/// lsave: crc16 | type 3 | lsave_cnt × lnum : lnum_bits              (big model only)
/// ```
/// pnodes are written left to right, then each row of nnodes up to the root (always `lpt_hght`
/// rows: the kernel walks that many levels down), then lsave (big model), then ltab.
/// The small model fits the whole tree in one LEB; the big one numbers its nodes and keeps lsave.
public struct UBIFSLPT: Sendable {
    public static let fanout = 4
    public static let fanoutShift = 2
    static let crcBits = 16, typeBits = 4
    static let pnodeType: UInt32 = 0, nnodeType: UInt32 = 1, ltabType: UInt32 = 2, lsaveType: UInt32 = 3

    public let lebSize: Int
    public let minIOSize: Int
    public let maxLEBCount: Int
    public let lsaveCount: Int
    public private(set) var lptLEBs: Int
    /// Main-area LEBs when the volume is at `maxLEBCount` (what sizes the tree's height).
    public private(set) var maxMainLEBs: Int
    public private(set) var bigModel = false
    public private(set) var height = 1
    var spaceBits = 0, lptLnumBits = 0, lptOffsBits = 0, lptSpaceBits = 0, pcntBits = 0, lnumBits = 0
    public private(set) var pnodeSize = 0, nnodeSize = 0, ltabSize = 0, lsaveSize = 0
    var lptSize = 0

    /// `fls`: the 1-based position of the highest bit set, 0 for 0.
    static func fls(_ x: Int) -> Int { x <= 0 ? 0 : Int.bitWidth - x.leadingZeroBitCount }
    static func divRoundUp(_ a: Int, _ b: Int) -> Int { (a + b - 1) / b }

    /// `ubifs_calc_dflt_lpt_geom`: the fewest LPT LEBs (at least 2) holding four times the tree,
    /// small model when the tree fits one LEB. `lebsBeforeLPT`: main + LPT LEBs at the maximum
    /// count (the volume's LEBs less superblock, master, log and orphan areas).
    public init?(lebSize: Int, minIOSize: Int, maxLEBCount: Int, lsaveCount: Int, lebsForLPTAndMain: Int) {
        self.lebSize = lebSize
        self.minIOSize = minIOSize
        self.maxLEBCount = maxLEBCount
        self.lsaveCount = lsaveCount
        lptLEBs = UBIFSMedia.minLPTLEBs
        maxMainLEBs = lebsForLPTAndMain - lptLEBs
        guard maxMainLEBs > 0 else { return nil }
        computeSizes()
        if lptSize > lebSize {
            bigModel = true
            computeSizes()
        }
        for _ in 0..<64 {
            let needed = Self.divRoundUp(lptSize * 4, lebSize)
            if needed > lptLEBs {
                lptLEBs = needed
                maxMainLEBs = lebsForLPTAndMain - lptLEBs
                guard maxMainLEBs > 0 else { return nil }
                computeSizes()
                continue
            }
            guard ltabSize <= lebSize else { return nil }
            return
        }
        return nil
    }

    /// `do_calc_lpt_geom`.
    mutating func computeSizes() {
        let maxPnodes = Self.divRoundUp(maxMainLEBs, Self.fanout)
        height = 1
        var n = Self.fanout
        while n < maxPnodes {
            height += 1
            n <<= Self.fanoutShift
        }
        let pnodes = Self.divRoundUp(maxMainLEBs, Self.fanout)
        var nnodes = Self.divRoundUp(pnodes, Self.fanout)
        var level = nnodes
        for _ in 1..<max(height, 1) {
            level = Self.divRoundUp(level, Self.fanout)
            nnodes += level
        }
        spaceBits = Self.fls(lebSize) - 3
        lptLnumBits = Self.fls(lptLEBs)
        lptOffsBits = Self.fls(lebSize - 1)
        lptSpaceBits = Self.fls(lebSize)
        pcntBits = Self.fls(Self.divRoundUp(maxLEBCount, Self.fanout) - 1)
        lnumBits = Self.fls(maxLEBCount - 1)
        let numBits = bigModel ? pcntBits : 0
        pnodeSize = (Self.crcBits + Self.typeBits + numBits + (spaceBits * 2 + 1) * Self.fanout + 7) / 8
        nnodeSize = (Self.crcBits + Self.typeBits + numBits + (lptLnumBits + lptOffsBits) * Self.fanout + 7) / 8
        ltabSize = (Self.crcBits + Self.typeBits + lptLEBs * lptSpaceBits * 2 + 7) / 8
        lsaveSize = (Self.crcBits + Self.typeBits + lnumBits * lsaveCount + 7) / 8
        lptSize = pnodes * pnodeSize + nnodes * nnodeSize + ltabSize + (bigModel ? lsaveSize : 0)
        // Each LEB may waste up to one node, and the end is aligned to the minimum I/O unit.
        let perLEBWastage = max(pnodeSize, nnodeSize)
        var sz = lptSize + perLEBWastage
        var wastage = perLEBWastage
        while sz > lebSize {
            sz += perLEBWastage - lebSize
            wastage += perLEBWastage
        }
        wastage += UBIFSMedia.align(sz, minIOSize) - sz
        lptSize += wastage
    }

    /// One main-area LEB's properties.
    public struct LEBProperties: Sendable, Equatable {
        public var free: Int
        public var dirty: Int
        public var index: Bool
        public init(free: Int, dirty: Int, index: Bool) {
            self.free = free
            self.dirty = dirty
            self.index = index
        }
    }

    /// What ``write(properties:firstLPTLEB:firstMainLEB:)`` laid out: the LPT LEBs' bytes and
    /// the positions the master node records.
    public struct Written: Sendable {
        public var lebs: [[UInt8]]
        public var root: (lnum: Int, offset: Int)
        public var nodeHead: (lnum: Int, offset: Int)
        public var ltab: (lnum: Int, offset: Int)
        public var lsave: (lnum: Int, offset: Int)
    }

    /// `ubifs_create_lpt`: the tree over `properties` (the main area's LEBs in order).
    public func write(properties: [LEBProperties], firstLPTLEB lptFirst: Int, firstMainLEB mainFirst: Int) -> Written {
        let lptLast = lptFirst + lptLEBs - 1
        var ltab = [(free: Int, dirty: Int)](repeating: (lebSize, 0), count: lptLEBs)
        var lebs: [[UInt8]] = []
        var buf = [UInt8](repeating: 0xFF, count: lebSize)
        var len = 0
        var lnum = lptFirst

        func closeLEB() {
            let aligned = UBIFSMedia.align(len, minIOSize)
            ltab[lnum - lptFirst] = (lebSize - aligned, aligned - len)
            lebs.append(buf)
            buf = [UInt8](repeating: 0xFF, count: lebSize)
            lnum += 1
            len = 0
        }
        func place(_ node: [UInt8]) -> (Int, Int) {
            if len + node.count > lebSize { closeLEB() }
            let at = (lnum, len)
            buf.replaceSubrange(len..<(len + node.count), with: node)
            len += node.count
            return at
        }

        // pnodes, numbered left to right.
        var count = Self.divRoundUp(properties.count, Self.fanout)
        var below = (lnum: lnum, offset: 0, count: count, size: pnodeSize)
        for i in 0..<count {
            var bits = BitPacker(size: pnodeSize)
            bits.pack(Self.pnodeType, Self.typeBits)
            if bigModel { bits.pack(UInt32(i), pcntBits) }
            for j in 0..<Self.fanout {
                let k = i << Self.fanoutShift + j
                let p = k < properties.count ? properties[k] : LEBProperties(free: lebSize, dirty: 0, index: false)
                bits.pack(UInt32(p.free >> 3), spaceBits)
                bits.pack(UInt32(p.dirty >> 3), spaceBits)
                bits.pack(p.index ? 1 : 0, 1)
            }
            _ = place(bits.sealed())
        }
        // nnodes, a row at a time, `height` rows, the last being the root.
        var root = (lnum: 0, offset: 0)
        var row = height - 1
        while true {
            count = max(Self.divRoundUp(count, Self.fanout), 1)
            for i in 0..<count {
                var branches: [(Int, Int)] = []
                for _ in 0..<Self.fanout {
                    if below.count > 0 {
                        if below.offset + below.size > lebSize {
                            below.lnum += 1
                            below.offset = 0
                        }
                        branches.append((below.lnum, below.offset))
                        below.offset += below.size
                        below.count -= 1
                    } else {
                        branches.append((lptLast + 1, 0))
                    }
                }
                var bits = BitPacker(size: nnodeSize)
                bits.pack(Self.nnodeType, Self.typeBits)
                if bigModel { bits.pack(UInt32(Self.nnodeNumber(row: row, column: i)), pcntBits) }
                for (l, o) in branches {
                    bits.pack(UInt32(l - lptFirst), lptLnumBits)
                    bits.pack(UInt32(o), lptOffsBits)
                }
                let node = bits.sealed()
                if len + node.count > lebSize { closeLEB() }
                if row == 0 { root = (lnum, len) }
                _ = place(node)
            }
            if row == 0 { break }
            below.count = count
            below.size = nnodeSize
            row -= 1
        }
        var lsave = (lnum: 0, offset: 0)
        if bigModel {
            var bits = BitPacker(size: lsaveSize)
            bits.pack(Self.lsaveType, Self.typeBits)
            for i in 0..<lsaveCount {
                bits.pack(UInt32(i < properties.count ? mainFirst + i : mainFirst), lnumBits)
            }
            lsave = place(bits.sealed())
        }
        // ltab last: its own LEB's entry counts the ltab itself.
        if len + ltabSize > lebSize { closeLEB() }
        let ltabAt = (lnum: lnum, offset: len)
        let end = len + ltabSize
        let aligned = UBIFSMedia.align(end, minIOSize)
        ltab[lnum - lptFirst] = (lebSize - aligned, aligned - end)
        var bits = BitPacker(size: ltabSize)
        bits.pack(Self.ltabType, Self.typeBits)
        for e in ltab {
            bits.pack(UInt32(e.free), lptSpaceBits)
            bits.pack(UInt32(e.dirty), lptSpaceBits)
        }
        _ = place(bits.sealed())
        let head = (lnum, aligned)
        lebs.append(buf)
        while lebs.count < lptLEBs { lebs.append([UInt8](repeating: 0xFF, count: lebSize)) }
        return Written(lebs: lebs, root: root, nodeHead: head, ltab: ltabAt, lsave: lsave)
    }

    /// `ubifs_calc_nnode_num`: a big-model nnode's number from its row and column.
    static func nnodeNumber(row: Int, column: Int) -> Int {
        var num = 1
        var col = column
        for _ in 0..<row {
            num = num << fanoutShift | (col & (fanout - 1))
            col >>= fanoutShift
        }
        return num
    }

    /// Packs fields least significant bit first after a 2-byte CRC slot, as `pack_bits` does.
    struct BitPacker {
        var bytes: [UInt8]
        var bit = UBIFSLPT.crcBits

        init(size: Int) { bytes = [UInt8](repeating: 0, count: size) }

        mutating func pack(_ value: UInt32, _ count: Int) {
            for i in 0..<count where value >> UInt32(i) & 1 != 0 {
                bytes[(bit + i) >> 3] |= 1 << UInt8((bit + i) & 7)
            }
            bit += count
        }

        /// The CRC-16 of everything after the slot, stored little-endian in it.
        func sealed() -> [UInt8] {
            var out = bytes
            let crc = out.withUnsafeBytes { CRC16.compute(UnsafeRawBufferPointer(rebasing: $0[2...])) }
            out[0] = UInt8(crc & 0xFF)
            out[1] = UInt8(crc >> 8)
            return out
        }
    }
}

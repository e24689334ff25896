/// Linux's software BCH ECC (`lib/bch.c`, `drivers/mtd/nand/ecc-sw-bch.c`) for steps of 512 bytes
/// (or 1024): GF(2^m) with m = fls(1 + 8 × step) (13 for 512-byte steps) and the kernel's primitive
/// polynomial for that m; the generator g(x) is the product of the minimal polynomials of
/// α, α^3, …, α^(2t−1); the ECC is the remainder of data(x)·x^deg(g) mod g(x), data bits MSB first,
/// stored MSB first in ⌈m·t/8⌉ bytes, then XORed with the mask that makes an erased (0xff) step's
/// ECC 0xff. Placed as `nand_ooblayout_lp_ops` places it: at the end of the OOB.
/// Up to 128 ECC bits (strength 9 for 512-byte steps); byte-at-a-time table over a 128-bit register.
public struct BCHECC: Sendable {
    public let m: Int
    public let strength: Int
    public let stepSize: Int
    public let eccBits: Int
    public var eccBytes: Int { (eccBits + 7) / 8 }
    let table: [UInt128]
    var mask: [UInt8]

    /// lib/bch.c prim_poly_tab, for m = 5…15.
    static let primitivePolynomials: [Int: UInt32] = [5: 0x25, 6: 0x43, 7: 0x83, 8: 0x11D, 9: 0x211, 10: 0x409, 11: 0x805, 12: 0x1053, 13: 0x201B, 14: 0x402B, 15: 0x8003]

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    public init(strength t: Int, stepSize: Int = 512) throws {
        var m = 0
        var v = 1 + 8 * stepSize
        while v > 0 { m += 1; v >>= 1 }
        guard let prim = Self.primitivePolynomials[m], t >= 1 else { throw Failure(description: "BCH: no field for \(stepSize)-byte steps") }
        self.m = m
        self.strength = t
        self.stepSize = stepSize
        let n = (1 << m) - 1
        // GF(2^m) exp/log tables.
        var exp = [Int](repeating: 0, count: 2 * n)
        var log = [Int](repeating: 0, count: n + 1)
        var x = 1
        for i in 0..<n {
            exp[i] = x
            exp[i + n] = x
            log[x] = i
            x <<= 1
            if x & (1 << m) != 0 { x ^= Int(prim) }
        }
        // Roots: the cyclotomic cosets of 1, 3, …, 2t−1.
        var isRoot = [Bool](repeating: false, count: n)
        for i in 0..<t {
            var r = 2 * i + 1
            for _ in 0..<m {
                isRoot[r % n] = true
                r = (r * 2) % n
            }
        }
        // g(x) = ∏ (x + α^r), coefficients in GF(2^m) (they come out 0 or 1).
        var g = [Int](repeating: 0, count: 1)
        g[0] = 1
        for r in 0..<n where isRoot[r] {
            var next = [Int](repeating: 0, count: g.count + 1)
            for (i, c) in g.enumerated() where c != 0 {
                next[i + 1] ^= c  // c·x
                next[i] ^= exp[(log[c] + r) % n]  // c·α^r
            }
            g = next
        }
        let deg = g.count - 1
        guard deg <= 128, g.allSatisfy({ $0 <= 1 }) else { throw Failure(description: "BCH strength \(t): \(deg) ECC bits, more than this encoder's 128") }
        eccBits = deg
        // The feedback polynomial without x^deg, as a deg-bit value (bit i = coefficient of x^i).
        var feedback: UInt128 = 0
        for i in 0..<deg where g[i] == 1 { feedback |= UInt128(1) << UInt128(i) }
        let top = UInt128(1) << UInt128(deg - 1)
        let regMask: UInt128 = deg == 128 ? ~0 : (UInt128(1) << UInt128(deg)) - 1
        var tab = [UInt128](repeating: 0, count: 256)
        for b in 0..<256 {
            var reg: UInt128 = UInt128(b) << UInt128(deg - 8)
            for _ in 0..<8 {
                let fb = reg & top != 0
                reg = (reg << 1) & regMask
                if fb { reg ^= feedback }
            }
            tab[b] = reg
        }
        table = tab
        mask = []
        let erased = [UInt8](repeating: 0xFF, count: stepSize)
        let raw = erased.withUnsafeBytes { self.remainder($0) }
        mask = raw.map { $0 ^ 0xFF }
    }

    /// The raw remainder, MSB first, left-aligned in eccBytes.
    func remainder(_ data: UnsafeRawBufferPointer) -> [UInt8] {
        let deg = eccBits
        let regMask: UInt128 = deg == 128 ? ~0 : (UInt128(1) << UInt128(deg)) - 1
        var reg: UInt128 = 0
        let shift = UInt128(deg - 8)
        for i in 0..<stepSize {
            let idx = Int(UInt8(truncatingIfNeeded: reg >> shift) ^ data[i])
            reg = ((reg << 8) & regMask) ^ table[idx]
        }
        let n = eccBytes
        let aligned = reg << UInt128(8 * n - deg)
        return (0..<n).map { UInt8(truncatingIfNeeded: aligned >> UInt128(8 * (n - 1 - $0))) }
    }

    /// The ECC bytes Linux writes for one step.
    public func compute(_ data: UnsafeRawBufferPointer) -> [UInt8] {
        var r = [UInt8](repeating: 0, count: eccBytes)
        r.withUnsafeMutableBufferPointer { compute(data, into: $0) }
        return r
    }

    /// The same into `out` (at least eccBytes long), without allocating.
    public func compute(_ data: UnsafeRawBufferPointer, into out: UnsafeMutableBufferPointer<UInt8>) {
        let deg = eccBits
        let regMask: UInt128 = deg == 128 ? ~0 : (UInt128(1) << UInt128(deg)) - 1
        var reg: UInt128 = 0
        let shift = UInt128(deg - 8)
        table.withUnsafeBufferPointer { t in
            for i in 0..<stepSize {
                let idx = Int(UInt8(truncatingIfNeeded: reg >> shift) ^ data[i])
                reg = ((reg << 8) & regMask) ^ t[idx]
            }
        }
        let n = eccBytes
        let aligned = reg << UInt128(8 * n - deg)
        for k in 0..<n { out[out.startIndex + k] = UInt8(truncatingIfNeeded: aligned >> UInt128(8 * (n - 1 - k))) ^ mask[k] }
    }

    /// Every step of a page (`steps` consecutive steps of `stepSize` bytes) into `out`, step after
    /// step. Four steps run interleaved: their registers are independent, so the table lookups of one
    /// overlap those of the others.
    public func computeSteps(_ data: UnsafeRawBufferPointer, steps: Int, into out: UnsafeMutableBufferPointer<UInt8>) {
        let deg = eccBits
        let regMask: UInt128 = deg == 128 ? ~0 : (UInt128(1) << UInt128(deg)) - 1
        let shift = UInt128(deg - 8)
        let n = eccBytes
        var s = 0
        table.withUnsafeBufferPointer { t in
            while s + 4 <= steps {
                var r0: UInt128 = 0, r1: UInt128 = 0, r2: UInt128 = 0, r3: UInt128 = 0
                let b0 = s * stepSize, b1 = b0 + stepSize, b2 = b1 + stepSize, b3 = b2 + stepSize
                for i in 0..<stepSize {
                    r0 = ((r0 << 8) & regMask) ^ t[Int(UInt8(truncatingIfNeeded: r0 >> shift) ^ data[b0 + i])]
                    r1 = ((r1 << 8) & regMask) ^ t[Int(UInt8(truncatingIfNeeded: r1 >> shift) ^ data[b1 + i])]
                    r2 = ((r2 << 8) & regMask) ^ t[Int(UInt8(truncatingIfNeeded: r2 >> shift) ^ data[b2 + i])]
                    r3 = ((r3 << 8) & regMask) ^ t[Int(UInt8(truncatingIfNeeded: r3 >> shift) ^ data[b3 + i])]
                }
                for (k, r) in [r0, r1, r2, r3].enumerated() {
                    let aligned = r << UInt128(8 * n - deg)
                    for j in 0..<n { out[out.startIndex + (s + k) * n + j] = UInt8(truncatingIfNeeded: aligned >> UInt128(8 * (n - 1 - j))) ^ mask[j] }
                }
                s += 4
            }
        }
        while s < steps {
            compute(UnsafeRawBufferPointer(rebasing: data[(s * stepSize)..<((s + 1) * stepSize)]), into: UnsafeMutableBufferPointer(rebasing: out[(out.startIndex + s * n)...]))
            s += 1
        }
    }

    /// OOB positions (nand_ooblayout_lp_ops: ECC at the end of the OOB; bytes 0–1 the bad-block marker).
    public func eccPositions(pageSize: Int, oobSize: Int) throws -> [Int] {
        let total = pageSize / stepSize * eccBytes
        guard total + 2 <= oobSize else { throw Failure(description: "BCH-\(strength): \(total) ECC bytes per \(pageSize)-byte page do not fit a \(oobSize)-byte OOB") }
        return Array((oobSize - total)..<oobSize)
    }
}

/// A seeded generator with a fixed algorithm (SplitMix64), so input N of a campaign is the same on
/// every machine and every Swift version: a crash is reproduced from its index alone.
/// (The standard library's `random(in:using:)` may change its algorithm; nothing here uses it.)
public struct FuzzRandom: RandomNumberGenerator, Sendable {
    var state: UInt64

    public init(seed: UInt64) { state = seed }

    /// The generator for input `index` of `target` in a campaign started from `base`.
    public init(target: String, index: Int, base: UInt64) {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325  // FNV-1a of the name
        for b in target.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01B3 }
        self.init(seed: h ^ base ^ (UInt64(truncatingIfNeeded: index) &* 0x9E37_79B9_7F4A_7C15))
        _ = next()
    }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// 0 ..< n (n > 0), by multiply-high: no rejection loop, the tiny bias does not matter here.
    public mutating func below(_ n: Int) -> Int {
        precondition(n > 0)
        return Int(truncatingIfNeeded: next().multipliedFullWidth(by: UInt64(n)).high)
    }

    /// lower ... upper.
    public mutating func between(_ lower: Int, _ upper: Int) -> Int { lower + below(upper - lower + 1) }

    /// True `percent` times in a hundred.
    public mutating func chance(_ percent: Int) -> Bool { below(100) < percent }

    public mutating func pick<T>(_ items: [T]) -> T { items[below(items.count)] }

    /// Small numbers much more often than large ones: 1 about half the time, then 2, 3, ….
    public mutating func count(max: Int) -> Int {
        var n = 1
        while n < max && chance(50) { n += 1 }
        return n
    }
}

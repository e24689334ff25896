/// The mutations a campaign applies to a seed, one to five stacked per input. Binary ones aim at
/// header fields (integers at every aligned offset, both byte orders, lengths that point past the
/// end), text ones at numbers, lines and nesting. Every operation is total: any input, any size.
public struct Mutator: Sendable {
    public enum Operation: String, CaseIterable, Sendable {
        case flipBits, randomBytes, interestingInteger, arithmetic, lengthPastEnd, truncate
        case duplicateChunk, insertChunk, deleteChunk, overwriteChunk, splice, dictionary
        // Text
        case replaceNumber, duplicateLine, deleteLine, swapLines, repeatLine, nesting, textToken
    }

    public static let binaryOperations: [Operation] = [
        .flipBits, .randomBytes, .interestingInteger, .interestingInteger, .interestingInteger, .arithmetic, .lengthPastEnd,
        .lengthPastEnd, .truncate, .duplicateChunk, .insertChunk, .deleteChunk, .overwriteChunk, .splice, .dictionary,
    ]
    public static let textOperations: [Operation] = [
        .replaceNumber, .replaceNumber, .replaceNumber, .duplicateLine, .deleteLine, .swapLines, .repeatLine, .nesting, .textToken,
        .textToken, .flipBits, .randomBytes, .truncate, .duplicateChunk, .deleteChunk, .splice, .interestingInteger,
    ]

    /// The largest input a campaign makes (the bar is set for inputs up to 1 MiB).
    public static let maxInputSize = 1 << 20

    /// Values that break unchecked arithmetic, as 64-bit patterns; each width takes its low bits
    /// and adds its own extremes.
    public static let interesting: [UInt64] = [
        0, 1, 2, 3, 4, 7, 8, 16, 32, 63, 64, 100, 127, 128, 255, 256, 512, 1000, 1023, 1024, 4095, 4096, 0x7FFF, 0x8000, 0xFFFF,
        0x1_0000, 0x10_0000, 0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFFF, 0x1_0000_0000, 0x1_0000_0001, 0xFFFF_FFFF_FFFF,
        0x7FFF_FFFF_FFFF_FFFF, 0x8000_0000_0000_0000, 0xFFFF_FFFF_FFFF_FFFF, 0xFFFF_FFFF_FFFF_FFFE, 0x4000_0000_0000_0000,
        0xC000_0000_0000_0000, 0x8000_0000_0000_0001,
    ]

    /// Numbers as text, for every number a text input holds (decimal, hex, sizes with units).
    public static let interestingNumbers: [String] = [
        "0", "1", "-1", "-0", "00", "0x0", "0x", "-0x10", "7", "255", "256", "4096", "65535", "65536", "2147483647", "2147483648",
        "4294967295", "4294967296", "9223372036854775807", "9223372036854775808", "18446744073709551615", "18446744073709551616",
        "99999999999999999999999999", "0x7fffffff", "0x80000000", "0xffffffff", "0x100000000", "0x7fffffffffffffff",
        "0x8000000000000000", "0xffffffffffffffff", "0x10000000000000000", "1e309", "1.5", "+5", "1KiB", "3GiB", "8EiB",
        "16EiB", "9223372036854775807KiB", "18446744073709551615MiB", "0k", "1m", "1g", "017777777777", "0777777777777777777777",
        "0b1", "1_000", " 4096", "4096 ", "0.5KiB", "-4KiB", "rest", "-",
    ]

    /// Bytes and strings spliced into any input: magics of the formats and YAML/ini syntax.
    public static let commonTokens: [[UInt8]] = [
        [0x27, 0x05, 0x19, 0x56], [0xD0, 0x0D, 0xFE, 0xED], Array("UBI#".utf8), Array("UBI!".utf8), [0x7F, 0x45, 0x4C, 0x46],
        Array("ustar\u{0}00".utf8), Array("ustar  \u{0}".utf8), Array("070701".utf8), Array("070707".utf8), [0xC7, 0x71],
        [0x1F, 0x8B, 0x08, 0x00], [0xFD, 0x37, 0x7A, 0x58, 0x5A, 0x00], [0x28, 0xB5, 0x2F, 0xFD], [0x04, 0x22, 0x4D, 0x18],
        Array("BZh9".utf8), Array("!<arch>\n".utf8), Array("debian-binary".utf8), Array("data.tar.xz/".utf8), [0, 0, 0, 0],
        [0xFF, 0xFF, 0xFF, 0xFF], Array("=".utf8), [0], [0, 0], Array("[\u{0}[[\u{0}".utf8),
    ]

    public static let textTokens: [String] = [
        ":", ": ", "\n", "\n- ", "- ", "  ", "\t", "#", "'", "\"", "\\", "[", "]", "{", "}", ",", "&a ", "*a", "<<: *a", "!!binary ",
        "? ", "|\n", ">\n", "---\n", "...\n", "%YAML 1.1\n", "=", "\u{0}", "\r\n", "\u{FEFF}", "~", "null", "true", "yes",
        "0x", "KiB", "MiB", "GiB", "${", "${sysroot}", "$(", "../", "../../", "/", "//", "@", " is not set", "CONFIG_", "\\\n",
    ]

    /// How many leading bytes count as "the header" for aligned integer writes.
    public var headerWindow: Int
    public var text: Bool
    /// Target-specific tokens (keys of the format, magic numbers).
    public var dictionary: [[UInt8]]
    /// The most copies `repeatLine` makes of a line.
    public var maxRepeat: Int

    public init(headerWindow: Int = 4096, text: Bool = false, dictionary: [String] = [], maxRepeat: Int = 1000) {
        self.headerWindow = max(8, headerWindow)
        self.text = text
        self.dictionary = dictionary.map { Array($0.utf8) }
        self.maxRepeat = max(2, maxRepeat)
    }

    /// Input number `index` of a campaign: the seeds as they are first, then mutations of them
    /// (``FuzzTarget/input(index:seeds:base:)`` adds the target's checksum fixup).
    public func input(index: Int, seeds: [[UInt8]], target: String, base: UInt64) -> [UInt8] {
        guard !seeds.isEmpty else { return [] }
        if index >= 0 && index < seeds.count { return seeds[index] }
        var rng = FuzzRandom(target: target, index: index, base: base)
        return mutate(rng.pick(seeds), others: seeds, rng: &rng)
    }

    /// One to five stacked mutations of `input`, at most ``maxInputSize`` bytes.
    public func mutate(_ input: [UInt8], others: [[UInt8]], rng: inout FuzzRandom) -> [UInt8] {
        var b = input
        let ops = text ? Self.textOperations : Self.binaryOperations
        for _ in 0..<rng.count(max: 5) {
            apply(rng.pick(ops), to: &b, others: others, rng: &rng)
            if b.count > Self.maxInputSize { b.removeSubrange(Self.maxInputSize...) }
        }
        return b
    }

    public func apply(_ op: Operation, to b: inout [UInt8], others: [[UInt8]], rng: inout FuzzRandom) {
        switch op {
        case .flipBits:
            guard !b.isEmpty else { return b.append(UInt8(truncatingIfNeeded: rng.next())) }
            for _ in 0..<rng.count(max: 8) { b[rng.below(b.count)] ^= 1 << UInt8(rng.below(8)) }
        case .randomBytes:
            guard !b.isEmpty else { return b.append(UInt8(truncatingIfNeeded: rng.next())) }
            for _ in 0..<rng.count(max: 4) { b[rng.below(b.count)] = UInt8(truncatingIfNeeded: rng.next()) }
        case .interestingInteger:
            let width = rng.pick([1, 2, 4, 8])
            guard let at = alignedOffset(width, in: b.count, rng: &rng) else { return }
            store(interestingValue(width: width, rng: &rng), width: width, bigEndian: rng.chance(50), at: at, in: &b)
        case .arithmetic:
            let width = rng.pick([1, 2, 4, 8])
            guard let at = alignedOffset(width, in: b.count, rng: &rng) else { return }
            let big = rng.chance(50)
            let delta = UInt64(rng.between(1, 35))
            let v = load(width: width, bigEndian: big, at: at, in: b)
            store(rng.chance(50) ? v &+ delta : v &- delta, width: width, bigEndian: big, at: at, in: &b)
        case .lengthPastEnd:
            // A size or offset field that points just past the end, or far past it.
            let width = rng.pick([2, 4, 4, 8])
            guard let at = alignedOffset(width, in: b.count, rng: &rng) else { return }
            let extra = UInt64(rng.pick([1, 2, 4, 8, 64, 512, 4096, 1 << 20, 1 << 31, 1 << 32]))
            let base = UInt64(rng.chance(50) ? b.count - at : b.count)
            store(base &+ extra, width: width, bigEndian: rng.chance(50), at: at, in: &b)
        case .truncate:
            guard !b.isEmpty else { return }
            let n = rng.chance(50) ? rng.below(b.count) : min(b.count - 1, rng.pick([0, 1, 4, 8, 16, 32, 64, 512, 1024, 2048, 4096, 16384, 65536]))
            b.removeSubrange(max(0, n)...)
        case .duplicateChunk:
            guard !b.isEmpty else { return }
            let (start, length) = chunk(in: b.count, rng: &rng)
            let piece = Array(b[start..<(start + length)])
            let times = min(rng.chance(80) ? 1 : rng.between(2, 16), room(b) / length)
            guard times > 0 else { return }
            b.insert(contentsOf: Array([[UInt8]](repeating: piece, count: times).joined()), at: rng.below(b.count + 1))
        case .insertChunk:
            let n = rng.pick([1, 2, 4, 8, 16, 64, 512, 4096])
            let byte = rng.pick([0x00, 0xFF, 0x41, 0x7F, 0x80, UInt8(truncatingIfNeeded: rng.next())])
            let piece = rng.chance(50) ? [UInt8](repeating: byte, count: n) : (0..<n).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            b.insert(contentsOf: piece, at: rng.below(b.count + 1))
        case .deleteChunk:
            guard !b.isEmpty else { return }
            let (start, length) = chunk(in: b.count, rng: &rng)
            b.removeSubrange(start..<(start + length))
        case .overwriteChunk:
            guard b.count > 1 else { return }
            let (start, length) = chunk(in: b.count, rng: &rng)
            let piece = Array(b[start..<(start + length)])
            let to = rng.below(b.count)
            let n = min(piece.count, b.count - to)
            b.replaceSubrange(to..<(to + n), with: piece[0..<n])
        case .splice:
            guard !others.isEmpty else { return }
            let other = rng.pick(others)
            let cut = rng.below(b.count + 1), from = rng.below(other.count + 1)
            b = Array(b[0..<cut]) + Array(other[from...])
        case .dictionary:
            let tokens = dictionary + Self.commonTokens
            let t = rng.pick(tokens)
            let at = rng.chance(50) ? (alignedOffset(4, in: b.count, rng: &rng) ?? 0) : rng.below(b.count + 1)
            if rng.chance(50) || at + t.count > b.count {
                b.insert(contentsOf: t, at: min(at, b.count))
            } else {
                b.replaceSubrange(at..<(at + t.count), with: t)
            }
        case .replaceNumber:
            let numbers = numberRuns(b)
            let replacement = Array(rng.pick(Self.interestingNumbers).utf8)
            guard !numbers.isEmpty else { return b.insert(contentsOf: replacement, at: rng.below(b.count + 1)) }
            b.replaceSubrange(rng.pick(numbers), with: replacement)
        case .duplicateLine, .deleteLine, .swapLines, .repeatLine:
            var lines = b.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).map(Array.init)
            guard !lines.isEmpty else { return }
            let i = rng.below(lines.count)
            // Copies of a line only as far as the size cap leaves room for.
            let copies = min(op == .duplicateLine ? 1 : min(rng.pick([2, 10, 100, 1000]), maxRepeat), room(b) / (lines[i].count + 1))
            switch op {
            case .duplicateLine, .repeatLine:
                guard copies > 0 else { return }
                lines.insert(contentsOf: [[UInt8]](repeating: lines[i], count: copies), at: op == .duplicateLine ? rng.below(lines.count + 1) : i)
            case .deleteLine: lines.remove(at: i)
            default: lines.swapAt(i, rng.below(lines.count))
            }
            b = Array(lines.joined(separator: [UInt8(ascii: "\n")]))
        case .nesting:
            let depth = rng.pick([2, 10, 63, 64, 65, 100, 1000, 20000])
            let piece: [UInt8]
            switch rng.below(4) {
            case 0: piece = [UInt8](repeating: UInt8(ascii: "["), count: depth)
            case 1: piece = Array((String(repeating: "{a: ", count: depth) + String(repeating: "}", count: depth)).utf8)
            case 2: piece = Array((0..<min(depth, 2000)).map { String(repeating: " ", count: $0) + "- " }.joined(separator: "\n").utf8)
            default: piece = Array((String(repeating: "[", count: depth) + String(repeating: "]", count: depth)).utf8)
            }
            guard piece.count <= room(b) else { return }
            b.insert(contentsOf: piece, at: rng.chance(50) ? lineStart(in: b, rng: &rng) : rng.below(b.count + 1))
        case .textToken:
            let tokens = dictionary + Self.textTokens.map { Array($0.utf8) }
            let t = rng.pick(tokens)
            b.insert(contentsOf: t, at: rng.chance(60) ? lineStart(in: b, rng: &rng) : rng.below(b.count + 1))
        }
    }

    // MARK: Helpers

    /// Bytes that can still be added before the size cap.
    func room(_ b: [UInt8]) -> Int { max(0, Self.maxInputSize - b.count) }

    /// An offset aligned to `width` where a field of that width fits: inside the header window
    /// most of the time, anywhere otherwise.
    func alignedOffset(_ width: Int, in count: Int, rng: inout FuzzRandom) -> Int? {
        guard count >= width else { return nil }
        let limit = rng.chance(75) ? min(count, headerWindow) : count
        let slots = (limit - width) / width + 1
        guard slots > 0 else { return nil }
        return rng.below(slots) * width
    }

    func interestingValue(width: Int, rng: inout FuzzRandom) -> UInt64 {
        let bits = UInt64(width * 8)
        let mask: UInt64 = width == 8 ? .max : (1 << bits) - 1
        let extremes: [UInt64] = [0, 1, mask, mask >> 1, (mask >> 1) + 1, mask - 1]
        return rng.chance(40) ? rng.pick(extremes) : rng.pick(Self.interesting) & mask
    }

    func load(width: Int, bigEndian: Bool, at: Int, in b: [UInt8]) -> UInt64 {
        var v: UInt64 = 0
        for k in 0..<width {
            let byte = UInt64(b[at + (bigEndian ? k : width - 1 - k)])
            v = (v << 8) | byte
        }
        return v
    }

    func store(_ value: UInt64, width: Int, bigEndian: Bool, at: Int, in b: inout [UInt8]) {
        for k in 0..<width {
            let byte = UInt8(truncatingIfNeeded: value >> UInt64(8 * k))
            b[at + (bigEndian ? width - 1 - k : k)] = byte
        }
    }

    /// A chunk (start, length ≥ 1) of a non-empty buffer: short mostly, up to a quarter or 4 KiB.
    func chunk(in count: Int, rng: inout FuzzRandom) -> (Int, Int) {
        let longest = max(1, min(count, max(16, min(count / 4, 4096))))
        let length = rng.chance(70) ? rng.between(1, min(16, longest)) : rng.between(1, longest)
        return (rng.below(count - length + 1), length)
    }

    /// The ranges of decimal and 0x-hex numbers in a text.
    func numberRuns(_ b: [UInt8]) -> [Range<Int>] {
        var runs: [Range<Int>] = []
        var i = 0
        func isDigit(_ c: UInt8) -> Bool { c >= 0x30 && c <= 0x39 }
        func isHex(_ c: UInt8) -> Bool { isDigit(c) || (c | 0x20 >= 0x61 && c | 0x20 <= 0x66) }
        while i < b.count {
            guard isDigit(b[i]) else { i += 1; continue }
            let start = i
            if b[i] == 0x30, i + 1 < b.count, b[i + 1] | 0x20 == 0x78 {
                i += 2
                while i < b.count, isHex(b[i]) { i += 1 }
            } else {
                while i < b.count, isDigit(b[i]) { i += 1 }
            }
            runs.append(start..<i)
            if runs.count >= 4096 { break }
        }
        return runs
    }

    /// The start of a random line (the first of them when there are very many).
    func lineStart(in b: [UInt8], rng: inout FuzzRandom) -> Int {
        var starts = [0]
        var i = 0
        while i < b.count, starts.count < 4096 {
            if b[i] == UInt8(ascii: "\n") { starts.append(i + 1) }
            i += 1
        }
        return rng.pick(starts)
    }
}

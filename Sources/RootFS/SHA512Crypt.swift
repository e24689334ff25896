import Crypto

/// SHA-512 crypt, glibc's `$6$` password hash, as in Ulrich Drepper's "Unix crypt using SHA-256 and
/// SHA-512" (https://www.akkadia.org/drepper/SHA-crypt.txt), for `/etc/shadow` entries.
///
/// With password P, salt S (at most 16 bytes, up to the first `$`) and R rounds:
/// 1. B = SHA512(P S P).
/// 2. A = SHA512(P S, then B repeated to `len(P)` bytes, then for each bit of `len(P)` from the least
///    significant one up to the highest set bit: B for a 1, P for a 0).
/// 3. DP = SHA512(P repeated `len(P)` times); the P sequence is DP repeated to `len(P)` bytes.
/// 4. DS = SHA512(S repeated `16 + A[0]` times); the S sequence is DS repeated to `len(S)` bytes.
/// 5. R rounds, C starting as A; round i hashes: P seq if i is odd else C; S seq unless i % 3 == 0;
///    P seq unless i % 7 == 0; C if i is odd else P seq.
/// 6. The final C is written as 86 characters of crypt's little-endian base64 (`./0-9A-Za-z`), taking
///    its 64 bytes in the spec's permuted triples (0, 21, 42), (22, 43, 1), (44, 2, 23), … then 63.
public enum SHA512Crypt {
    /// crypt's base64 alphabet.
    static let alphabet: [UInt8] = Array("./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz".utf8)
    static let defaultRounds: Int = 5000
    static let roundsRange: ClosedRange<Int> = 1000...999_999_999
    static let maxSaltLength: Int = 16

    /// `$6$[rounds=N$]salt$hash`; salt truncated to 16 chars as glibc does; rounds default 5000 (then omitted from the output), clamped 1000...999_999_999 like glibc.
    ///
    /// `salt` is the bare salt (no `$6$` or `rounds=` prefix); like glibc it ends at its first `$` and
    /// is cut to 16 bytes. A given `rounds`, even 5000, is written out as `rounds=N$`, as glibc does
    /// when the setting names it.
    public static func hash(password: [UInt8], salt: String, rounds: Int? = nil) -> String {
        let s: [UInt8] = Array(salt.utf8.prefix { $0 != UInt8(ascii: "$") }.prefix(maxSaltLength))
        let r: Int = rounds.map { min(max($0, roundsRange.lowerBound), roundsRange.upperBound) } ?? defaultRounds
        let p: [UInt8] = password

        // 1. B = H(P S P).
        let b: [UInt8] = digest(p, s, p)

        // 2. A.
        var ctx = SHA512()
        feed(&ctx, p)
        feed(&ctx, s)
        feed(&ctx, repeated(b, toLength: p.count))
        var n: Int = p.count
        while n > 0 {
            feed(&ctx, (n & 1) != 0 ? b : p)
            n >>= 1
        }
        var c: [UInt8] = Array(ctx.finalize())

        // 3. P sequence.
        var dp = SHA512()
        for _ in 0..<p.count { feed(&dp, p) }
        let pSeq: [UInt8] = repeated(Array(dp.finalize()), toLength: p.count)

        // 4. S sequence.
        var ds = SHA512()
        for _ in 0..<(16 + Int(c[0])) { feed(&ds, s) }
        let sSeq: [UInt8] = repeated(Array(ds.finalize()), toLength: s.count)

        // 5. Rounds.
        for i in 0..<r {
            var h = SHA512()
            feed(&h, (i & 1) != 0 ? pSeq : c)
            if i % 3 != 0 { feed(&h, sSeq) }
            if i % 7 != 0 { feed(&h, pSeq) }
            feed(&h, (i & 1) != 0 ? c : pSeq)
            c = Array(h.finalize())
        }

        // 6. Output.
        var out: [UInt8] = Array("$6$".utf8)
        if rounds != nil { out += Array("rounds=\(r)$".utf8) }
        out += s
        out.append(UInt8(ascii: "$"))
        for i in 0..<21 {
            let (x, y, z): (Int, Int, Int)
            switch i % 3 {
            case 0: (x, y, z) = (i, i + 21, i + 42)
            case 1: (x, y, z) = (i + 21, i + 42, i)
            default: (x, y, z) = (i + 42, i, i + 21)
            }
            appendBase64(&out, c[x], c[y], c[z], count: 4)
        }
        appendBase64(&out, 0, 0, c[63], count: 2)
        return String(decoding: out, as: UTF8.self)
    }

    /// A deterministic 16-char salt from `seed` (for reproducible images): the crypt base64 alphabet ./0-9A-Za-z over SHA-256(seed).
    ///
    /// The first 12 digest bytes, in triples, become 16 characters (6 bits each, crypt's bit order).
    public static func salt(seed: [UInt8]) -> String {
        var h = SHA256()
        feed(&h, seed)
        let d: [UInt8] = Array(h.finalize())
        var out: [UInt8] = []
        out.reserveCapacity(maxSaltLength)
        for i in stride(from: 0, to: 12, by: 3) {
            appendBase64(&out, d[i], d[i + 1], d[i + 2], count: 4)
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// glibc's `b64_from_24bit`: `count` characters of `(b2 << 16 | b1 << 8 | b0)`, low 6 bits first.
    static func appendBase64(_ out: inout [UInt8], _ b2: UInt8, _ b1: UInt8, _ b0: UInt8, count: Int) {
        var w: UInt32 = UInt32(b2) << 16 | UInt32(b1) << 8 | UInt32(b0)
        for _ in 0..<count {
            out.append(alphabet[Int(w & 0x3F)])
            w >>= 6
        }
    }

    /// `bytes` repeated (and cut) to exactly `length` bytes.
    static func repeated(_ bytes: [UInt8], toLength length: Int) -> [UInt8] {
        var out: [UInt8] = []
        guard !bytes.isEmpty else { return out }
        out.reserveCapacity(length)
        while out.count < length { out += bytes.prefix(length - out.count) }
        return out
    }

    static func digest(_ parts: [UInt8]...) -> [UInt8] {
        var h = SHA512()
        for part in parts { feed(&h, part) }
        return Array(h.finalize())
    }

    static func feed<H: HashFunction>(_ h: inout H, _ bytes: [UInt8]) {
        bytes.withUnsafeBytes { h.update(bufferPointer: $0) }
    }
}

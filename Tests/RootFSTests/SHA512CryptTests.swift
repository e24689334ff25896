import Testing
import TestSupport
@testable import RootFS

/// SHA-512 crypt against the published vectors of Drepper's "Unix crypt using SHA-256 and SHA-512"
/// and against `openssl passwd -6`.
@Suite struct SHA512CryptTests {
    struct Vector: CustomTestStringConvertible, Sendable {
        var password: String
        var salt: String
        var rounds: Int?
        var expected: String
        var testDescription: String { "rounds=\(rounds.map(String.init) ?? "default") salt=\(salt)" }
    }

    /// The SHA-512 vectors from the spec (its test program, `$6$` half), settings split into salt and rounds.
    static let specVectors: [Vector] = [
        Vector(
            password: "Hello world!", salt: "saltstring", rounds: nil,
            expected: "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1"
        ),
        // Long salt: cut to 16.
        Vector(
            password: "Hello world!", salt: "saltstringsaltstring", rounds: 10000,
            expected: "$6$rounds=10000$saltstringsaltst$OW1/O6BYHV6BcXZu8QVeXbDWra3Oeqh0sbHbbMCVNSnCM/UrjmM0Dp8vOuZeHBy/YTBmSK6H9qs/y3RnOaw5v."
        ),
        // rounds=5000 given explicitly: the default count, but still written out; long salt cut to 16.
        Vector(
            password: "This is just a test", salt: "toolongsaltstring", rounds: 5000,
            expected: "$6$rounds=5000$toolongsaltstrin$lQ8jolhgVRVhY4b5pZKaysCLi0QBxGoNeKQzQ3glMhwllF7oGDZxUhx1yxdYcz/e1JSbq3y6JMxxl8audkUEm0"
        ),
        Vector(
            password: "a very much longer text to encrypt.  This one even stretches over morethan one line.",
            salt: "anotherlongsaltstring", rounds: 1400,
            expected: "$6$rounds=1400$anotherlongsalts$POfYwTEok97VWcjxIiSOjiykti.o/pQs.wPvMxQ6Fm7I6IoYN3CmLs66x9t0oSwbtEW7o7UmJEiDwGqd8p4ur1"
        ),
        Vector(
            password: "we have a short salt string but not a short password", salt: "short", rounds: 77777,
            expected: "$6$rounds=77777$short$WuQyW2YR.hBNpjjRhpYD/ifIw05xdfeEyQoMxIXbkvr0gge1a1x3yRULJ5CCaUeOxFmtlcGZelFl5CxtgfiAc0"
        ),
        // A salt of exactly 16 characters: kept whole.
        Vector(
            password: "a short string", salt: "asaltof16chars..", rounds: 123456,
            expected: "$6$rounds=123456$asaltof16chars..$BtCwjqMJGx5hrJhZywWvt0RLE8uZ4oPwcelCjmw2kSYu.Ec6ycULevoBK25fs2xXgMNrCzIMVcgEJAstJeonj1"
        ),
        // rounds=10 is clamped to the minimum of 1000.
        Vector(
            password: "the minimum number is still observed", salt: "roundstoolow", rounds: 10,
            expected: "$6$rounds=1000$roundstoolow$kUMsbe306n21p9R.FRkW3IGn.S9NPN0x50YhH1xhLsPuWGsUSklZt58jaTfF4ZEQpyUNGc0dqbpBYYBaHHrsX."
        ),
    ]

    @Test(arguments: specVectors)
    func specVector(v: Vector) {
        #expect(SHA512Crypt.hash(password: Array(v.password.utf8), salt: v.salt, rounds: v.rounds) == v.expected)
    }

    /// `openssl passwd -6` cannot hash an empty password (it prints `<NULL>`); this value is glibc/libxcrypt's
    /// `crypt("", "$6$abc")`.
    @Test func emptyPassword() {
        let expected: String = "$6$abc$mJP3a6FyA8uCnzRtlnNypPwjnvpi5TP9qOrInzrfDmwxUQG38PkpCPdqfTb8JQfAngapMxeim4AZ..hSdRRzD."
        #expect(SHA512Crypt.hash(password: [], salt: "abc") == expected)
    }

    /// Like glibc, the salt ends at its first `$`, and rounds above the maximum are clamped.
    @Test func saltStopsAtDollarAndRoundsClampHigh() {
        let pw: [UInt8] = Array("pw".utf8)
        #expect(SHA512Crypt.hash(password: pw, salt: "ab$cd") == SHA512Crypt.hash(password: pw, salt: "ab"))
        #expect(SHA512Crypt.hash(password: pw, salt: "ab$cd").hasPrefix("$6$ab$"))
        #expect(SHA512Crypt.hash(password: pw, salt: "ab", rounds: -5) == SHA512Crypt.hash(password: pw, salt: "ab", rounds: 1000))
        // Only the header is checked for the upper clamp: a billion rounds is not run here.
        #expect(SHA512Crypt.roundsRange.upperBound == 999_999_999)
    }

    @Test func saltFromSeed() {
        let alphabet: Set<Character> = Set("./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
        let a: String = SHA512Crypt.salt(seed: Array("board-a/root".utf8))
        #expect(a.count == 16)
        #expect(a.allSatisfy { alphabet.contains($0) })
        #expect(a == SHA512Crypt.salt(seed: Array("board-a/root".utf8)))
        #expect(a != SHA512Crypt.salt(seed: Array("board-b/root".utf8)))
        #expect(SHA512Crypt.salt(seed: []).count == 16)
        // Pinned so a change to the derivation (and so to every reproducible image) is noticed.
        #expect(SHA512Crypt.salt(seed: Array("flashsmith".utf8)) == "bIqZKNG21IJgEscW")
        // The salt is used whole (16 characters, nothing cut).
        #expect(SHA512Crypt.hash(password: Array("x".utf8), salt: a).hasPrefix("$6$" + a + "$"))
    }

    struct Interop: CustomTestStringConvertible, Sendable {
        var password: String
        var salt: String
        var testDescription: String { "\(password.debugDescription) salt=\(salt)" }
    }

    static let interop: [Interop] = [
        Interop(password: "root", salt: "abcdefgh"),
        Interop(password: "password", salt: "x"),
        Interop(password: "correct horse battery staple", salt: "./0123456789ABCD"),
        // Salt longer than 16: both cut it.
        Interop(password: "p@ss w0rd!$%^&*()", salt: "ThisSaltIsMuchTooLong"),
        // Non-ASCII password bytes (UTF-8).
        Interop(password: "pässwörd ✓", salt: "zZ9.y/"),
        // Password longer than one SHA-512 block and not a multiple of 64 bytes.
        Interop(password: String(repeating: "0123456789", count: 21), salt: "long"),
        Interop(password: "a", salt: SHA512Crypt.salt(seed: Array("interop".utf8))),
    ]

    @Test(arguments: interop)
    func matchesOpenSSL(c: Interop) throws {
        guard toolsAvailable("openssl"), let openssl = which("openssl") else { return }
        let peer = try run(openssl, ["passwd", "-6", "-salt", c.salt, c.password])
        #expect(peer.status == 0, "\(peer.err)")
        let expected: String = String(peer.out.prefix { $0 != "\n" })
        #expect(expected.hasPrefix("$6$"))
        #expect(SHA512Crypt.hash(password: Array(c.password.utf8), salt: c.salt) == expected)
    }

    /// openssl takes `rounds=N$salt` as its salt; an explicit count is written out, even 5000.
    @Test(arguments: [1000, 5000, 7331])
    func roundsMatchOpenSSL(rounds: Int) throws {
        guard toolsAvailable("openssl"), let openssl = which("openssl") else { return }
        let peer = try run(openssl, ["passwd", "-6", "-salt", "rounds=\(rounds)$saltysalt", "hunter2"])
        #expect(peer.status == 0, "\(peer.err)")
        let expected: String = String(peer.out.prefix { $0 != "\n" })
        #expect(SHA512Crypt.hash(password: Array("hunter2".utf8), salt: "saltysalt", rounds: rounds) == expected)
    }
}

import Crypto
import DeviceTree
import FlashsmithCore
import FoundationEssentials
import _CryptoExtras

/// FIT signatures as U-Boot checks them (docs/fit-signing.md): `algo = "<hash>,<crypto>"`, RSA
/// PKCS#1 v1.5 (or PSS with `padding = "pss"`) over SHA-1/256/384/512, or ECDSA P-256 (raw r‖s).
/// Image signatures cover the image's data; configuration signatures cover the regions of the
/// configuration, the images it uses and their hash nodes, and the strings block's first
/// `hashed-strings[1]` bytes.
public struct FITSignatureAlgorithm: Sendable, Equatable {
    public enum Crypto: Sendable, Equatable {
        case rsa(bits: Int)
        case ecdsa256
    }

    public var hash: FITHashAlgorithm
    public var crypto: Crypto
    public var name: String

    public init(parsing name: String) throws {
        let parts = name.split(separator: ",").map(String.init)
        guard parts.count == 2, let hash = FITHashAlgorithm(rawValue: parts[0]), [.sha1, .sha256, .sha384, .sha512].contains(hash) else {
            throw FITError.badValue(source: "algo", path: name, expected: "sha1|sha256|sha384|sha512,rsa2048|rsa3072|rsa4096|ecdsa256", found: name)
        }
        switch parts[1] {
        case "rsa2048": crypto = .rsa(bits: 2048)
        case "rsa3072": crypto = .rsa(bits: 3072)
        case "rsa4096": crypto = .rsa(bits: 4096)
        case "ecdsa256": crypto = .ecdsa256
        default:
            throw FITError.badValue(source: "algo", path: name, expected: "rsa2048, rsa3072, rsa4096 or ecdsa256 after the comma", found: parts[1])
        }
        self.hash = hash
        self.name = name
    }

    /// Bytes of a signature value.
    public var signatureSize: Int {
        switch crypto {
        case let .rsa(bits): return bits / 8
        case .ecdsa256: return 64
        }
    }
}

/// A private key from a key directory: `<dir>/<key-name-hint>.key` (or `.pem`), PEM, RSA or P-256.
public enum FITSigningKey {
    case rsa(_RSA.Signing.PrivateKey)
    case p256(P256.Signing.PrivateKey)

    public static func load(directory: String, hint: String) throws -> FITSigningKey {
        var tried: [String] = []
        for ext in ["key", "pem"] {
            let path = "\(directory)/\(hint).\(ext)"
            tried.append(path)
            guard FileIO.kind(of: path) != .missing else { continue }
            let pem = String(decoding: try FileIO.readAll(path), as: UTF8.self)
            if let k = try? _RSA.Signing.PrivateKey(pemRepresentation: pem) { return .rsa(k) }
            if let k = try? P256.Signing.PrivateKey(pemRepresentation: pem) { return .p256(k) }
            throw FITError.badValue(source: path, path: "key", expected: "a PEM RSA (2048+ bits) or P-256 private key", found: "something else")
        }
        throw FITError.missing(source: directory, what: "a private key for key-name-hint '\(hint)' (\(tried.joined(separator: " or ")))")
    }

    /// Signs the concatenation of `chunks` with `algo` (and `pss` padding when asked).
    public func sign(_ chunks: [ArraySlice<UInt8>], algo: FITSignatureAlgorithm, pss: Bool, source: String) throws -> [UInt8] {
        switch (self, algo.crypto) {
        case let (.rsa(k), .rsa(bits)):
            guard k.keySizeInBits == bits else {
                throw FITError.badValue(source: source, path: "algo", expected: "a \(k.keySizeInBits)-bit algo for this key (rsa\(k.keySizeInBits))", found: algo.name)
            }
            let padding: _RSA.Signing.Padding = pss ? .PSS : .insecurePKCS1v1_5
            let sig: _RSA.Signing.RSASignature
            switch algo.hash {
            case .sha1: sig = try k.signature(for: digest(Insecure.SHA1.self, chunks), padding: padding)
            case .sha384: sig = try k.signature(for: digest(SHA384.self, chunks), padding: padding)
            case .sha512: sig = try k.signature(for: digest(SHA512.self, chunks), padding: padding)
            default: sig = try k.signature(for: digest(SHA256.self, chunks), padding: padding)
            }
            return Array(sig.rawRepresentation)
        case let (.p256(k), .ecdsa256):
            return Array(try k.signature(for: digest(SHA256.self, chunks)).rawRepresentation)
        default:
            throw FITError.badValue(source: source, path: "algo", expected: "an algo matching the key type", found: algo.name)
        }
    }

    /// The public key node mkimage -K writes (`/signature/key-<hint>`), as properties in mkimage's
    /// write order (lib/rsa/rsa-sign.c `rsa_add_verify_data`).
    public func publicKeyProperties(hint: String, algo: String, required: String?) throws -> [DeviceTree.Property] {
        switch self {
        case let .rsa(k):
            let prim = try k.publicKey.getKeyPrimitives()
            let modulus = Array(prim.modulus).drop { $0 == 0 }
            let exponent = Array(prim.publicExponent).drop { $0 == 0 }
            let n = BigWords(bigEndian: Array(modulus))
            let bits = n.bitLength
            var e: UInt64 = 0
            for b in exponent { e = e << 8 | UInt64(b) }
            var props: [DeviceTree.Property] = [
                .string("key-name-hint", hint),
                .u32("rsa,num-bits", UInt32(bits)),
                .u32("rsa,n0-inverse", n.n0Inverse),
                .cells("rsa,exponent", [UInt32(e >> 32), UInt32(e & 0xFFFF_FFFF)]),
                .init("rsa,modulus", n.bigEndianWords(count: bits / 32)),
                .init("rsa,r-squared", n.rSquared(bits: bits).bigEndianWords(count: bits / 32)),
                .string("algo", algo),
            ]
            if let required { props.append(.string("required", required)) }
            return props
        case let .p256(k):
            let raw = Array(k.publicKey.rawRepresentation)
            var props: [DeviceTree.Property] = [
                .string("key-name-hint", hint), .string("algo", algo), .string("ecdsa,curve", "prime256v1"),
                .init("ecdsa,x-point", Array(raw[0..<32])), .init("ecdsa,y-point", Array(raw[32..<64])),
            ]
            if let required { props.append(.string("required", required)) }
            return props
        }
    }
}

extension FITSigningKey {
    /// A key node built from a PEM file (a private key, or an RSA/P-256 public key), for checking
    /// signatures without a control DTB.
    public static func publicKeyNode(pem path: String, hint: String, algo: String) throws -> DeviceTree.Node {
        let pem = String(decoding: try FileIO.readAll(path), as: UTF8.self)
        if let k = try? _RSA.Signing.PrivateKey(pemRepresentation: pem) {
            return DeviceTree.Node("key-\(hint)", properties: try FITSigningKey.rsa(k).publicKeyProperties(hint: hint, algo: algo, required: nil))
        }
        if let k = try? P256.Signing.PrivateKey(pemRepresentation: pem) {
            return DeviceTree.Node("key-\(hint)", properties: try FITSigningKey.p256(k).publicKeyProperties(hint: hint, algo: algo, required: nil))
        }
        if let k = try? _RSA.Signing.PublicKey(pemRepresentation: pem) {
            let prim = try k.getKeyPrimitives()
            let n = Array(prim.modulus).drop { $0 == 0 }
            let bits = BigWords(bigEndian: Array(n)).bitLength
            var e = Array(prim.publicExponent).drop { $0 == 0 }.map { $0 }
            e = [UInt8](repeating: 0, count: max(0, 8 - e.count)) + e
            return DeviceTree.Node("key-\(hint)", properties: [.string("algo", algo), .init("rsa,modulus", [UInt8](repeating: 0, count: bits / 8 - n.count) + n), .init("rsa,exponent", e)])
        }
        if let k = try? P256.Signing.PublicKey(pemRepresentation: pem) {
            let raw = Array(k.rawRepresentation)
            return DeviceTree.Node("key-\(hint)", properties: [.init("ecdsa,x-point", Array(raw[0..<32])), .init("ecdsa,y-point", Array(raw[32..<64]))])
        }
        throw FITError.badValue(source: path, path: "key", expected: "a PEM RSA or P-256 key (private or public)", found: "something else")
    }
}

func digest<H: HashFunction>(_: H.Type, _ chunks: [ArraySlice<UInt8>]) -> H.Digest {
    var h = H()
    for c in chunks { c.withUnsafeBytes { h.update(bufferPointer: $0) } }
    return h.finalize()
}

/// Verifies a signature with a public key node of a control DTB (`rsa,modulus`, `rsa,exponent`);
/// `feed` streams the signed bytes.
public enum FITSignatureVerifier {
    public static func verify(_ signature: [UInt8], algo: FITSignatureAlgorithm, pss: Bool, key: DeviceTree.Node,
                              feed: ((UnsafeRawBufferPointer) -> Void) throws -> Void) throws -> Bool {
        if case .ecdsa256 = algo.crypto {
            guard let x = key.property("ecdsa,x-point")?.value, let y = key.property("ecdsa,y-point")?.value, x.count == 32, y.count == 32,
                  let pub = try? P256.Signing.PublicKey(rawRepresentation: x + y),
                  let sig = try? P256.Signing.ECDSASignature(rawRepresentation: signature) else { return false }
            var h = SHA256()
            try feed { h.update(bufferPointer: $0) }
            return pub.isValidSignature(sig, for: h.finalize())
        }
        guard case .rsa = algo.crypto, let modulus = key.property("rsa,modulus")?.value else { return false }
        var exponent: [UInt8] = key.property("rsa,exponent")?.value ?? []
        if exponent.count < 8 { exponent = [1, 0, 1] }
        guard let pub = try? _RSA.Signing.PublicKey(n: modulus, e: Array(exponent.drop { $0 == 0 })) else { return false }
        if pss {
            // U-Boot accepts any PSS salt length (mkimage uses the largest); swift-crypto only the
            // hash length. So PSS is checked here: the RSA public operation, then EMSA-PSS-VERIFY.
            var h = algo.hash.hasher()
            try feed { h.update($0) }
            var e: UInt64 = 0
            for b in exponent { e = e << 8 | UInt64(b) }
            return RSAPublicOperation.verifyPSS(signature: signature, digest: h.finalize(), hash: algo.hash, modulus: modulus, exponent: e)
        }
        let sig = _RSA.Signing.RSASignature(rawRepresentation: signature)
        let padding: _RSA.Signing.Padding = .insecurePKCS1v1_5
        func check<H: HashFunction>(_: H.Type) throws -> Bool {
            var h = H()
            try feed { h.update(bufferPointer: $0) }
            return pub.isValidSignature(sig, for: h.finalize(), padding: padding)
        }
        switch algo.hash {
        case .sha1: return try check(Insecure.SHA1.self)
        case .sha384: return try check(SHA384.self)
        case .sha512: return try check(SHA512.self)
        default: return try check(SHA256.self)
        }
    }
}

/// Just enough multi-word arithmetic for U-Boot's RSA key node: little-endian 32-bit limbs.
struct BigWords {
    var limbs: [UInt32]

    init(bigEndian bytes: [UInt8]) {
        var l: [UInt32] = []
        var i = bytes.count
        while i > 0 {
            var w: UInt32 = 0
            for k in stride(from: max(0, i - 4), to: i, by: 1) { w = w << 8 | UInt32(bytes[k]) }
            l.append(w)
            i -= 4
        }
        limbs = l.isEmpty ? [0] : l
    }

    init(limbs: [UInt32]) { self.limbs = limbs }

    var bitLength: Int {
        guard let top = limbs.lastIndex(where: { $0 != 0 }) else { return 0 }
        return top * 32 + (32 - limbs[top].leadingZeroBitCount)
    }

    /// −n⁻¹ mod 2³² (Newton's iteration on the lowest limb).
    var n0Inverse: UInt32 {
        let n0 = limbs[0]
        var x: UInt32 = n0
        for _ in 0..<5 { x = x &* (2 &- n0 &* x) }
        return 0 &- x
    }

    static func >= (a: BigWords, b: BigWords) -> Bool {
        let n = max(a.limbs.count, b.limbs.count)
        for i in stride(from: n - 1, through: 0, by: -1) {
            let x = i < a.limbs.count ? a.limbs[i] : 0, y = i < b.limbs.count ? b.limbs[i] : 0
            if x != y { return x > y }
        }
        return true
    }

    /// 2^(2·bits) mod self, by doubling and subtracting (4,096 steps for a 2048-bit key).
    func rSquared(bits: Int) -> BigWords {
        var r = BigWords(limbs: [UInt32](repeating: 0, count: limbs.count + 1))
        r.limbs[0] = 1
        for _ in 0..<(2 * bits) {
            var carry: UInt32 = 0
            for i in 0..<r.limbs.count {
                let v = r.limbs[i]
                r.limbs[i] = v << 1 | carry
                carry = v >> 31
            }
            if r >= self { r.subtract(self) }
        }
        return r
    }

    /// self -= other (other ≤ self).
    mutating func subtract(_ other: BigWords) {
        var borrow: UInt64 = 0
        for i in 0..<limbs.count {
            let y = UInt64(i < other.limbs.count ? other.limbs[i] : 0) + borrow
            let x = UInt64(limbs[i])
            limbs[i] = UInt32(truncatingIfNeeded: x &- y)
            borrow = x < y ? 1 : 0
        }
    }

    func bigEndianWords(count: Int) -> [UInt8] {
        var out: [UInt8] = []
        for i in stride(from: count - 1, through: 0, by: -1) {
            let w = i < limbs.count ? limbs[i] : 0
            out += [UInt8(w >> 24), UInt8((w >> 16) & 0xFF), UInt8((w >> 8) & 0xFF), UInt8(w & 0xFF)]
        }
        return out
    }
}

/// The RSA public operation (s^e mod n, Montgomery multiplication on 32-bit limbs) and RFC 8017
/// EMSA-PSS-VERIFY with any salt length, as U-Boot's `padding_pss_verify` accepts.
enum RSAPublicOperation {
    static func montgomeryMultiply(_ a: [UInt32], _ b: [UInt32], _ n: [UInt32], _ n0inv: UInt32) -> [UInt32] {
        let s = n.count
        var t = [UInt32](repeating: 0, count: s + 2)
        for i in 0..<s {
            var c: UInt64 = 0
            for j in 0..<s {
                let x = UInt64(t[j]) + UInt64(a[i]) * UInt64(b[j]) + c
                t[j] = UInt32(truncatingIfNeeded: x)
                c = x >> 32
            }
            var x = UInt64(t[s]) + c
            t[s] = UInt32(truncatingIfNeeded: x)
            t[s + 1] = UInt32(x >> 32)
            let m = t[0] &* n0inv
            x = UInt64(t[0]) + UInt64(m) * UInt64(n[0])
            c = x >> 32
            for j in 1..<s {
                x = UInt64(t[j]) + UInt64(m) * UInt64(n[j]) + c
                t[j - 1] = UInt32(truncatingIfNeeded: x)
                c = x >> 32
            }
            x = UInt64(t[s]) + c
            t[s - 1] = UInt32(truncatingIfNeeded: x)
            t[s] = t[s + 1] &+ UInt32(x >> 32)
        }
        var r = BigWords(limbs: Array(t[0...s]))
        let modulus = BigWords(limbs: n)
        if r >= modulus { r.subtract(modulus) }
        return Array(r.limbs[0..<s])
    }

    /// s^e mod n, big-endian in and out (`k` bytes out).
    static func power(_ sig: [UInt8], exponent e: UInt64, modulus: [UInt8]) -> [UInt8] {
        let n = BigWords(bigEndian: modulus)
        let bits = n.bitLength
        let s = n.limbs.count
        let r2 = Array(n.rSquared(bits: s * 32).limbs[0..<s])
        let n0 = n.n0Inverse
        var x = BigWords(bigEndian: sig).limbs
        x += [UInt32](repeating: 0, count: max(0, s - x.count))
        x = Array(x[0..<s])
        let one = [UInt32](repeating: 0, count: s).enumerated().map { $0.offset == 0 ? 1 : $0.element }
        let xm = montgomeryMultiply(x, r2, n.limbs, n0)
        var acc = montgomeryMultiply(one, r2, n.limbs, n0)  // R mod n: 1 in Montgomery form
        var started = false
        for i in stride(from: 63, through: 0, by: -1) {
            if started { acc = montgomeryMultiply(acc, acc, n.limbs, n0) }
            if (e >> UInt64(i)) & 1 == 1 {
                acc = montgomeryMultiply(acc, xm, n.limbs, n0)
                started = true
            }
        }
        let out = BigWords(limbs: montgomeryMultiply(acc, one, n.limbs, n0))
        return out.bigEndianWords(count: s).suffix((bits + 7) / 8).map { $0 }
    }

    static func mgf1(_ seed: [UInt8], _ length: Int, _ hash: FITHashAlgorithm) -> [UInt8] {
        var out: [UInt8] = []
        var counter: UInt32 = 0
        while out.count < length {
            out += hash.digest(seed + [UInt8(counter >> 24), UInt8((counter >> 16) & 0xFF), UInt8((counter >> 8) & 0xFF), UInt8(counter & 0xFF)])
            counter += 1
        }
        return Array(out.prefix(length))
    }

    static func verifyPSS(signature: [UInt8], digest mHash: [UInt8], hash: FITHashAlgorithm, modulus: [UInt8], exponent: UInt64) -> Bool {
        let modBits = BigWords(bigEndian: modulus).bitLength
        let emBits = modBits - 1
        let emLen = (emBits + 7) / 8
        var em = power(signature, exponent: exponent, modulus: modulus)
        if em.count > emLen { em = Array(em.suffix(emLen)) }
        let hLen = mHash.count
        guard em.count == emLen, emLen >= hLen + 2, em.last == 0xBC else { return false }
        let maskedDB = Array(em[0..<(emLen - hLen - 1)])
        let h = Array(em[(emLen - hLen - 1)..<(emLen - 1)])
        let topBits = 8 * emLen - emBits
        if topBits > 0 && maskedDB[0] >> (8 - topBits) != 0 { return false }
        var db = zip(maskedDB, mgf1(h, maskedDB.count, hash)).map { $0 ^ $1 }
        if topBits > 0 { db[0] &= 0xFF >> topBits }
        guard let one = db.firstIndex(where: { $0 != 0 }), db[one] == 0x01 else { return false }
        let salt = Array(db[(one + 1)...])
        return hash.digest([UInt8](repeating: 0, count: 8) + mHash + salt) == h
    }
}

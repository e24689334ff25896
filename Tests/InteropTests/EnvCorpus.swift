import Foundation
import UBootEnv

/// The interop corpus: mkenvimage input texts, each paired with the environment size it is made for.
/// `exactlyFull` and `oneOver` are built for a given data-area capacity, so each variant (with or
/// without the redundant flags byte) gets its own.
enum EnvCorpus {
    struct Case: CustomTestStringConvertible, Sendable {
        var name: String
        var text: [UInt8]
        var size: Int
        /// Whether the text fits (mkenvimage must succeed).
        var fits: Bool
        var testDescription: String { name }
    }

    static let names = ["empty", "one", "thousand", "special", "exactlyFull", "oneOver"]

    /// 1,000 variables of varied length, deterministic (an LCG, not the system RNG).
    static func thousand() -> [UInt8] {
        var seed: UInt32 = 12345
        var out = ""
        for i in 0..<1000 {
            seed = seed &* 1_103_515_245 &+ 12345
            let len = 10 + Int(seed >> 16) % 90
            out += "var\(String(format: "%04d", i))=" + String(repeating: Character(UnicodeScalar(UInt8(97 + i % 26))), count: len) + "\n"
        }
        return Array(out.utf8)
    }

    /// Values with '=', embedded newlines (backslash-newline), spaces, '#', and non-UTF-8 bytes.
    static func special() -> [UInt8] {
        var t: [UInt8] = Array("# a comment\n\nbootargs=console=ttyS0,115200 root=/dev/mtdblock2 rw\nmulti=line one\\\nline two\\\n# not a comment inside\n".utf8)
        t += Array("utf8=h\u{e9}llo \u{2713} caf\u{e9}\n".utf8)
        t += Array("raw=".utf8) + [0xFF, 0xFE, 0x80, 0x81, 0x7F, 0x01] + Array("\n".utf8)
        t += Array("ifs=a=b=c\nbootcmd=if true; then echo ok; fi\n".utf8)
        return t
    }

    /// A text whose encoding ("name=value\0" + final "\0") is exactly `capacity + extra` bytes.
    static func sized(capacity: Int, extra: Int) -> [UInt8] {
        // "x=" + value + "\0" + "\0" = value + 4
        let value = String(repeating: "v", count: capacity + extra - 4)
        return Array("x=\(value)\n".utf8)
    }

    static func make(_ name: String, headerSize: Int) -> Case {
        let small = 0x2000
        switch name {
        case "empty": return Case(name: name, text: [], size: small, fits: true)
        case "one": return Case(name: name, text: Array("bootdelay=3\n".utf8), size: small, fits: true)
        case "thousand": return Case(name: name, text: thousand(), size: 0x20000, fits: true)
        case "special": return Case(name: name, text: special(), size: small, fits: true)
        case "exactlyFull": return Case(name: name, text: sized(capacity: small - headerSize, extra: 0), size: small, fits: true)
        default: return Case(name: name, text: sized(capacity: small - headerSize, extra: 1), size: small, fits: false)
        }
    }
}

/// mkenvimage's option variants the tests run every case through.
struct MkenvVariant: CustomTestStringConvertible, Sendable {
    var name: String
    var flags: [String]
    var redundant: Bool { flags.contains("-r") }
    var testDescription: String { name }

    static let all = [
        MkenvVariant(name: "plain", flags: []),
        MkenvVariant(name: "-r", flags: ["-r"]),
        MkenvVariant(name: "-b", flags: ["-b"]),
        MkenvVariant(name: "-p 0", flags: ["-p", "0"]),
    ]
}

import Testing

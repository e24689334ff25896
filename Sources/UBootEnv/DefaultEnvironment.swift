import FlashsmithCore

/// Finds U-Boot's built-in default environment in a U-Boot binary (`u-boot.bin`, `u-boot.elf`, an
/// SPL-less flash image).
///
/// U-Boot compiles `default_environment[]` (`include/env_default.h`) into `.rodata` as
/// `name=value\0name=value\0…\0\0`. This scans the binary for maximal runs of NUL-terminated
/// `name=value` strings closed by an empty string, and picks the run with the most entries among
/// those holding one of U-Boot's standard variables (`bootcmd`, `bootdelay`, `baudrate`, `arch`,
/// `board`, `loadaddr`). A default environment stored compressed (some vendor builds LZMA it) is
/// not found; the error says so.
public enum DefaultEnvironment {
    public struct Found: Sendable {
        public var offset: Int
        public var length: Int
        public var variables: [EnvVariable]
    }

    static let wellKnown: Set<[UInt8]> = Set(["bootcmd", "bootdelay", "baudrate", "arch", "board", "loadaddr", "bootargs", "stdin", "stdout"].map { Array($0.utf8) })

    public static func find(in bytes: [UInt8], source: String) throws(EnvError) -> Found {
        var best: Found?
        var runStart = -1
        var run: [EnvVariable] = []
        var i = 0
        let n = bytes.count
        bytes.withUnsafeBufferPointer { p in
            while i < n {
                var j = i
                while j < n && p[j] != 0 { j += 1 }
                if j == n { break }
                if j == i {
                    // Empty string: closes a run.
                    if !run.isEmpty {
                        let score = run.contains { wellKnown.contains($0.name) }
                        if score && run.count >= 2 && run.count > (best?.variables.count ?? 0) {
                            best = Found(offset: runStart, length: i + 1 - runStart, variables: run)
                        }
                    }
                    run = []
                } else if let v = entry(p, i, j) {
                    if run.isEmpty { runStart = i }
                    run.append(v)
                } else {
                    run = []
                }
                i = j + 1
            }
        }
        guard let best else {
            throw .noDefaultEnvironment(source: source, reason: "no run of NUL-separated name=value strings with bootcmd, bootdelay or baudrate (a compressed default environment is not searched)")
        }
        return best
    }

    /// `name=value` with a printable name and a text value, or nil.
    private static func entry(_ p: UnsafeBufferPointer<UInt8>, _ start: Int, _ end: Int) -> EnvVariable? {
        var eq = -1
        for k in start..<end {
            let c = p[k]
            if c == UInt8(ascii: "=") { eq = k; break }
            if c <= 0x20 || c >= 0x7F { return nil }
        }
        guard eq > start else { return nil }
        for k in (eq + 1)..<end {
            let c = p[k]
            if c < 0x20 && c != 0x09 && c != 0x0A { return nil }
            if c == 0x7F { return nil }
        }
        return EnvVariable(name: Array(p[start..<eq]), value: Array(p[(eq + 1)..<end]))
    }
}

import FlashsmithCore
#if canImport(Glibc)
import Glibc
#endif

/// The applets a busybox binary provides and where each is installed, read from the binary itself
/// without running it (it may be built for another architecture).
///
/// busybox keeps `applet_names` as one sorted NUL-separated block starting `[\0[[\0…` and ending
/// with an empty name, and `applet_install_loc` as one nibble per applet (two per byte, low nibble
/// first): 0 `/`, 1 `/bin`, 2 `/sbin`, 3 `/usr/bin`, 4 `/usr/sbin` (`include/applets.h`, BB_DIR_*).
/// The nibble table sits shortly before the names; it is found by scanning back for a window whose
/// nibbles are all locations and that agrees with applets whose place never changes (`ash` in /bin,
/// `[` in /usr/bin, `init` in /sbin, `chroot` in /usr/sbin).
public enum BusyboxApplets {
    public struct Applet: Sendable, Equatable {
        public var name: String
        /// Full install path, e.g. `/usr/bin/awk`.
        public var path: String
    }

    static let directories = ["/", "/bin", "/sbin", "/usr/bin", "/usr/sbin"]
    static let anchors: [(String, UInt8)] = [("ash", 1), ("[", 3), ("init", 2), ("chroot", 4)]

    /// The first offset of `needle` in `haystack` (memchr for the first byte, then compare).
    static func find(_ needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard let first = needle.first, haystack.count >= needle.count else { return nil }
        return haystack.withUnsafeBufferPointer { h -> Int? in
            needle.withUnsafeBufferPointer { n -> Int? in
                guard let base = h.baseAddress, let nb = n.baseAddress else { return nil }
                var i = 0
                let last = h.count - n.count
                while i <= last {
                    guard let p = memchr(base + i, Int32(first), last - i + 1) else { return nil }
                    let at = base.distance(to: p.assumingMemoryBound(to: UInt8.self))
                    if memcmp(base + at, nb, n.count) == 0 { return at }
                    i = at + 1
                }
                return nil
            }
        }
    }

    public static func read(_ path: String) throws -> [Applet] {
        let d = try FileIO.readAll(path)
        let marker: [UInt8] = [0, UInt8(ascii: "["), 0, UInt8(ascii: "["), UInt8(ascii: "["), 0]
        guard let start = Self.find(marker, in: d) else {
            throw ELFError(path: path, offset: 0, message: "expected busybox's applet name table (\"[\\0[[\\0…\"), found none: not a busybox binary?")
        }
        var names: [String] = []
        var i = start + 1
        while i < d.count, d[i] != 0 {
            var j = i
            while j < d.count, d[j] != 0 { j += 1 }
            names.append(String(decoding: d[i..<j], as: UTF8.self))
            i = j + 1
        }
        let half = (names.count + 1) / 2
        func nibble(_ o: Int, _ k: Int) -> UInt8 { k % 2 == 0 ? d[o + k / 2] & 0xF : d[o + k / 2] >> 4 }
        let anchorIndexes = anchors.compactMap { a in names.firstIndex(of: a.0).map { ($0, a.1) } }
        var table: Int?
        var o = start - half
        while o >= max(0, start - 65536) {
            var ok = true
            var nonzero = 0
            for k in 0..<names.count {
                let v = nibble(o, k)
                if v > 4 { ok = false; break }
                if v != 0 { nonzero += 1 }
            }
            if ok && nonzero * 10 >= names.count * 9 && anchorIndexes.allSatisfy({ nibble(o, $0.0) == $0.1 }) {
                table = o
                break
            }
            o -= 1
        }
        guard let table, !anchorIndexes.isEmpty else {
            throw ELFError(path: path, offset: start, message: "found \(names.count) applet names but no install-location table before them")
        }
        return names.enumerated().map { k, name in
            let dir = directories[Int(nibble(table, k))]
            return Applet(name: name, path: dir == "/" ? "/\(name)" : "\(dir)/\(name)")
        }
    }
}

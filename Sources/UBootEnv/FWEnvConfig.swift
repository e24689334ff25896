import FlashsmithCore

/// `fw_env.config`, as U-Boot's `tools/env/fw_env.c` and libubootenv 0.3.x read it:
/// ```
/// # device        offset    env size   sector size   number of sectors
/// /dev/mtd1       0x0       0x20000    0x20000       2
/// /dev/mtd1       0x40000   0x20000    0x20000       2
/// ```
/// One line: a single environment; two lines: a redundant pair (further lines are ignored, as the
/// peers do). The offset is a C integer (`0x` hex, leading `0` octal, else decimal; negative counts
/// from the end of a block device or file). Env size, sector size and sector count are **always
/// hexadecimal**, with or without `0x` (`sscanf("%lx")` in both peers): `4000` means 0x4000.
/// Sector size defaults to the MTD erase size, the sector count to 1 (on NAND, the sectors form the
/// range in which bad blocks are skipped). `#` starts a comment line; blank lines are skipped.
public struct FWEnvConfig: Sendable, Equatable {
    public struct Location: Sendable, Equatable {
        public var device: String
        public var offset: Int
        public var envSize: Int
        public var sectorSize: Int?
        public var sectorCount: Int?

        public init(device: String, offset: Int, envSize: Int, sectorSize: Int? = nil, sectorCount: Int? = nil) {
            self.device = device
            self.offset = offset
            self.envSize = envSize
            self.sectorSize = sectorSize
            self.sectorCount = sectorCount
        }
    }

    public var path: String
    public var locations: [Location]

    /// The largest env size Flashsmith reads or writes (CONFIG_ENV_SIZE is 8 KiB … 1 MiB in
    /// practice): a size from a config or an option is refused above it, before any allocation.
    public static let maxEnvSize = 16 << 20
    /// Sector size and count bounds (an erase block of at most 1 GiB, a NAND range of at most
    /// 65536 sectors): what the bad-block walk on MTD loops over.
    public static let maxSectorSize = 1 << 30
    public static let maxSectorCount = 1 << 16
    /// Offsets beyond ±2^56 (64 PiB) are no device's: refused, so offset + size never overflows.
    public static let maxOffset = 1 << 56

    public var redundant: Bool { locations.count == 2 }
    public var envSize: Int { locations[0].envSize }

    public init(path: String, locations: [Location]) {
        self.path = path
        self.locations = locations
    }

    public static func load(_ path: String) throws -> FWEnvConfig {
        try parse(FileIO.readAll(path), path: path)
    }

    public static func parse(_ text: [UInt8], path: String) throws(EnvError) -> FWEnvConfig {
        var locs: [Location] = []
        let lines = String(decoding: text, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
        for (i, line) in lines.enumerated() {
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" })
            guard let first = fields.first, !first.hasPrefix("#") else { continue }
            let lineNo = i + 1
            guard fields.count >= 3 else {
                throw .config(path: path, line: lineNo, message: "expected 'device offset env-size [sector-size [sectors]]', found '\(String(line).trimmingSpaces())'")
            }
            // Anything after the fifth field is ignored (libubootenv's sscanf does the same), but a
            // comment must start with '#'.
            let used = fields.prefix(5).prefix { !$0.hasPrefix("#") }
            guard used.count >= 3 else {
                throw .config(path: path, line: lineNo, message: "expected 'device offset env-size', found '\(String(line).trimmingSpaces())'")
            }
            guard let offset = parseCInteger(String(used[1])) else {
                throw .config(path: path, line: lineNo, message: "offset: expected a C integer (0x… hex, 0… octal or decimal), found '\(used[1])'")
            }
            guard offset.magnitude <= UInt(maxOffset) else {
                throw .config(path: path, line: lineNo, message: "offset: expected at most \(hex(maxOffset)) either way, found '\(used[1])'")
            }
            func hexField(_ k: Int, _ what: String, max: Int) throws(EnvError) -> Int? {
                guard k < used.count else { return nil }
                guard let v = parseHex(String(used[k])) else {
                    throw .config(path: path, line: lineNo, message: "\(what): expected a hexadecimal number (read as hex even without 0x), found '\(used[k])'")
                }
                guard v <= max else { throw .config(path: path, line: lineNo, message: "\(what): expected at most \(hex(max)), found '\(used[k])'") }
                return v
            }
            guard let size = try hexField(2, "env size", max: maxEnvSize), size > 5 else {
                throw .config(path: path, line: lineNo, message: "env size: expected a non-zero hexadecimal size, found '\(used[2])'")
            }
            let sector = try hexField(3, "sector size", max: maxSectorSize)
            let count = try hexField(4, "number of sectors", max: maxSectorCount)
            locs.append(Location(device: String(used[0]), offset: offset, envSize: size, sectorSize: sector == 0 ? nil : sector, sectorCount: count == 0 ? nil : count))
            if locs.count == 2 { break }
        }
        guard !locs.isEmpty else { throw .config(path: path, line: lines.count, message: "expected at least one 'device offset env-size' line, found none") }
        if locs.count == 2 && locs[0].envSize != locs[1].envSize {
            throw .config(path: path, line: lines.count, message: "the two copies must have the same env size, found \(hex(locs[0].envSize)) and \(hex(locs[1].envSize))")
        }
        return FWEnvConfig(path: path, locations: locs)
    }

    /// `strtoll(s, NULL, 0)`-style: one optional sign, `0x` hex, leading `0` octal, else decimal;
    /// nil for anything else (a second sign, a sign after `0x`) or a value beyond `Int`.
    public static func parseCInteger(_ s: String) -> Int? {
        var t = Substring(s)
        var negative = false
        if t.hasPrefix("-") || t.hasPrefix("+") {
            negative = t.hasPrefix("-")
            t = t.dropFirst()
        }
        let digits: Substring
        let radix: Int
        if t.lowercased().hasPrefix("0x") {
            (digits, radix) = (t.dropFirst(2), 16)
        } else if t.count > 1 && t.hasPrefix("0") {
            (digits, radix) = (t.dropFirst(), 8)
        } else {
            (digits, radix) = (t, 10)
        }
        guard !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isHexDigit }), let v = Int(digits, radix: radix) else { return nil }
        return negative ? -v : v
    }

    /// Hexadecimal digits, `0x` optional, no sign (a negative size is no size).
    static func parseHex(_ s: String) -> Int? {
        let t = s.lowercased().hasPrefix("0x") ? String(s.dropFirst(2)) : s
        guard !t.isEmpty, t.allSatisfy({ $0.isASCII && $0.isHexDigit }) else { return nil }
        return Int(t, radix: 16)
    }
}

import ArgumentParser
import BootImage
import Flash
import FlashsmithCore
import UBootEnv

extension ByteSize: ExpressibleByArgument {
    public init?(argument: String) {
        guard let v = try? ByteSize(parsing: argument) else { return nil }
        self = v
    }

    /// The parser of a size option with its limits, so no consumer sees a size it cannot compute
    /// with: `@Option(transform: ByteSize.limited(1...FWEnvConfig.maxEnvSize))`. A size outside
    /// them is a usage error naming the option and the range.
    static func limited(_ range: ClosedRange<Int>) -> @Sendable (String) throws -> ByteSize {
        { text in try ByteSize(parsing: text, in: range) }
    }
}

/// Limits of the numeric options (what the formats can hold, with room to spare).
enum OptionLimits {
    /// An environment copy (CONFIG_ENV_SIZE).
    static let envSize = 1...FWEnvConfig.maxEnvSize
    /// A UBI PEB, min. I/O unit, sub-page or VID header offset when building (ubinize's UBI_MAX_PEB_SZ).
    static let ubiBuildSize = 1...UBIGeometry.maxPEBSize
    /// A UBI PEB size given to `ubi inspect`.
    static let ubiInspectPEB = UBIImageInfo.pebSizeRange
    /// UBI's erase counters (UBI_MAX_ERASECOUNTER: Linux refuses to attach above it).
    static let eraseCounter: ClosedRange<UInt64> = 0...UInt64(UBIMedia.maxEraseCounter)
    /// Free space inside each embedded device tree (room for `fdt resize`, not a second image).
    static let dtbPadding = 0...FIT.maxDTBPadding
    /// FIT external data: alignment (-B) and absolute position (-p).
    static let fitAlignment = 1...FIT.maxAlignment
    static let fitPosition = 0...FIT.maxPosition
    /// Raw NAND geometry and size.
    static let nandPage = 1...(64 << 10)
    static let nandEraseBlock = 1...(256 << 20)
    static let nandBlocks = 1...(1 << 24)
}

/// A hexadecimal number as mkimage takes `-B`/`-p` (`0x` optional, no sign), checked against
/// `range`; errors name the option.
func hexArgument(_ text: String, option: String, range: ClosedRange<Int>) throws -> Int {
    let digits = text.lowercased().hasPrefix("0x") ? text.dropFirst(2) : Substring(text)
    guard !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isHexDigit }) else {
        throw ValidationError("\(option): expected a hexadecimal number, found '\(text)'")
    }
    guard let v = Int(digits, radix: 16), range.contains(v) else {
        throw ValidationError("\(option): expected \(hex(range.lowerBound))…\(hex(range.upperBound)), found '\(text)'")
    }
    return v
}

/// A decimal count with limits, for `@Option(transform:)`.
func limitedInteger<T: FixedWidthInteger & Sendable>(_ range: ClosedRange<T>) -> @Sendable (String) throws -> T {
    { text in
        guard let v = T(text) else { throw ValidationError("expected a decimal number, found '\(text)'") }
        guard range.contains(v) else { throw ValidationError("expected \(range.lowerBound)…\(range.upperBound), found \(v)") }
        return v
    }
}

extension FlagScheme: ExpressibleByArgument {}

extension EnvTextSyntax: ExpressibleByArgument {
    public init?(argument: String) {
        switch argument {
        case "equals", "mkenvimage", "name=value": self = .equals
        case "uboot", "u-boot", "script": self = .uboot
        default: return nil
        }
    }

    public static var allValueStrings: [String] { ["mkenvimage", "uboot"] }
}

/// A byte given as C does (`0xff`, `255`, `0377`), for `-p`.
struct PadByte: ExpressibleByArgument {
    var value: UInt8
    init?(argument: String) {
        guard let v = FWEnvConfig.parseCInteger(argument), (0...255).contains(v) else { return nil }
        value = UInt8(v)
    }
}

/// `--json` on every inspecting command.
struct JSONOption: ParsableArguments {
    @Flag(name: .long, help: "Print JSON instead of text.")
    var json = false
}

/// How to find and read an environment: a size, a config, and overrides for what is detected.
struct EnvLayoutOptions: ParsableArguments {
    @Option(name: .shortAndLong, help: "Bytes per copy (CONFIG_ENV_SIZE): 0x40000, 256KiB, 8k. Default: from the config, or detected from the file size.", transform: ByteSize.limited(OptionLimits.envSize))
    var size: ByteSize?

    @Option(name: [.short, .customLong("config")], help: "fw_env.config describing where the copies live (files, block or MTD devices).")
    var config: String?

    @Option(name: .customLong("flags"), help: "Flag scheme of a redundant pair: counter (NAND, UBI, files) or boolean (NOR). Default: from the device, else counter.")
    var scheme: FlagScheme?

    @Flag(name: [.customShort("b"), .customLong("big-endian")], help: "The CRC is big-endian (default: detected).")
    var bigEndian = false

    func hints() -> EnvLayoutHints {
        EnvLayoutHints(size: size?.bytes, byteOrder: bigEndian ? .big : nil, scheme: scheme)
    }

    func loadConfig() throws -> FWEnvConfig? {
        guard let config else { return nil }
        let c = try FWEnvConfig.load(config)
        if let s = size, s.bytes != c.envSize {
            throw ValidationError("-s \(s.bytes) does not match the env size \(c.envSize) (\(hex(c.envSize))) in \(config)")
        }
        return c
    }

    /// Reads `file`, or the config's locations when `-c` is given.
    func read(file: String?) throws -> EnvBlob {
        if let c = try loadConfig() { return try EnvBlob.read(config: c, hints: hints()) }
        guard let file else { throw ValidationError("expected a FILE, or -c fw_env.config") }
        return try EnvBlob.read(file: file, hints: hints())
    }
}

/// Erase-block numbers given as `3,7,12` (`--bad-blocks`).
struct BlockList: ExpressibleByArgument {
    var blocks: Set<Int>
    init?(argument: String) {
        var out = Set<Int>()
        for t in argument.split(separator: ",") {
            guard let v = Int(String(t).trimmingSpaces()), v >= 0 else { return nil }
            out.insert(v)
        }
        blocks = out
    }
}

import ArgumentParser
import FlashsmithCore
import UBootEnv

extension ByteSize: ExpressibleByArgument {
    public init?(argument: String) {
        guard let v = try? ByteSize(parsing: argument) else { return nil }
        self = v
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
    @Option(name: .shortAndLong, help: "Bytes per copy (CONFIG_ENV_SIZE): 0x40000, 256KiB, 8k. Default: from the config, or detected from the file size.")
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

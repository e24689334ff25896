import ArgumentParser
import FlashsmithCore
import UBootEnv

extension Env {
    /// `flashsmith env create -s SIZE [-r] [-b] [-p BYTE] [-o OUT] [INPUT|-]`: mkenvimage, and more.
    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "create",
            abstract: "Write an environment blob from text (mkenvimage's options; byte-identical output).",
            discussion: """
                INPUT is mkenvimage syntax by default: name=value lines, blank lines and lines starting \
                with # skipped, a backslash before the newline embeds a newline. --format uboot reads \
                U-Boot's 'name value' script syntax. With -r the copy has a flags byte (set to 1); \
                --copies 2 writes both copies of the redundant pair into one file (flags 1 and 0). \
                With -c the blob is written where fw_env.config says (both copies for a two-line config).
                """
        )

        @Option(name: .shortAndLong, help: "Bytes per copy (CONFIG_ENV_SIZE): 0x20000, 128KiB, 8k.", transform: ByteSize.limited(OptionLimits.envSize))
        var size: ByteSize?

        @Flag(name: .short, help: "Redundant environment: a flags byte after the CRC.")
        var redundant = false

        @Option(name: .long, help: "With -r: copies in the output file, 1 (as mkenvimage) or 2.")
        var copies: Int = 1

        @Flag(name: [.customShort("b"), .customLong("big-endian")], help: "Big-endian CRC.")
        var bigEndian = false

        @Option(name: [.customShort("p"), .customLong("pad")], help: "Pad byte (default 0xff).")
        var pad: PadByte?

        @Option(name: .shortAndLong, help: "Output file (default: standard output). Written atomically.")
        var output: String?

        @Option(name: [.short, .customLong("config")], help: "Write to the locations in this fw_env.config instead of -o.")
        var config: String?

        @Option(name: .long, help: "Input syntax: mkenvimage (name=value) or uboot (name value).")
        var format: EnvTextSyntax = .equals

        @Argument(help: "Input text ('-' or nothing: standard input).")
        var input: String?

        func validate() throws {
            if copies != 1 && copies != 2 { throw ValidationError("--copies: expected 1 or 2, found \(copies)") }
            if copies == 2 && !redundant { throw ValidationError("--copies 2 needs -r (two copies only exist for a redundant environment)") }
            if size == nil && config == nil { throw ValidationError("expected -s SIZE (or -c fw_env.config)") }
            if config != nil && output != nil { throw ValidationError("-o and -c both say where to write: give one") }
        }

        func run() throws {
            let source = input ?? "-"
            var image = EnvImage(variables: [], size: 0, byteOrder: bigEndian ? .big : .little, padByte: pad?.value ?? 0xFF)
            let assignments = try readAssignments(source, syntax: format)
            if format == .equals {
                // mkenvimage keeps every line as written, duplicates included: so do we.
                image.variables = assignments.compactMap { if case let .set(v) = $0 { v } else { nil } }
            } else {
                EnvText.apply(assignments, to: &image)
            }
            if let config {
                let c = try FWEnvConfig.load(config)
                if let s = size, s.bytes != c.envSize {
                    throw ValidationError("-s \(s.bytes) does not match the env size \(c.envSize) (\(hex(c.envSize))) in \(config)")
                }
                image.size = c.envSize
                image.redundant = c.redundant || redundant
                try EnvStore.perform(try EnvBlob.freshWrites(image, at: c.locations))
                return
            }
            image.size = size?.bytes ?? 0
            image.redundant = redundant
            var bytes = try image.encodeCopy(flag: EnvLayout.activeFlag)
            if copies == 2 { bytes += try image.encodeCopy(flag: EnvLayout.obsoleteFlag) }
            if let output, output != "-" {
                try AtomicFile.write(bytes, to: output)
            } else {
                try FileIO.writeStdout(bytes)
            }
        }
    }
}

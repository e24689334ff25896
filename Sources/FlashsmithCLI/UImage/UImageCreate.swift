import ArgumentParser
import Archive
import BootImage
#if canImport(Glibc)
import Glibc
#endif
import FlashsmithCore

extension UImageCommand {
    /// `flashsmith uimage create -A ARCH -O OS -T TYPE -C COMP -a LOAD -e ENTRY -n NAME -d FILE[:FILE…] -o OUT`.
    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "create",
            abstract: "Write a legacy uImage (byte-identical to mkimage for the same options and SOURCE_DATE_EPOCH).",
            discussion: """
                -T multi and -T script take FILE:FILE…: a part table, then the parts (each but the last padded to 4 bytes); \
                a script image is made from a command file (boot.cmd → boot.scr). The data are streamed: memory does not \
                grow with their size. ih_time is SOURCE_DATE_EPOCH when set, else now. Unlike mkimage, -A and -C have no \
                silent defaults (mkimage assumes powerpc and gzip).
                """
        )

        @Option(name: .customShort("A"), help: "Architecture: arm, arm64, x86, x86_64, riscv, mips, mips64, powerpc, …")
        var arch: String

        @Option(name: .customShort("O"), help: "Operating system (default linux).")
        var os: String = "linux"

        @Option(name: .customShort("T"), help: "Type: kernel, kernel_noload, ramdisk, multi, script, firmware, standalone, filesystem, flat_dt.")
        var type: String = "kernel"

        @Option(name: .customShort("C"), help: "Compression the payload already has: none, gzip, bzip2, lzma, lzo, lz4, zstd.")
        var comp: String?

        @Option(name: .customShort("a"), help: "Load address (hex, as mkimage reads it).")
        var load: String = "0"

        @Option(name: .customShort("e"), help: "Entry point (hex; default: the load address).")
        var entry: String?

        @Option(name: .customShort("n"), help: "Image name, at most 32 bytes.")
        var name: String = ""

        @Option(name: .customShort("d"), help: "Data file; FILE:FILE… for multi and script images.")
        var data: String

        @Option(name: .shortAndLong, help: "Output file (written atomically).")
        var output: String

        @Option(name: .long, help: "Compress the payload (gzip, bzip2, lzma, lz4, zstd) and set -C to match; mkimage only labels.")
        var compress: String?

        /// mkimage reads -a and -e with strtoull(…, 16): hex with or without 0x.
        static func address(_ text: String, _ option: String) throws -> UInt32 {
            let t = text.lowercased().hasPrefix("0x") ? String(text.dropFirst(2)) : text
            guard let v = UInt32(t, radix: 16) else { throw ValidationError("\(option): expected a 32-bit hexadecimal address, found '\(text)'") }
            return v
        }

        func run() throws {
            let a = try TableName.parse(arch, UImageTables.arch, kind: "-A architecture")
            let o = try TableName.parse(os, UImageTables.os, kind: "-O operating system")
            let t = try TableName.parse(type, UImageTables.type, kind: "-T type")
            var compName = comp
            var algorithm: RawCompressor.Algorithm?
            if let compress {
                guard let a = RawCompressor.Algorithm(rawValue: compress) else {
                    throw ValidationError("--compress: expected one of \(RawCompressor.Algorithm.allCases.map(\.rawValue).joined(separator: ", ")), found '\(compress)'")
                }
                if let comp, comp != compress && comp != "none" {
                    throw ValidationError("-C \(comp) and --compress \(compress) disagree: --compress sets -C itself")
                }
                algorithm = a
                compName = compress
            }
            guard let compName else { throw ValidationError("expected -C COMP (what the payload already is) or --compress ALGO") }
            let c = try TableName.parse(compName, UImageTables.comp, kind: "-C compression")
            let loadAddress = try Self.address(load, "-a")
            let entryPoint = try entry.map { try Self.address($0, "-e") } ?? loadAddress
            let multi = t.id == UImageTables.multiType || t.id == UImageTables.scriptType
            var files = multi ? data.split(separator: ":", omittingEmptySubsequences: false).map(String.init) : [data]
            var scratch: String?
            defer { if let scratch { unlink(scratch) } }
            if let algorithm {
                guard files.count == 1 else { throw ValidationError("--compress takes one data file") }
                scratch = output + ".flashsmith-payload"
                try RawCompressor.compress(files[0], algorithm: algorithm, output: scratch!)
                files = [scratch!]
            }
            let params = UImage.Parameters(
                arch: a.id, os: o.id, type: t.id, comp: c.id, load: loadAddress, entry: entryPoint,
                name: rawBytes(ofArgument: name), time: try UImage.creationTime())
            try UImage.create(params, files: files, output: output)
        }
    }
}

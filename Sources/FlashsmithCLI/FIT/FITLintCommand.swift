import ArgumentParser
import BootImage
import DeviceTree
import FlashsmithCore
#if canImport(Glibc)
import Glibc
#endif

extension FITCommand {
    /// `flashsmith fit lint SPEC|FILE [--bootm-len SIZE] [--control-dtb DTB] [--fit-address ADDR]`.
    struct Lint: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "lint",
            abstract: "Say what U-Boot will reject or trip over in a FIT (an .itb, an .its or a YAML spec), before it ships.",
            discussion: """
                Checks: '@' in node names of a signed FIT; configurations naming missing images or using unhashed \
                ones; a missing or unknown default configuration; what U-Boot 2023.01's bootm refuses (type, arch, os, \
                compression names it does not know; a kernel, firmware or standalone image without a load address; a \
                kernel without entry, os, arch or compression, or with an os bootm does not boot; a ramdisk whose os \
                it will not load); images whose load regions overlap one another or the FIT (--fit-address); a kernel larger \
                than BOOTM_LEN (--bootm-len, default from the kernel's arch as U-Boot's Kconfig sets it); a \
                compressed fdt without compatible; with --control-dtb, signatures whose key is missing and keys \
                marked required that nothing in the FIT satisfies. Exits 65 when there is an error.
                """
        )

        @Argument(help: "A FIT (.itb), an .its source or a .yaml spec.")
        var file: String

        @Option(name: .long, help: "U-Boot's CONFIG_SYS_BOOTM_LEN (e.g. 0x4000000, 64MiB).")
        var bootmLen: ByteSize?

        @Option(name: .long, help: "The control DTB U-Boot will verify signatures with.")
        var controlDTB: String?

        @Option(name: .long, help: "Address the FIT is loaded at (bootm ADDR), hex.")
        var fitAddress: String?

        @OptionGroup var json: JSONOption

        func run() throws {
            var options = FITLint.Options()
            options.bootmLen = bootmLen?.bytes
            if let fitAddress {
                let digits = fitAddress.lowercased().replacingPrefix("0x")
                guard !digits.isEmpty, digits.allSatisfy(\.isHexDigit), let a = UInt64(digits, radix: 16) else {
                    throw ValidationError("--fit-address: expected a hex address up to 0xffffffffffffffff, found '\(fitAddress)'")
                }
                options.fitAddress = a
            }
            if let controlDTB {
                let bytes = try FileIO.readAll(controlDTB)
                options.controlDTB = try DeviceTree.decode(bytes, source: controlDTB)
                let blob = try FDTBlob(validating: bytes, source: controlDTB)
                options.controlDTBFree = blob.totalSize - blob.usedSize
            }
            let info: FITInfo
            if file.hasSuffix(".its") || file.hasSuffix(".yaml") || file.hasSuffix(".yml") {
                // Build the FIT as `fit build` would (signature nodes left in place) into a scratch file.
                var blob: FDTBlob
                if file.hasSuffix(".its") {
                    blob = try FIT.compileITS(file)
                } else {
                    blob = try FITSpec.blob(try FITSpec.parse(String(decoding: try FileIO.readAll(file), as: UTF8.self), path: file), source: file)
                }
                var build = FIT.BuildOptions()
                build.timestamp = 0
                build.sign = false
                try FIT.fill(&blob, options: build)
                let scratch = "/tmp/flashsmith-lint-\(getpid()).itb"
                defer { unlink(scratch) }
                try FIT.write(&blob, options: build, output: scratch)
                info = try FITInfo.read(scratch)
            } else {
                info = try FITInfo.read(file)
            }
            let findings = FITLint.check(info, options: options)
            if json.json {
                try output(JSON.array(findings.map { .object([("severity", .string($0.severity.rawValue)), ("path", .string($0.path)), ("message", .string($0.message))]) }).encoded() + "\n")
            } else {
                try output(findings.isEmpty ? "\(file): no findings\n" : findings.map(\.text).joined(separator: "\n") + "\n")
            }
            if findings.contains(where: { $0.severity == .error }) { throw DiffersExit(code: ExitCodes.code(for: .data)) }
        }
    }
}

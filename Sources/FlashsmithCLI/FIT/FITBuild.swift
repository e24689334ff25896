import ArgumentParser
import BootImage
import DeviceTree
import FlashsmithCore

extension FITCommand {
    /// `flashsmith fit build SPEC -o OUT.itb [-E] [-B ALIGN] [-p POSITION]`.
    struct Build: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "build",
            abstract: "Build a FIT from an .its source (compiled with dtc, as mkimage -f does) or a YAML spec.",
            discussion: """
                Fills /timestamp (SOURCE_DATE_EPOCH when set) and every hash-N value (crc16-ccitt, crc32, md5, \
                sha1, sha256, sha384, sha512). -E moves the data after the tree as mkimage -E does (data-offset, \
                4-byte alignment, 8 for flat_dt; -B sets it; -p POSITION places the data absolutely with \
                data-position). --dtb-padding adds free space inside embedded device trees. Signature nodes are \
                signed with -k (RSA PKCS#1 v1.5 or PSS over sha1/256/384/512, or \
                ECDSA P-256): image signatures over the data, configuration signatures over the nodes U-Boot rebuilds \
                (the configuration and every image it uses, with their hash nodes); -K writes the public keys into a \
                control DTB, -r marks them required.
                """
        )

        @Argument(help: "An .its source, or a .yaml/.yml spec.")
        var spec: String

        @Option(name: .shortAndLong, help: "Output .itb (written atomically).")
        var output: String

        @Flag(name: .customShort("E"), help: "External data: place image data after the tree.")
        var external = false

        @Option(name: .customShort("B"), help: "Alignment of external data (hex, as mkimage -B).")
        var alignment: String?

        @Option(name: .customShort("p"), help: "Absolute position of external data (hex, as mkimage -p).")
        var position: String?

        @Option(name: .long, help: "Free space added inside every embedded flat_dt image (e.g. 4KiB; at most 1MiB).", transform: ByteSize.limited(OptionLimits.dtbPadding))
        var dtbPadding: ByteSize?

        @Option(name: .customShort("k"), help: "Key directory: signature nodes are signed with KEYDIR/<key-name-hint>.key (PEM).")
        var keyDirectory: String?

        @Option(name: .customShort("K"), help: "Control DTB to write the public keys into (/signature/key-<hint>), edited in place.")
        var keyDTB: String?

        @Flag(name: .customShort("r"), help: "Mark the keys written with -K required (\"conf\" or \"image\").")
        var requireKeys = false

        func validate() throws {
            if (alignment != nil || position != nil) && !external { throw ValidationError("-B and -p apply to external data: add -E") }
        }

        func run() throws {
            var options = FIT.BuildOptions()
            options.timestamp = try UImage.creationTime()
            options.external = external
            if let alignment {
                let a = try hexArgument(alignment, option: "-B", range: OptionLimits.fitAlignment)
                guard a & (a - 1) == 0 else { throw ValidationError("-B: expected a power of two in hex, found '\(alignment)'") }
                options.alignment = a
            }
            if let position {
                options.position = try hexArgument(position, option: "-p", range: OptionLimits.fitPosition)
            }
            options.dtbPadding = dtbPadding?.bytes ?? 0
            options.keyDirectory = keyDirectory
            options.keyDTB = keyDTB
            options.requireKeys = requireKeys
            var blob: FDTBlob
            if spec.hasSuffix(".yaml") || spec.hasSuffix(".yml") {
                let text = String(decoding: try FileIO.readAll(spec), as: UTF8.self)
                blob = try FITSpec.blob(try FITSpec.parse(text, path: spec), source: spec)
            } else {
                blob = try FIT.compileITS(spec)
            }
            try FIT.fill(&blob, options: options)
            try FIT.write(&blob, options: options, output: output)
        }
    }
}

extension String {
    func replacingPrefix(_ prefix: String) -> String { hasPrefix(prefix) ? String(dropFirst(prefix.count)) : self }
}

import ArgumentParser
import FlashsmithCore
import UBootEnv

extension Env {
    /// `flashsmith env print FILE [-s SIZE] [--offset OFF [--redundant OFF2]] [-n] [--json] [NAME…]`.
    struct Print: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "print",
            abstract: "Print an environment's variables in stored order (and, for a redundant pair, both copies and which one U-Boot uses).",
            discussion: """
                Single or redundant layout, byte order and flag scheme are detected; -s, -c, -b and --flags \
                pin them. A CRC mismatch is an error (exit 65) naming the copy and both CRCs; --force prints anyway. \
                Values holding a newline are printed with backslash-newline, so the output feeds back into 'env create'. \
                FILE may be an env partition's image (build's env.img: copy 2 at the partition's second half), or, with \
                --offset (and --redundant), any image holding an environment at those offsets, such as a chip image.
                """
        )

        @Argument(help: "The blob (omit with -c), then variable names to print.")
        var arguments: [String] = []

        @OptionGroup var layout: EnvLayoutOptions
        @OptionGroup var place: EnvOffsetOptions

        @Flag(name: .short, help: "Print only the value of the one NAME given.")
        var noName = false

        @Flag(name: .long, help: "Print even when no copy has a valid CRC.")
        var force = false

        @OptionGroup var json: JSONOption

        func run() throws {
            var args = arguments
            let file = layout.config == nil ? (args.isEmpty ? nil : args.removeFirst()) : nil
            let names = args.map { rawBytes(ofArgument: $0) }
            if noName && names.count != 1 { throw ValidationError("-n needs exactly one NAME, found \(names.count)") }
            let blob = try place.read(file: file, layout: layout) ?? layout.read(file: file)
            var copy = blob.activeCopy
            if copy == nil {
                guard force else { throw blob.failure() }
                copy = blob.copies.first { $0.variables != nil }
                printError("flashsmith: warning: \(blob.failure().description)")
            }
            guard let copy, let vars = copy.variables else { throw blob.failure() }
            if json.json {
                try output(EnvFormat.json(blob, includeVariables: true, only: names).encoded() + "\n")
                return
            }
            var out: [UInt8] = []
            if names.isEmpty {
                if blob.copies.count == 2 {
                    var header = ""
                    for c in blob.copies {
                        header += "# copy \(c.index) at \(hex(c.offset)): CRC \(c.crcOK ? "ok" : "BAD (stored \(crcText(c.storedCRC)), computed \(crcText(c.computedCRC)))"), flag \(c.flag ?? 0)\n"
                    }
                    header += "# flag scheme: \(blob.schemeReason)\n"
                    header += "# U-Boot uses \(blob.selection.active.map { "copy \($0)" } ?? "its default environment"): \(blob.selection.reason)\n"
                    out += Array(header.utf8)
                }
                out += equalsLines(vars)
            } else {
                var missing: [String] = []
                for n in names {
                    guard let v = vars.last(where: { $0.name == n }) else {
                        missing.append(String(decoding: n, as: UTF8.self))
                        continue
                    }
                    out += noName ? v.value + [UInt8(ascii: "\n")] : equalsLines([v])
                }
                try FileIO.writeStdout(out)
                if let m = missing.first { throw EnvError.notFound(source: blob.source, name: m) }
                return
            }
            try FileIO.writeStdout(out)
        }
    }
}

func crcText(_ v: UInt32) -> String {
    let h = String(v, radix: 16)
    return "0x" + String(repeating: "0", count: 8 - h.count) + h
}

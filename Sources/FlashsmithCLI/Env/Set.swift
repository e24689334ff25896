import ArgumentParser
import FlashsmithCore
import UBootEnv

extension Env {
    /// `flashsmith env set FILE NAME=VALUE… [--unset NAME]… [--script FILE] [--offset OFF [--redundant OFF2]]`.
    struct Set: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "set",
            abstract: "Edit an environment in place, atomically, as U-Boot's saveenv would.",
            discussion: """
                Size, pad byte, byte order and redundancy are kept. A single copy is rewritten; of a redundant \
                pair the inactive copy is written with the next flag (counter + 1, 255 wraps to 0; boolean: 1, \
                and the old copy's flag is cleared to 0). 'NAME=' (empty value) deletes NAME, as U-Boot's \
                'setenv NAME' does. Scripts may mix 'name=value' and 'name value' lines (--script-format pins one). \
                A plain file is replaced through a temporary file and rename; nothing is written when nothing changes. \
                --offset (and --redundant) edit an environment inside a bigger image, such as a chip image.
                """
        )

        @Argument(help: "The blob (omit with -c), then NAME=VALUE assignments.")
        var arguments: [String] = []

        @Option(name: .long, help: "Delete this variable (repeatable).")
        var unset: [String] = []

        @Option(name: .long, help: "Apply the assignments in this file ('-' for standard input).")
        var script: String?

        @Option(name: .long, help: "Script syntax: mkenvimage (name=value) or uboot (name value). Default: per line.")
        var scriptFormat: EnvTextSyntax?

        @OptionGroup var layout: EnvLayoutOptions
        @OptionGroup var place: EnvOffsetOptions

        func run() throws {
            var args = arguments
            let file = layout.config == nil ? (args.isEmpty ? nil : args.removeFirst()) : nil
            var assignments: [EnvAssignment] = []
            if let script {
                let text = try FileIO.readAll(script)
                assignments += try EnvText.parseScript(text, source: script == "-" ? "<stdin>" : script, syntax: scriptFormat)
            }
            for a in args {
                let bytes = rawBytes(ofArgument: a)
                guard let eq = bytes.firstIndex(of: UInt8(ascii: "=")) else {
                    throw ValidationError("expected NAME=VALUE, found '\(a)' (use --unset NAME to delete)")
                }
                let name = Array(bytes[..<eq]), value = Array(bytes[(eq + 1)...])
                try EnvVariable.validate(name: name, source: "argument '\(a)'")
                assignments.append(value.isEmpty ? .unset(name) : .set(EnvVariable(name: name, value: value)))
            }
            for n in unset {
                let name = rawBytes(ofArgument: n)
                try EnvVariable.validate(name: name, source: "--unset '\(n)'")
                assignments.append(.unset(name))
            }
            if assignments.isEmpty { throw ValidationError("nothing to set: give NAME=VALUE, --unset NAME or --script FILE") }
            let blob = try place.read(file: file, layout: layout) ?? layout.read(file: file)
            let before = try blob.activeImage()
            var image = before
            EnvText.apply(assignments, to: &image)
            guard image != before else { return }
            if let risk = EnvStore.powerCutWarning(blob.locations) { printError("flashsmith: warning: \(risk)") }
            try EnvStore.perform(try blob.writes(storing: image))
        }
    }
}

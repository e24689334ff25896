import ArgumentParser
import FlashsmithCore
import UBootEnv

extension Env {
    /// `flashsmith env convert --to uboot|mkenvimage [INPUT|-] [-o OUT]`.
    struct Convert: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "convert",
            abstract: "Convert between the name=value (mkenvimage, libubootenv) and 'name value' (U-Boot fw_setenv -s) syntaxes.",
            discussion: "A value that the target syntax cannot hold (a newline in 'name value' syntax) is an error naming the variable."
        )

        @Option(name: .long, help: "Input syntax (default: the other one).")
        var from: EnvTextSyntax?

        @Option(name: .long, help: "Output syntax: mkenvimage (name=value) or uboot (name value).")
        var to: EnvTextSyntax

        @Option(name: .shortAndLong, help: "Output file (default: standard output).")
        var output: String?

        @Argument(help: "Input text ('-' or nothing: standard input).")
        var input: String?

        func run() throws {
            let from = self.from ?? (to == .equals ? .uboot : .equals)
            var image = EnvImage(variables: [], size: 0)
            EnvText.apply(try readAssignments(input ?? "-", syntax: from), to: &image)
            let bytes = to == .equals ? try EnvText.writeEquals(image.variables) : try EnvText.writeUBoot(image.variables)
            if let output, output != "-" { try AtomicFile.write(bytes, to: output) } else { try FileIO.writeStdout(bytes) }
        }
    }
}

import ArgumentParser
import FlashsmithCore
import UBootEnv

extension Env {
    /// `flashsmith env diff A B`.
    struct Diff: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "diff",
            abstract: "Compare the variables of two environments (blobs, or name=value text files).",
            discussion: "Prints '-name=old' and '+name=new' lines, in A's order then B's. Exits 0 when equal, 1 when they differ. With -c, A is the environment the config describes and only B is given."
        )

        @Argument(help: "Two environments (one with -c): blobs or mkenvimage text.")
        var files: [String] = []

        @OptionGroup var layout: EnvLayoutOptions
        @OptionGroup var json: JSONOption

        func validate() throws {
            let want = layout.config == nil ? 2 : 1
            if files.count != want { throw ValidationError("expected \(want) file(s), found \(files.count)") }
        }

        /// The variables in `path`: a blob's active copy, or a text file when it is not a blob.
        func variables(_ path: String) throws -> [EnvVariable] {
            do {
                return try EnvBlob.read(file: path, hints: layout.hints()).activeImage().variables
            } catch let blobError as any FlashsmithError where blobError.category == .data {
                let text = try FileIO.readAll(path)
                guard let vars = try? EnvText.parseEquals(text, source: path) else { throw blobError }
                return vars
            }
        }

        func run() throws {
            let a: [EnvVariable]
            let b: [EnvVariable]
            if layout.config != nil {
                a = try layout.read(file: nil).activeImage().variables
                b = try variables(files[0])
            } else {
                a = try variables(files[0])
                b = try variables(files[1])
            }
            let d = EnvDiff(a, b)
            if json.json {
                try output(d.json.encoded() + "\n")
            } else {
                var out: [UInt8] = []
                for e in d.entries {
                    switch e {
                    case let .removed(v): out += [UInt8(ascii: "-")] + equalsLines([v])
                    case let .added(v): out += [UInt8(ascii: "+")] + equalsLines([v])
                    case let .changed(old, new): out += [UInt8(ascii: "-")] + equalsLines([old]) + [UInt8(ascii: "+")] + equalsLines([new])
                    }
                }
                try FileIO.writeStdout(out)
            }
            if !d.entries.isEmpty { throw DiffersExit() }
        }
    }
}

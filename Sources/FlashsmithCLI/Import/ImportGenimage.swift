import ArgumentParser
import Board
import FlashsmithCore
#if canImport(Glibc)
import Glibc
#endif

extension ImportCommand {
    /// `flashsmith import genimage CFG -o BOARD/ [--rootpath DIR] [--inputpath DIR] [--image NAME]`.
    struct ImportGenimage: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "genimage",
            abstract: "Make a board folder from a genimage.cfg: board.yaml with genimage's offsets and sizes, its input files, a rootfs spec per staged folder.",
            discussion: """
                The config is read as genimage reads it (include(), ${VAR}, its option tables; an unknown option is an \
                error naming the line and the nearest option). --rootpath, --inputpath and --includepath mean what they \
                mean to genimage (else the config's config {} section, GENIMAGE_ROOTPATH…, then root, input). Input files \
                are copied into BOARD/input/ (--reference: named where they are, relative to the board); an ext4 or \
                squashfs becomes a rootfs spec overlaying its staged folder (owned by root, as under fakeroot). What \
                has no counterpart in a board is one line each on standard error; the exit status is 0 when the rest \
                was mapped (--strict: 65). The folder is written beside BOARD and renamed; a folder Flashsmith did not \
                write is not replaced without --force.
                """
        )

        @Argument(help: "The genimage config (genimage.cfg).")
        var config: String

        @Option(name: .shortAndLong, help: "The board folder to write.")
        var output: String

        @Option(name: .customLong("rootpath"), help: "genimage's --rootpath: the staged root filesystem folder.")
        var rootPath: String?

        @Option(name: .customLong("inputpath"), help: "genimage's --inputpath: where input files (bootloaders, kernels) are.")
        var inputPath: String?

        @Option(name: .customLong("includepath"), help: "genimage's --includepath: colon-separated folders searched for include()d files before the current one.")
        var includePath: String?

        @Option(name: .long, help: "The image to make the board of, when the config has several disk or flash images.")
        var image: String?

        @Flag(name: .long, help: "Name input files where they are (relative to the board folder) instead of copying them into it.")
        var reference = false

        @Flag(name: .long, help: "Fail (exit 65) when anything is not mapped.")
        var strict = false

        @Flag(name: .long, help: "Replace the output folder even if Flashsmith did not write it.")
        var force = false

        /// Something was not mapped and --strict was given.
        struct NotMapped: FlashsmithError {
            let count: Int
            var category: ErrorCategory { .data }
            var description: String { "\(count) option\(count == 1 ? "" : "s") not mapped (listed above); --strict refuses the import" }
        }

        func run() throws {
            let environment = Self.environment()
            let cwd = getcwd(nil, 0).map { p in
                defer { free(p) }
                return String(cString: p)
            } ?? "."
            let includes = (includePath ?? environment["GENIMAGE_INCLUDEPATH"]).map { $0.split(separator: ":").map(String.init) } ?? []
            let cfg = try GenimageConfig.load(config, environment: environment, includePaths: includes)
            var o = GenimageImport.Options(board: output, cwd: cwd)
            o.rootPath = rootPath
            o.inputPath = inputPath
            o.image = image
            o.reference = reference
            o.environment = environment
            let result = try GenimageImport.map(cfg, options: o)
            for line in result.notMapped { printError(line) }
            if strict, !result.notMapped.isEmpty { throw NotMapped(count: result.notMapped.count) }
            let folder = try AtomicFolder(destination: output, force: force, marker: .file, command: invocation())
            try AtomicFile.write(Array(result.boardYAML.utf8), to: "\(folder.path)/board.yaml")
            for s in result.specs { try AtomicFile.write(Array(s.text.utf8), to: "\(folder.path)/\(s.name)") }
            for c in result.copies { try FileIO.copyRange(c.from, offset: 0, count: try FileIO.size(of: c.from), to: "\(folder.path)/\(c.to)") }
            try folder.commit()
            let skipped = result.notMapped.isEmpty ? "" : ", \(result.notMapped.count) not mapped"
            try FlashsmithCLI.output("\(output)/board.yaml: image '\(result.image)' (\(result.specs.count) rootfs spec\(result.specs.count == 1 ? "" : "s"), \(result.copies.count) input file\(result.copies.count == 1 ? "" : "s")\(skipped))\n")
        }

        /// The process environment (for ${VAR} and GENIMAGE_*).
        static func environment() -> [String: String] {
            var env: [String: String] = [:]
            var p = environ
            while let entry = p.pointee {
                let s = String(cString: entry)
                if let eq = s.firstIndex(of: "=") { env[String(s[..<eq])] = String(s[s.index(after: eq)...]) }
                p += 1
            }
            return env
        }
    }
}

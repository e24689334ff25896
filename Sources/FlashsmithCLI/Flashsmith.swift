import ArgumentParser
import FlashsmithCore
#if canImport(Glibc)
import Glibc
#endif

/// `flashsmith <noun> <verb>`.
public struct Flashsmith: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "flashsmith",
        abstract: "A workbench for embedded Linux images: U-Boot environments, boot images, root filesystems, NAND layouts.",
        version: "0.1.0",
        subcommands: [BuildCommand.self, ImportCommand.self, BootCommand.self, ServeCommand.self, Env.self, UImageCommand.self, FITCommand.self, RootFSCommand.self, UBICommand.self, NANDCommand.self, FlashCommand.self, KconfigCommand.self, Inspect.self, CRC32Command.self]
    )

    public init() {}

    /// swift-argument-parser takes time quadratic in the number of arguments (8,000: about 3 s, see
    /// docs/fuzzing.md); no Flashsmith command needs more than a few hundred, so more than this is a
    /// usage error before parsing.
    public static let maxArguments = 4096

    /// More than `maxArguments` arguments: refused before swift-argument-parser sees them.
    public struct TooManyArguments: FlashsmithError {
        public let count: Int
        public var category: ErrorCategory { .usage }
        public var description: String {
            "\(count) arguments: expected at most \(Flashsmith.maxArguments) (give many variables with env set --script FILE)"
        }
    }

    /// `parseAsRoot` behind the argument-count gate: what `runMain` runs, and what the cli-options
    /// fuzzer calls.
    public static func parseChecked(_ arguments: [String]) throws -> any ParsableCommand {
        if arguments.count > maxArguments { throw TooManyArguments(count: arguments.count) }
        return try parseAsRoot(arguments)
    }

    /// Parses, runs, and maps every error to its exit code (`ExitCodes`).
    public static func runMain() -> Never {
        do {
            var command = try parseChecked(Array(CommandLine.arguments.dropFirst()))
            try command.run()
            Glibc.exit(0)
        } catch let e as any FlashsmithError {
            printError("flashsmith: error: \(e.description)")
            Glibc.exit(ExitCodes.code(for: e))
        } catch let e as DiffersExit {
            Glibc.exit(e.code)
        } catch {
            exit(withError: error)
        }
    }
}

/// Thrown by commands that succeed but report a difference through the exit code.
struct DiffersExit: Error {
    var code: Int32 = ExitCodes.differences
}

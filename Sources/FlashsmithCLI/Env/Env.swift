import ArgumentParser
import FlashsmithCore
import UBootEnv

/// `flashsmith env <verb>`: U-Boot environment blobs, as files and on flash.
struct Env: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "env",
        abstract: "Create, print, edit and compare U-Boot environment blobs (files, block devices, MTD).",
        subcommands: [Create.self, Print.self, Set.self, Diff.self, Convert.self, ExtractDefault.self]
    )
}

/// Reads a text file (or `-` for standard input) in one of the env syntaxes.
func readAssignments(_ path: String, syntax: EnvTextSyntax) throws -> [EnvAssignment] {
    let bytes = try FileIO.readAll(path)
    let name = path == "-" ? "<stdin>" : path
    switch syntax {
    case .equals: return try EnvText.parseEquals(bytes, source: name).map { .set($0) }
    case .uboot: return try EnvText.parseUBoot(bytes, source: name)
    }
}

/// `name=value` lines for people: embedded newlines as backslash-newline (so the output can be fed
/// back to `env create`); a value that cannot be written that way is printed raw.
func equalsLines(_ vars: [EnvVariable]) -> [UInt8] {
    var out: [UInt8] = []
    for v in vars {
        if let line = try? EnvText.writeEquals([v]) {
            out += line
        } else {
            out += v.name + [UInt8(ascii: "=")] + v.value + [UInt8(ascii: "\n")]
        }
    }
    return out
}

import ArgumentParser
import FlashsmithCore
import RootFS

extension RootFSCommand {
    /// `flashsmith rootfs ldd BINARY… [--sysroot DIR] [--json]`.
    struct Ldd: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "ldd",
            abstract: "List what bundling binaries takes: interpreter, shared libraries and symlinks, found in a sysroot as ld.so finds them, without running anything.",
            discussion: """
                Works for any architecture (32/64-bit, either byte order): the ELF files are read, not run. Search order \
                as glibc's ld.so: DT_RPATH of the object and its loaders (unless DT_RUNPATH is set), DT_RUNPATH, the \
                sysroot's /etc/ld.so.conf, the multiarch and default directories; $ORIGIN is expanded; libraries of another \
                class or machine are skipped. Exits 65 when something cannot be found (it is listed).
                """
        )

        @Argument(help: "Binaries, as paths inside the sysroot (e.g. /usr/sbin/criu).")
        var binaries: [String]

        @Option(name: .long, help: "The root to search (default: /).")
        var sysroot: String = "/"

        @OptionGroup var json: JSONOption

        func run() throws {
            let closure = try SharedLibraryClosure.compute(binaries: binaries, sysroot: Sysroot(sysroot))
            if json.json {
                let j = JSON.object([
                    ("sysroot", .string(sysroot)),
                    ("files", .array(closure.files.map { .string($0) })),
                    ("symlinks", .array(closure.symlinks.map { .object([("path", .string($0.path)), ("target", .string($0.target))]) })),
                    ("needed", .array(closure.resolved.map { .object([("object", .string($0.object)), ("name", .string($0.name)), ("path", .string($0.path))]) })),
                    ("missing", .array(closure.missing.map { .object([("name", .string($0.name)), ("neededBy", .string($0.neededBy))]) })),
                ])
                try output(j.encoded() + "\n")
            } else {
                var text = ""
                for r in closure.resolved { text += "\(r.object): \(r.name) => \(r.path)\n" }
                for m in closure.missing { text += "\(m.neededBy): \(m.name) => not found\n" }
                text += "files: \(closure.files.joined(separator: " "))\n"
                for l in closure.symlinks { text += "symlink: \(l.path) -> \(l.target)\n" }
                try output(text)
            }
            if let m = closure.missing.first {
                throw ELFError(path: m.neededBy, offset: 0, message: "needs \(m.name), found nowhere in \(sysroot)")
            }
        }
    }
}

import ArgumentParser
import FlashsmithCore
import Migration

extension KernelFeature: ExpressibleByArgument {}

extension KconfigCommand {
    /// `flashsmith kconfig check --for criu[,ubifs,…] CONFIG [--fragment] [--recommended] [--json]`.
    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "check",
            abstract: "Check a kernel configuration against what a feature needs, option by option, with the reason and the modules to load.",
            discussion: """
                CONFIG: a .config, /proc/config.gz (any gzip'd config), the config-* of a Debian kernel package, or the \
                package (.deb) itself. Features: criu, ubifs, nfsroot, devtmpfs. States: ok (built in), module (=m: load \
                it first; the list is printed), missing, must-be-built-in (=m where the kernel needs it before modules \
                load), not-on-architecture (e.g. soft-dirty on arm64: no pre-dump, use lazy pages). Exits 1 when a \
                required option is missing; --fragment prints a config fragment that adds what is missing.
                """
        )

        @Option(name: .customLong("for"), help: "Features, comma-separated or repeated: criu, ubifs, nfsroot, devtmpfs.")
        var features: [String] = ["criu"]

        @Argument(help: "The configuration: .config, config.gz, config-*, or a kernel .deb.")
        var config: String

        @Flag(name: .long, help: "Print a config fragment that adds what is missing (instead of the table).")
        var fragment = false

        @Flag(name: .long, help: "With --fragment: add the recommended options too.")
        var recommended = false

        @OptionGroup var json: JSONOption

        func parsedFeatures() throws -> [KernelFeature] {
            try features.flatMap { $0.split(separator: ",") }.map { name in
                guard let f = KernelFeature(rawValue: String(name)) else {
                    throw ValidationError("--for: expected criu, ubifs, nfsroot or devtmpfs, found '\(name)'")
                }
                return f
            }
        }

        func validate() throws { _ = try parsedFeatures() }

        func run() throws {
            let check = KernelCheck(try KernelConfig.load(config), features: try parsedFeatures())
            if fragment {
                try output(check.fragment(recommended: recommended))
            } else if json.json {
                let rows: [JSON] = check.rows.map { r in
                    var f: [(String, JSON)] = [
                        ("feature", .string(r.feature.rawValue)), ("option", .string(r.requirement.option)), ("level", .string(r.requirement.level.rawValue)),
                        ("value", .string(r.value)), ("state", .string(r.state.rawValue)), ("why", .string(r.requirement.why)),
                    ]
                    if let m = r.requirement.module { f.append(("module", .string(m))) }
                    if r.state == .notOnArchitecture, let e = r.requirement.elsewhere { f.append(("note", .string(e))) }
                    return .object(f)
                }
                try output(
                    JSON.object([
                        ("config", .string(check.config.source)), ("architecture", .string(check.config.architecture)), ("requirements", .array(rows)),
                        ("modules", .array(check.modules.map { .string($0) })), ("missing", .array(check.failures.map { .string($0.requirement.option) })),
                    ]).encoded() + "\n"
                )
            } else {
                let width = check.rows.map(\.requirement.option.count).max() ?? 0
                var text = "\(check.config.source): \(check.config.architecture)\n"
                for r in check.rows {
                    let pad = String(repeating: " ", count: width - r.requirement.option.count)
                    var state = r.state.rawValue
                    if r.state == .module, let m = r.requirement.module { state = "module \(m)" }
                    let level = r.requirement.level == .required ? "" : " (recommended)"
                    let why = r.state == .notOnArchitecture ? (r.requirement.elsewhere ?? r.requirement.why) : r.requirement.why
                    text += "  \(r.feature.rawValue)  \(r.requirement.option)\(pad)  \(r.value.padding(3))  \(state.padding(22))\(why)\(level)\n"
                }
                if !check.modules.isEmpty { text += "load first: modprobe -a \(check.modules.joined(separator: " "))\n" }
                let missing = check.failures.map(\.requirement.option)
                text += missing.isEmpty ? "every required option is there\n" : "missing: \(missing.joined(separator: " ")) (--fragment prints the fix)\n"
                try output(text)
            }
            if !check.failures.isEmpty && !fragment { throw DiffersExit() }
        }
    }
}

extension String {
    /// Left-aligned in `width` columns (at least one space after).
    func padding(_ width: Int) -> String { self + String(repeating: " ", count: max(1, width - count)) }
}

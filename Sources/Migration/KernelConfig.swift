import Archive
import FlashsmithCore

/// A kernel configuration (Kconfig's `.config` syntax): `CONFIG_X=y|m|"text"|123` and
/// `# CONFIG_X is not set`, read from a `.config`, a gzip'd `/proc/config.gz`, the `config-*` of a
/// Debian kernel package, or that package (`.deb`) itself.
public struct KernelConfig: Sendable {
    /// `CONFIG_X` → `y`, `m`, a number or a quoted string; `n` for "is not set".
    public var values: [String: String]
    public var source: String

    public struct Failure: FlashsmithError, Equatable {
        public var message: String
        public var category: ErrorCategory { .data }
        public var description: String { message }
    }

    public init(values: [String: String], source: String) {
        self.values = values
        self.source = source
    }

    public static func load(_ path: String) throws -> KernelConfig {
        let head = try FileIO.read(path, offset: 0, count: min(try FileIO.size(of: path), 8))
        var text: [UInt8]
        var source = path
        if head.starts(with: [0x1F, 0x8B]) {
            text = try RawDecompressor.decompress(path)
        } else if head.starts(with: Array("!<arch>\n".utf8)) {
            guard let (name, bytes) = try DebianPackage.readFile(path, where: { $0.hasPrefix("boot/config-") }) else {
                throw Failure(message: "\(path): expected a kernel package with boot/config-*, found none in its data")
            }
            text = bytes
            source = "\(path) (\(name))"
        } else {
            text = try FileIO.readAll(path)
        }
        let c = try parse(String(decoding: text, as: UTF8.self), source: source)
        guard !c.values.isEmpty else { throw Failure(message: "\(path): expected CONFIG_… lines of a kernel configuration, found none") }
        return c
    }

    public static func parse(_ text: String, source: String) throws -> KernelConfig {
        var values: [String: String] = [:]
        for raw in text.split(separator: "\n") {
            let line = raw.trimmingCharacters(in: " \t\r")
            if line.hasPrefix("# CONFIG_"), line.hasSuffix(" is not set") {
                let name = line.dropFirst(2).dropLast(" is not set".count)
                values[String(name)] = "n"
            } else if line.hasPrefix("CONFIG_"), let eq = line.firstIndex(of: "=") {
                values[String(line[..<eq])] = String(line[line.index(after: eq)...])
            }
        }
        return KernelConfig(values: values, source: source)
    }

    /// `y`, `m`, `n` (also for options the file does not mention), or the value.
    public func state(_ option: String) -> String { values[option] ?? "n" }

    /// The architecture the configuration is for, from its arch options.
    public var architecture: String {
        if state("CONFIG_X86_64") == "y" { return "x86_64" }
        if state("CONFIG_ARM64") == "y" { return "arm64" }
        if state("CONFIG_ARM") == "y" { return "arm" }
        if state("CONFIG_X86_32") == "y" || state("CONFIG_X86") == "y" { return "x86" }
        if state("CONFIG_RISCV") == "y" { return "riscv" }
        if state("CONFIG_PPC64") == "y" { return "powerpc64" }
        if state("CONFIG_PPC") == "y" { return "powerpc" }
        if state("CONFIG_S390") == "y" { return "s390" }
        if state("CONFIG_MIPS") == "y" { return "mips" }
        return "unknown"
    }
}

extension StringProtocol {
    func trimmingCharacters(in set: String) -> String {
        let s = self.drop { set.contains($0) }
        var end = s.endIndex
        while end > s.startIndex, set.contains(s[s.index(before: end)]) { end = s.index(before: end) }
        return String(s[..<end])
    }
}

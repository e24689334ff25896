import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// QEMU 10 from Debian's `bookworm-backports`, unpacked privately (no system install): the pflash that
/// Debian's U-Boot can write. Debian 12's QEMU 7.2 takes the write-to-buffer window from the wrong
/// address ("hw/pflash: fix block write start", fixed in QEMU 9.0.1), so `saveenv` and any U-Boot
/// flash write past 4 KiB of a sector fail there (../shared/docs/DEVLOOP.md).
///
/// Fetched with a private apt state (its own sources.list naming only bookworm-backports, own lists,
/// status and archives under ``DebianArtifacts/cacheDirectory``): `apt-get download` of the three
/// packages at the one version the lists name (apt checks each .deb's SHA256 against the signed
/// Release), `dpkg -x` into `<cache>/qemu-bookworm-backports/<arch>/<version>/`, and a wrapper
/// `bin/qemu-system-aarch64` that adds `-L <root>/usr/share/qemu` and sets `QEMU_MODULE_DIR` (Debian
/// builds QEMU with fixed paths: without them it reads the system QEMU's firmware and modules).
/// Reused without asking apt again; the unpacked version must be at least ``minimumVersion``.
public enum QEMUBackports {
    public static let source = "deb http://deb.debian.org/debian bookworm-backports main"
    public static let packages = ["qemu-system-arm", "qemu-system-common", "qemu-system-data"]
    /// The first upstream release with the pflash fix.
    public static let minimumVersion = [9, 0, 1]

    public struct Installation: Sendable {
        /// The Debian version of the three packages, e.g. `1:10.0.2+ds-2+deb13u1~bpo12+1`.
        public var debianVersion: String
        /// The first line of `qemu-system-aarch64 --version`.
        public var versionLine: String
        /// The folder the packages were unpacked into.
        public var root: String
        /// A folder whose `qemu-system-aarch64` is the wrapper: put it first on PATH for programs
        /// that start QEMU by name (`flashsmith boot`).
        public var binDirectory: String { "\(root)/bin" }
        /// The wrapper (run it as you would `qemu-system-aarch64`).
        public var aarch64: String { "\(binDirectory)/qemu-system-aarch64" }
        /// PATH with ``binDirectory`` first.
        public var path: String { "\(binDirectory):\(ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin")" }
    }

    /// The unpacked QEMU 10, fetched on first use (13 MB of .debs, 85 MB unpacked).
    public static func install() throws -> Installation {
        let arch = try hostArchitecture()
        return try DebianArtifacts.withCache { cache in
            let base = "\(cache)/qemu-bookworm-backports/\(arch)"
            if let found = try cached(base) { return found }
            let apt = try privateApt(cache: cache, architecture: arch)
            let version = try candidate(apt)
            return try unpack(apt, version: version, into: "\(base)/\(folderName(version))", cache: cache)
        }
    }

    /// The unpacked installations of earlier runs, newest first; the first that runs and is new enough.
    static func cached(_ base: String) throws -> Installation? {
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: base)) ?? []).sorted().reversed()
        for n in names where FileManager.default.fileExists(atPath: "\(base)/\(n)/.complete") {
            let version = (try? String(contentsOfFile: "\(base)/\(n)/.complete", encoding: .utf8))?.split(separator: "\n").first.map(String.init) ?? n
            if let i = try? verified(root: "\(base)/\(n)", debianVersion: version) { return i }
        }
        return nil
    }

    static func hostArchitecture() throws -> String {
        let a = try mustRun("dpkg", ["--print-architecture"]).out.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !a.isEmpty else { throw HarnessError("dpkg --print-architecture printed nothing") }
        return a
    }

    /// `<cache>/apt-bookworm-backports-<arch>`: sources.list with ``source`` only, an empty parts folder,
    /// own lists, status and archives; `apt-get update` on first use.
    static func privateApt(cache: String, architecture: String) throws -> AptContext {
        let d = "\(cache)/apt-bookworm-backports-\(architecture)"
        for sub in ["lists/partial", "cache/archives/partial", "sources.list.d"] {
            try FileManager.default.createDirectory(atPath: "\(d)/\(sub)", withIntermediateDirectories: true)
        }
        if !FileManager.default.fileExists(atPath: "\(d)/status") { _ = FileManager.default.createFile(atPath: "\(d)/status", contents: nil) }
        try Data("\(source)\n".utf8).write(to: URL(fileURLWithPath: "\(d)/sources.list"))
        var options = [
            "-o", "APT::Architecture=\(architecture)", "-o", "APT::Architectures=\(architecture)",
            "-o", "Dir::Etc::SourceList=\(d)/sources.list", "-o", "Dir::Etc::SourceParts=\(d)/sources.list.d",
            "-o", "Dir::State::Lists=\(d)/lists", "-o", "Dir::State::Status=\(d)/status", "-o", "Dir::Cache=\(d)/cache",
        ]
        if getuid() == 0 { options += ["-o", "APT::Sandbox::User=root"] }
        let ctx = AptContext(options: options)
        if !FileManager.default.fileExists(atPath: "\(d)/.updated") {
            try mustRun("apt-get", ctx.options + ["-q", "update"])
            _ = FileManager.default.createFile(atPath: "\(d)/.updated", contents: nil)
        }
        return ctx
    }

    /// The version the lists name, the same for all three packages.
    static func candidate(_ apt: AptContext) throws -> String {
        var versions: [String] = []
        for p in packages {
            let r = try mustRun("apt-cache", apt.options + ["show", "--no-all-versions", p])
            guard let v = r.out.split(separator: "\n").first(where: { $0.hasPrefix("Version: ") }) else {
                throw HarnessError("apt-cache show \(p) (bookworm-backports): no Version line:\n\(r.out)")
            }
            versions.append(String(v.dropFirst("Version: ".count)))
        }
        guard Set(versions).count == 1 else { throw HarnessError("bookworm-backports: \(packages) have different versions \(versions)") }
        return versions[0]
    }

    static func folderName(_ version: String) -> String {
        String(version.map { $0.isLetter || $0.isNumber || $0 == "." || $0 == "+" || $0 == "-" ? $0 : "_" })
    }

    static func unpack(_ apt: AptContext, version: String, into dir: String, cache: String) throws -> Installation {
        let downloads = "\(cache)/downloads/qemu-bookworm-backports"
        try? FileManager.default.removeItem(atPath: downloads)
        try FileManager.default.createDirectory(atPath: downloads, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: downloads) }
        try mustRun("apt-get", apt.options + ["-q", "download"] + packages.map { "\($0)=\(version)" }, cwd: downloads)
        let debs = ((try? FileManager.default.contentsOfDirectory(atPath: downloads)) ?? []).filter { $0.hasSuffix(".deb") }.sorted()
        guard debs.count == packages.count else { throw HarnessError("apt-get download \(packages) left \(debs) in \(downloads)") }
        let staging = "\(dir).partial"
        try? FileManager.default.removeItem(atPath: staging)
        try? FileManager.default.removeItem(atPath: dir)
        try FileManager.default.createDirectory(atPath: staging, withIntermediateDirectories: true)
        var record = "\(version)\n"
        for d in debs {
            try mustRun("dpkg", ["-x", "\(downloads)/\(d)", staging])
            record += "\(d) sha256 \(try mustRun("sha256sum", ["\(downloads)/\(d)"]).out.prefix(64))\n"
        }
        try writeWrapper(root: staging, final: dir)
        _ = try verified(root: staging, debianVersion: version, wrapperRoot: dir)
        try FileManager.default.moveItem(atPath: staging, toPath: dir)
        try Data(record.utf8).write(to: URL(fileURLWithPath: "\(dir)/.complete"))
        return try verified(root: dir, debianVersion: version)
    }

    /// `<root>/bin/qemu-system-aarch64`: the unpacked binary with its own firmware folder and modules.
    static func writeWrapper(root: String, final: String) throws {
        let multiarch = (try? mustRun("dpkg-architecture", ["-qDEB_HOST_MULTIARCH"]).out.trimmingCharacters(in: .whitespacesAndNewlines)) ?? "x86_64-linux-gnu"
        try FileManager.default.createDirectory(atPath: "\(root)/bin", withIntermediateDirectories: true)
        let script = """
            #!/bin/sh
            # QEMU from bookworm-backports, unpacked by the Flashsmith tests (Tests/TestSupport/QEMUBackports.swift).
            export QEMU_MODULE_DIR='\(final)/usr/lib/\(multiarch)/qemu'
            exec '\(final)/usr/bin/qemu-system-aarch64' -L '\(final)/usr/share/qemu' "$@"

            """
        let path = "\(root)/bin/qemu-system-aarch64"
        try Data(script.utf8).write(to: URL(fileURLWithPath: path))
        chmod(path, 0o755)
    }

    /// Runs the binary (`--version`) and checks it is at least ``minimumVersion``. `wrapperRoot`: where
    /// the wrapper will point once the staging folder is renamed (the binary itself is run directly).
    static func verified(root: String, debianVersion: String, wrapperRoot: String? = nil) throws -> Installation {
        let exe = wrapperRoot == nil ? "\(root)/bin/qemu-system-aarch64" : "\(root)/usr/bin/qemu-system-aarch64"
        let r = try mustRun(exe, ["--version"])
        let line = r.out.split(separator: "\n").first.map(String.init) ?? ""
        guard let range = line.range(of: "version ") else { throw HarnessError("\(exe) --version: unexpected output \(line)") }
        let numbers = line[range.upperBound...].prefix { $0.isNumber || $0 == "." }.split(separator: ".").compactMap { Int($0) }
        guard numbers.lexicographicallyPrecedes(minimumVersion) == false else {
            throw HarnessError("\(exe): \(line): older than \(minimumVersion.map(String.init).joined(separator: ".")) (no pflash fix)")
        }
        return Installation(debianVersion: debianVersion, versionLine: line, root: root)
    }
}

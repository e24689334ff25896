import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// U-Boot's sandbox build (U-Boot as a Linux process), 2025.01 from Debian trixie's source package: the
/// first release with an emulated raw-NAND chip (`drivers/mtd/nand/raw/sand_nand.c`), so a NAND
/// flashing script can run in a real U-Boot (../shared/docs/DEVLOOP.md).
///
/// The source: a private deb-src apt state naming trixie only, `apt-get source --download-only u-boot`
/// (the .dsc may 404 and apt exit non-zero: the orig tarball is what counts), the tarball checked
/// against ``tarballSHA256`` and kept. The build: `make sandbox_defconfig`, a config fragment merged,
/// patches applied, `nice -n 5 make -j2 NO_SDL=1`; `u-boot` and `u-boot.dtb` cached under
/// `<cache>/uboot-sandbox/<key>/`, the key a SHA-256 of the tarball's, the fragment's and the patches'
/// bytes and the compiler's version. A clean build takes minutes; later runs take the cached binary.
public enum UBootSandbox {
    public static let debSource = "deb-src http://deb.debian.org/debian trixie main"
    public static let tarball = "u-boot_2025.01.orig.tar.bz2"
    /// Plain upstream v2025.01 as Debian ships it (trixie's u-boot 2025.01-3+deb13u1 names this sha256).
    public static let tarballSHA256 = "cdef7d507c93f1bbd9f015ea9bc21fa074268481405501945abc6f854d5b686f"
    public static let makeArguments = ["-j2", "NO_SDL=1"]

    public struct Build: Sendable {
        public var uboot: String
        public var deviceTree: String
        public var key: String
        /// Seconds the build took in this call (0 when it came from the cache).
        public var buildSeconds: Double
    }

    /// The sandbox U-Boot built from the pinned tarball with `fragment` (Kconfig lines) and `patches`
    /// (`patch -p1`), from the cache when an earlier run built the same.
    public static func build(fragment: String, patches: [String]) throws -> Build {
        let compiler = try mustRun("cc", ["--version"]).out.split(separator: "\n").first.map(String.init) ?? "cc"
        var material = "\(tarballSHA256)\n\(compiler)\n\(makeArguments)\n"
        for f in [fragment] + patches { material += try sha256(f) + "\n" }
        let k = try TestSupport.run("sha256sum", ["-"], stdin: Array(material.utf8))
        guard k.status == 0 else { throw HarnessError("sha256sum: \(k.err)") }
        let key = String(k.out.prefix(16))
        return try DebianArtifacts.withCache { cache in
            let dir = "\(cache)/uboot-sandbox/\(key)"
            let result = Build(uboot: "\(dir)/u-boot", deviceTree: "\(dir)/u-boot.dtb", key: String(key), buildSeconds: 0)
            if FileManager.default.fileExists(atPath: "\(dir)/.complete") { return result }
            let source = try sourceTarball(cache: cache)
            let start = ContinuousClock.now
            try compile(source, fragment: fragment, patches: patches, into: dir, cache: cache)
            let d = ContinuousClock.now - start
            var built = result
            built.buildSeconds = Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
            return built
        }
    }

    /// `<cache>/sources/u-boot_2025.01.orig.tar.bz2`, fetched through the private deb-src state once.
    static func sourceTarball(cache: String) throws -> String {
        let kept = "\(cache)/sources/\(tarball)"
        if FileManager.default.fileExists(atPath: kept) {
            guard try sha256(kept) == tarballSHA256 else { throw HarnessError("\(kept): sha256 is not \(tarballSHA256): remove it to fetch again") }
            return kept
        }
        let d = "\(cache)/apt-trixie-src"
        for sub in ["lists/partial", "cache/archives/partial", "sources.list.d"] {
            try FileManager.default.createDirectory(atPath: "\(d)/\(sub)", withIntermediateDirectories: true)
        }
        if !FileManager.default.fileExists(atPath: "\(d)/status") { _ = FileManager.default.createFile(atPath: "\(d)/status", contents: nil) }
        try Data("\(debSource)\n".utf8).write(to: URL(fileURLWithPath: "\(d)/sources.list"))
        var options = [
            "-o", "Dir::Etc::SourceList=\(d)/sources.list", "-o", "Dir::Etc::SourceParts=\(d)/sources.list.d",
            "-o", "Dir::State::Lists=\(d)/lists", "-o", "Dir::State::Status=\(d)/status", "-o", "Dir::Cache=\(d)/cache",
        ]
        if getuid() == 0 { options += ["-o", "APT::Sandbox::User=root"] }
        try mustRun("apt-get", options + ["-q", "update"])
        let work = "\(cache)/sources/u-boot.partial"
        try? FileManager.default.removeItem(atPath: work)
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: work) }
        // The .dsc may be gone from the mirror (apt then exits non-zero): the tarball is judged by its sha256.
        let r = try run("apt-get", options + ["-q", "source", "--download-only", "u-boot"], cwd: work)
        let got = "\(work)/\(tarball)"
        guard FileManager.default.fileExists(atPath: got) else { throw HarnessError("apt-get source --download-only u-boot (trixie) brought no \(tarball):\n\(r.err)\(r.out)") }
        let sum = try sha256(got)
        guard sum == tarballSHA256 else { throw HarnessError("\(tarball) from trixie: sha256 \(sum), expected \(tarballSHA256)") }
        try FileManager.default.moveItem(atPath: got, toPath: kept)
        return kept
    }

    static func sha256(_ path: String) throws -> String {
        String(try mustRun("sha256sum", [path]).out.prefix(64))
    }

    /// Unpacks, patches, configures and builds in `<cache>/uboot-sandbox/build`; keeps the two outputs.
    static func compile(_ source: String, fragment: String, patches: [String], into dir: String, cache: String) throws {
        let work = "\(cache)/uboot-sandbox/build"
        try? FileManager.default.removeItem(atPath: work)
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: work) }
        try mustRun("tar", ["-xjf", source, "-C", work, "--strip-components=1"])
        for p in patches { try mustRun("patch", ["-p1", "-d", work, "-i", p]) }
        try mustRun("make", ["-C", work, "-s", "sandbox_defconfig", "NO_SDL=1"])
        try mustRun("\(work)/scripts/kconfig/merge_config.sh", ["-m", "\(work)/.config", fragment], cwd: work)
        try mustRun("make", ["-C", work, "-s", "olddefconfig", "NO_SDL=1"])
        // Every line of the fragment must have taken (merge_config only warns).
        let config = try String(contentsOfFile: "\(work)/.config", encoding: .utf8).split(separator: "\n").map(String.init)
        for line in try String(contentsOfFile: fragment, encoding: .utf8).split(separator: "\n") where line.hasPrefix("CONFIG_") {
            guard config.contains(String(line)) else { throw HarnessError("\(fragment): '\(line)' did not take in the sandbox .config") }
        }
        try mustRun("nice", ["-n", "5", "make", "-C", work, "-s"] + makeArguments)
        let staging = "\(dir).partial"
        try? FileManager.default.removeItem(atPath: staging)
        try FileManager.default.createDirectory(atPath: staging, withIntermediateDirectories: true)
        for f in ["u-boot", "u-boot.dtb", ".config"] { try FileManager.default.copyItem(atPath: "\(work)/\(f)", toPath: "\(staging)/\(f)") }
        try? FileManager.default.removeItem(atPath: dir)
        try FileManager.default.moveItem(atPath: staging, toPath: dir)
        _ = FileManager.default.createFile(atPath: "\(dir)/.complete", contents: Data("\(tarball) \(tarballSHA256)\n".utf8))
    }

    /// A raw-NAND chip for sand_nand: the board's geometry, the ID bytes U-Boot's nand_scan decodes
    /// to that geometry, `nand-ecc-mode` (`soft` = Hamming, `soft_bch`), no injected bit flips.
    public struct Chip: Sendable {
        public var id: [UInt8]
        public var pageSize: Int
        public var oobSize: Int
        public var eraseBlockSize: Int
        public var pages: Int
        public var eccMode: String
        public init(id: [UInt8], pageSize: Int, oobSize: Int, eraseBlockSize: Int, pages: Int, eccMode: String) {
            self.id = id
            self.pageSize = pageSize
            self.oobSize = oobSize
            self.eraseBlockSize = eraseBlockSize
            self.pages = pages
            self.eccMode = eccMode
        }
    }

    /// The build's `u-boot.dtb` with one `/nand-controller` holding `chip` (fdtput), written to `path`.
    /// `sandbox,err-count = 0`: the stock test.dtb injects random bit flips on every read.
    public static func deviceTree(base: String, chip: Chip, to path: String) throws {
        guard let fdtput = which("fdtput") else { throw HarnessError("fdtput (device-tree-compiler) not found") }
        try? FileManager.default.removeItem(atPath: path)
        try FileManager.default.copyItem(atPath: base, toPath: path)
        let c = "/nand-controller", n = "/nand-controller/nand@0"
        try mustRun(fdtput, ["-c", path, c, n])
        try mustRun(fdtput, ["-t", "s", path, c, "compatible", "sandbox,nand"])
        try mustRun(fdtput, ["-t", "u", path, c, "#address-cells", "1"])
        try mustRun(fdtput, ["-t", "u", path, c, "#size-cells", "0"])
        try mustRun(fdtput, ["-t", "u", path, n, "reg", "0"])
        try mustRun(fdtput, ["-t", "s", path, n, "nand-ecc-mode", chip.eccMode])
        try mustRun(fdtput, ["-t", "bx", path, n, "sandbox,id"] + chip.id.map { String(format: "%02x", $0) })
        for (k, v) in [
            ("erasesize", chip.eraseBlockSize), ("oobsize", chip.oobSize), ("pagesize", chip.pageSize), ("pages", chip.pages),
            ("err-count", 0), ("err-step-size", 512),
        ] {
            try mustRun(fdtput, ["-t", "u", path, n, "sandbox,\(k)", String(v)])
        }
    }

    /// `u-boot -d DTB -c COMMANDS` in `cwd` (hostfs paths are relative to it); output with the
    /// sandbox console's colour escapes and carriage returns removed.
    public static func execute(_ build: Build, deviceTree: String, commands: String, cwd: String) throws -> RunResult {
        var r = try TestSupport.run(build.uboot, ["-d", deviceTree, "-c", commands], cwd: cwd)
        r.stdout = Array(stripEscapes(r.out).replacingOccurrences(of: "\r", with: "").utf8)
        return r
    }

    static func stripEscapes(_ s: String) -> String {
        var out = ""
        var i = s.startIndex
        while i < s.endIndex {
            if s[i] == "\u{1B}" {
                var j = s.index(after: i)
                if j < s.endIndex, s[j] == "[" {
                    j = s.index(after: j)
                    while j < s.endIndex, !(s[j].isLetter) { j = s.index(after: j) }
                    i = j < s.endIndex ? s.index(after: j) : j
                    continue
                }
            }
            out.append(s[i])
            i = s.index(after: i)
        }
        return out
    }
}

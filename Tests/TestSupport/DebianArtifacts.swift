import Foundation
import RootFS
#if canImport(Glibc)
import Glibc
#endif

public struct HarnessError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Holds an exclusive `flock(2)` on `path` while `body` runs, so concurrent test processes take turns.
public func withFileLock<T>(_ path: String, _ body: () throws -> T) throws -> T {
    var fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o666)
    if fd < 0 && errno == EACCES { fd = open(path, O_RDONLY | O_CLOEXEC) }  // another user's lock file: flock works read-only
    guard fd >= 0 else { throw HarnessError("cannot open lock file \(path): \(String(cString: strerror(errno)))") }
    defer { close(fd) }
    while flock(fd, LOCK_EX) != 0 {
        guard errno == EINTR else { throw HarnessError("flock \(path): \(String(cString: strerror(errno)))") }
    }
    defer { flock(fd, LOCK_UN) }
    return try body()
}

/// Runs a program and throws, with its output, when it fails.
@discardableResult
func mustRun(_ exe: String, _ args: [String], cwd: String? = nil) throws -> RunResult {
    let r = try run(exe, args, cwd: cwd)
    guard r.status == 0 else {
        throw HarnessError("\(exe) \(args.joined(separator: " ")) failed (\(r.status)):\n\(r.err)\(r.out)")
    }
    return r
}

/// Debian packages the QEMU guests need, fetched without root and without touching dpkg's state:
/// `apt-get download` into a cache folder, unpacked with `dpkg -x`, reused on later runs.
public enum DebianArtifacts {
    /// `$FLASHSMITH_QEMU_CACHE`, else `/tmp/flashsmith-qemu-cache`.
    public static var cacheDirectory: String {
        ProcessInfo.processInfo.environment["FLASHSMITH_QEMU_CACHE"] ?? "/tmp/flashsmith-qemu-cache"
    }

    /// An unpacked Debian kernel package.
    public struct Kernel: Sendable {
        /// e.g. `linux-image-6.1.0-56-amd64`, as the metapackage resolved it.
        public var package: String
        /// The kernel release (`uname -r`, the modules folder name), e.g. `6.1.0-56-amd64`.
        public var release: String
        /// The folder the package was unpacked into.
        public var root: String
        public var vmlinuz: String
        /// `<root>/lib/modules/<release>`, with a `modules.dep`.
        public var modulesDirectory: String
    }

    /// Debian's amd64 generic kernel (the only amd64 flavour with `nandsim`), resolved from the
    /// `linux-image-amd64` metapackage. Downloads (~70 MB) and unpacks on first use; later calls reuse
    /// the cache. Concurrent callers (other test processes) wait on a lock file.
    public static func amd64Kernel() throws -> Kernel {
        try kernel(metapackage: "linux-image-amd64", architecture: "amd64")
    }

    /// Debian's arm64 generic kernel, resolved from the `linux-image-arm64` metapackage, fetched with a
    /// private arm64 apt state (dpkg's architectures are left alone). Its `vmlinuz` is a raw arm64
    /// `Image` (QEMU `-kernel`, U-Boot `booti`, or a `-C none` uImage). ~60 MB on first use.
    public static func arm64Kernel() throws -> Kernel {
        try kernel(metapackage: "linux-image-arm64", architecture: "arm64")
    }

    /// The static busybox of Debian's `busybox-static` for `architecture` (for arm64 guests:
    /// `busybox(architecture: "arm64")`; it cannot run on the host, see ``Initramfs/addForeignBusybox(_:)``).
    public static func busybox(architecture: String) throws -> String {
        let root = try package("busybox-static", architecture: architecture)
        let path = "\(root)/bin/busybox"
        guard FileManager.default.fileExists(atPath: path) else { throw HarnessError("busybox-static:\(architecture): no bin/busybox in \(root)") }
        return path
    }

    /// The folder Debian package `name` of `architecture` is unpacked in (`dpkg -x`), fetched on first
    /// use (host architecture: the system's apt lists when they know it; otherwise a private apt state
    /// under the cache) and reused afterwards without asking apt again.
    public static func package(_ name: String, architecture: String) throws -> String {
        try withCache { cache in
            let dir = "\(cache)/\(architecture)/\(name)"
            if FileManager.default.fileExists(atPath: "\(dir)/.complete") { return dir }
            return try unpacked(architecture: architecture, cache: cache, pick: { try $0.require(name) }).root
        }
    }

    /// The .deb files of `names` for `architecture` (no dependencies resolved: name every package),
    /// downloaded on first use into `<cache>/debs/<architecture>/` and kept there, for tests that
    /// unpack them with `flashsmith rootfs sysroot`.
    public static func debs(_ names: [String], architecture: String) throws -> [String] {
        try withCache { cache in
            let folder = "\(cache)/debs/\(architecture)"
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            func existing(_ name: String) -> String? {
                let files = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
                return files.sorted().last { $0.hasPrefix("\(name)_") && $0.hasSuffix(".deb") }.map { "\(folder)/\($0)" }
            }
            var out: [String] = []
            for n in names {
                if let d = existing(n) {
                    out.append(d)
                    continue
                }
                var (apt, _) = try AptContext.make(cache: cache, architecture: architecture, pick: { try $0.require(n) })
                do {
                    out.append(try apt.download(n, into: folder))
                } catch {
                    apt = try AptContext.makePrivate(cache: cache, architecture: architecture, update: true)
                    out.append(try apt.download(n, into: folder))
                }
            }
            return out
        }
    }

    /// The .deb files of `names` and everything they depend on for `architecture`, as apt resolves
    /// them against an empty system (a private apt state: nothing counts as installed), downloaded
    /// once into `<cache>/debs-closure/<architecture>/<names>/` and kept.
    public static func debsWithDependencies(_ names: [String], architecture: String) throws -> [String] {
        try withCache { cache in
            let folder = "\(cache)/debs-closure/\(architecture)/\(names.joined(separator: "+"))"
            func list() -> [String] {
                ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).filter { $0.hasSuffix(".deb") }.sorted().map { "\(folder)/\($0)" }
            }
            if FileManager.default.fileExists(atPath: "\(folder)/.complete") { return list() }
            try? FileManager.default.removeItem(atPath: folder)
            try FileManager.default.createDirectory(atPath: "\(folder)/partial", withIntermediateDirectories: true)
            let apt = try AptContext.makePrivate(cache: cache, architecture: architecture, update: false)
            var options = apt.options + ["-o", "Dir::Cache::archives=\(folder)", "-o", "Debug::NoLocking=1", "-q", "-y", "--no-install-recommends"]
            if getuid() == 0 { options += ["-o", "APT::Sandbox::User=root"] }
            do {
                try mustRun("apt-get", options + ["install", "--download-only"] + names)
            } catch {
                let fresh = try AptContext.makePrivate(cache: cache, architecture: architecture, update: true)
                options = fresh.options + Array(options.dropFirst(apt.options.count))
                try mustRun("apt-get", options + ["install", "--download-only"] + names)
            }
            _ = FileManager.default.createFile(atPath: "\(folder)/.complete", contents: nil)
            return list()
        }
    }

    public static func kernel(metapackage: String, architecture: String) throws -> Kernel {
        try withCache { cache in
            do {
                let (package, dir) = try unpacked(architecture: architecture, cache: cache, pick: { try $0.resolve(metapackage) }) { staging, package in
                    // Debian's kernel packages do not ship modules.dep (postinst runs depmod): make it here.
                    let k0 = try kernel(in: staging, package: package)
                    try depmod(base: staging, release: k0.release)
                }
                return try kernel(in: dir, package: package)
            } catch {
                // Offline, or no package lists: use what an earlier run left, if anything.
                if let k = try? cachedKernels(cache: cache, architecture: architecture).first { return k }
                throw error
            }
        }
    }

    /// Runs `body` with the cache folder, holding its lock (other test processes wait).
    static func withCache<T>(_ body: (String) throws -> T) throws -> T {
        let cache = cacheDirectory
        try FileManager.default.createDirectory(atPath: cache, withIntermediateDirectories: true)
        return try withFileLock("\(cache)/.lock") { try body(cache) }
    }

    /// Unpacks the package `pick` names in an apt context into `<cache>/<architecture>/<package>`
    /// (`dpkg -x` into a staging folder, `prepare(staging, package)`, rename, `.complete`), unless an
    /// earlier run did. When the download fails (the lists are stale: the mirror moved on) the private
    /// lists are refreshed and the package picked again. Call with the cache lock held.
    static func unpacked(
        architecture: String, cache: String, pick: (AptContext) throws -> String,
        prepare: (_ staging: String, _ package: String) throws -> Void = { _, _ in }
    ) throws -> (package: String, root: String) {
        var (apt, package) = try AptContext.make(cache: cache, architecture: architecture, pick: pick)
        func folder() -> String { "\(cache)/\(architecture)/\(package)" }
        if FileManager.default.fileExists(atPath: "\(folder())/.complete") { return (package, folder()) }
        let downloads = "\(cache)/downloads"
        try FileManager.default.createDirectory(atPath: downloads, withIntermediateDirectories: true)
        let deb: String
        do {
            deb = try apt.download(package, into: downloads)
        } catch {
            apt = try AptContext.makePrivate(cache: cache, architecture: architecture, update: true)
            package = try pick(apt)
            if FileManager.default.fileExists(atPath: "\(folder())/.complete") { return (package, folder()) }
            deb = try apt.download(package, into: downloads)
        }
        let dir = folder()
        try? FileManager.default.removeItem(atPath: dir)
        let staging = "\(dir).partial"
        try? FileManager.default.removeItem(atPath: staging)
        try FileManager.default.createDirectory(atPath: staging, withIntermediateDirectories: true)
        try mustRun("dpkg", ["-x", deb, staging])
        try prepare(staging, package)
        try FileManager.default.moveItem(atPath: staging, toPath: dir)
        _ = FileManager.default.createFile(atPath: "\(dir)/.complete", contents: Data(package.utf8))
        try? FileManager.default.removeItem(atPath: deb)
        return (package, dir)
    }

    /// Kernels unpacked by earlier runs.
    static func cachedKernels(cache: String, architecture: String) throws -> [Kernel] {
        let base = "\(cache)/\(architecture)"
        let names = (try? FileManager.default.contentsOfDirectory(atPath: base)) ?? []
        return names.sorted().reversed().compactMap { name in
            let dir = "\(base)/\(name)"
            guard FileManager.default.fileExists(atPath: "\(dir)/.complete") else { return nil }
            return try? kernel(in: dir, package: name)
        }
    }

    static func kernel(in root: String, package: String) throws -> Kernel {
        let boot = (try? FileManager.default.contentsOfDirectory(atPath: "\(root)/boot")) ?? []
        guard let v = boot.sorted().first(where: { $0.hasPrefix("vmlinuz-") }) else {
            throw HarnessError("\(package): no boot/vmlinuz-* in \(root)")
        }
        let release = String(v.dropFirst("vmlinuz-".count))
        for modules in ["\(root)/lib/modules/\(release)", "\(root)/usr/lib/modules/\(release)"]
        where FileManager.default.fileExists(atPath: modules) {
            return Kernel(package: package, release: release, root: root, vmlinuz: "\(root)/boot/\(v)", modulesDirectory: modules)
        }
        throw HarnessError("\(package): no lib/modules/\(release) in \(root)")
    }

    /// `depmod -b BASE RELEASE` with kmod's depmod, else busybox's.
    static func depmod(base: String, release: String) throws {
        // depmod -b wants BASE/lib/modules; a merged-/usr package has usr/lib/modules only.
        if !FileManager.default.fileExists(atPath: "\(base)/lib/modules/\(release)"),
            FileManager.default.fileExists(atPath: "\(base)/usr/lib/modules/\(release)")
        {
            try FileManager.default.createDirectory(atPath: "\(base)/lib", withIntermediateDirectories: true)
            try FileManager.default.createSymbolicLink(atPath: "\(base)/lib/modules", withDestinationPath: "../usr/lib/modules")
        }
        if let d = which("depmod") {
            try mustRun(d, ["-b", base, release])
        } else if let bb = which("busybox") {
            try mustRun(bb, ["depmod", "-b", base, release])
        } else {
            throw HarnessError("neither depmod (kmod) nor busybox is installed")
        }
        guard FileManager.default.fileExists(atPath: "\(base)/lib/modules/\(release)/modules.dep") else {
            throw HarnessError("depmod -b \(base) \(release) wrote no modules.dep")
        }
    }
}

/// How apt is called: the system's package lists when they know the architecture's packages, else a
/// private apt state under the cache (own lists, status and archives; `apt-get update` into it works
/// without root and leaves dpkg and the system's apt state alone).
struct AptContext {
    var options: [String]

    /// The context to use and the package `pick` chooses in it (e.g. what a metapackage resolves to):
    /// the system's lists for the host architecture when `pick` succeeds there, else the private state.
    static func make(cache: String, architecture: String, pick: (AptContext) throws -> String) throws -> (AptContext, String) {
        let host = (try? run("dpkg", ["--print-architecture"]).out.trimmingCharacters(in: .whitespacesAndNewlines)) ?? ""
        if host == architecture {
            let system = AptContext(options: [])
            if let p = try? pick(system) { return (system, p) }
        }
        let ctx = try makePrivate(cache: cache, architecture: architecture, update: false)
        return (ctx, try pick(ctx))
    }

    /// Private lists, status and archives under the cache; `update` forces `apt-get update`.
    static func makePrivate(cache: String, architecture: String, update: Bool) throws -> AptContext {
        let d = "\(cache)/apt-\(architecture)"
        for sub in ["lists/partial", "cache/archives/partial"] {
            try FileManager.default.createDirectory(atPath: "\(d)/\(sub)", withIntermediateDirectories: true)
        }
        if !FileManager.default.fileExists(atPath: "\(d)/status") {
            _ = FileManager.default.createFile(atPath: "\(d)/status", contents: nil)
        }
        let ctx = AptContext(options: [
            "-o", "APT::Architecture=\(architecture)", "-o", "APT::Architectures=\(architecture)",
            "-o", "Dir::State::Lists=\(d)/lists", "-o", "Dir::State::Status=\(d)/status", "-o", "Dir::Cache=\(d)/cache",
        ])
        if update || !FileManager.default.fileExists(atPath: "\(d)/.updated") {
            try mustRun("apt-get", ctx.options + ["-q", "update"])
            _ = FileManager.default.createFile(atPath: "\(d)/.updated", contents: nil)
        }
        return ctx
    }

    /// The package a metapackage depends on (`linux-image-amd64` → `linux-image-6.1.0-NN-amd64`).
    func resolve(_ metapackage: String) throws -> String {
        let r = try mustRun("apt-cache", options + ["depends", "--no-recommends", "--no-suggests", "--no-enhances", metapackage])
        for line in r.out.split(separator: "\n") {
            let t = line.trimmingCharacters(in: .whitespaces)
            guard t.hasPrefix("Depends:") || t.hasPrefix("|Depends:") else { continue }
            let name = t.split(separator: ":", maxSplits: 1)[1].trimmingCharacters(in: .whitespaces)
            if name.hasPrefix("linux-image-"), !name.hasPrefix("<"), name != metapackage { return name }
        }
        throw HarnessError("apt-cache depends \(metapackage): no linux-image-* dependency in:\n\(r.out)")
    }

    /// `package` itself, when these lists know it (`apt-cache show`); throws otherwise.
    func require(_ package: String) throws -> String {
        try mustRun("apt-cache", options + ["show", "--no-all-versions", package])
        return package
    }

    /// `apt-get download PACKAGE` in `folder`; returns the .deb's path.
    func download(_ package: String, into folder: String) throws -> String {
        func existing() -> String? {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
            return names.sorted().last { $0.hasPrefix("\(package)_") && $0.hasSuffix(".deb") }.map { "\(folder)/\($0)" }
        }
        if let deb = existing() { try? FileManager.default.removeItem(atPath: deb) }  // may be a partial one
        try mustRun("apt-get", options + ["-q", "download", package], cwd: folder)
        guard let deb = existing() else { throw HarnessError("apt-get download \(package) left no .deb in \(folder)") }
        return deb
    }
}

/// A busybox initramfs tree for a QEMU guest, written as an uncompressed cpio (newc, owner 0:0),
/// without root: busybox with its applet links, kernel modules with their `modules.dep` closure,
/// host binaries with their shared-library closure, files, and an `/init` that runs `/test.sh`.
public final class Initramfs {
    public let root: String
    private let dir: TempDir
    public private(set) var modules: [String] = []

    public init() throws {
        dir = try TempDir("flashsmith-initramfs")
        root = dir.file("root")
        for d in ["bin", "sbin", "usr/bin", "usr/sbin", "proc", "sys", "dev", "tmp", "run", "mnt", "etc", "root", "var/lock", "var/run"] {
            try FileManager.default.createDirectory(atPath: "\(root)/\(d)", withIntermediateDirectories: true)
        }
        try addFile("/etc/passwd", "root:x:0:0:root:/root:/bin/sh\n")
        try addFile("/etc/group", "root:x:0:\n")
    }

    /// The static busybox as `/bin/busybox` and a link for every applet (`busybox --list-full`).
    public func addBusybox(_ hostPath: String? = nil) throws {
        guard let bb = hostPath ?? which("busybox") else { throw HarnessError("busybox not found") }
        try addBinary(bb, at: "/bin/busybox")
        let list = try mustRun(bb, ["--list-full"]).out
        for applet in list.split(separator: "\n") {
            let dest = "\(root)/\(applet)"
            guard !exists(dest) else { continue }
            try FileManager.default.createDirectory(atPath: (dest as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try FileManager.default.createSymbolicLink(atPath: dest, withDestinationPath: "/bin/busybox")
        }
        // The kernel's request_module() helper.
        if !exists("\(root)/sbin/modprobe") {
            try FileManager.default.createSymbolicLink(atPath: "\(root)/sbin/modprobe", withDestinationPath: "/bin/busybox")
        }
    }

    /// A static busybox built for another architecture (e.g. ``DebianArtifacts/busybox(architecture:)``
    /// with `arm64`) as `/bin/busybox` and `/bin/sh`. It cannot run here to list its applets, so `/init`
    /// starts with `/bin/busybox --install -s` (absolute path: works before /proc is mounted).
    public func addForeignBusybox(_ path: String) throws {
        try copyResolved(path, to: "/bin/busybox")
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: "\(root)/bin/busybox")
        try FileManager.default.createSymbolicLink(atPath: "\(root)/bin/sh", withDestinationPath: "busybox")
        installAppletsAtBoot = true
    }

    /// Set by ``addForeignBusybox(_:)``: `/init` makes the applet links first.
    public private(set) var installAppletsAtBoot = false

    /// `names` and every module they depend on (closure over the kernel's `modules.dep`), then
    /// `depmod -b` over the tree so the guest's `modprobe` resolves them.
    public func addModules(_ names: [String], kernel: DebianArtifacts.Kernel) throws {
        let closure = try ModulesLayer(tree: kernel.modulesDirectory, names: names).closure().modules
        let dest = "\(root)/lib/modules/\(kernel.release)"
        for p in closure {
            let target = "\(dest)/\(p)"
            try FileManager.default.createDirectory(atPath: (target as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            if !exists(target) { try FileManager.default.copyItem(atPath: "\(kernel.modulesDirectory)/\(p)", toPath: target) }
        }
        for f in ["modules.order", "modules.builtin", "modules.builtin.modinfo"] where exists("\(kernel.modulesDirectory)/\(f)") {
            if !exists("\(dest)/\(f)") { try FileManager.default.copyItem(atPath: "\(kernel.modulesDirectory)/\(f)", toPath: "\(dest)/\(f)") }
        }
        modules += closure.filter { !modules.contains($0) }
        try DebianArtifacts.depmod(base: root, release: kernel.release)
    }

    /// Copies the host binary `hostPath` (symlinks followed) to `dest` (default: the same path) and
    /// every shared library `ldd` lists to the same path it has on the host (symlinks followed, so
    /// `/lib64/ld-linux-x86-64.so.2` lands as a file). Static binaries need nothing more.
    public func addBinary(_ hostPath: String, at dest: String? = nil) throws {
        let real = URL(fileURLWithPath: hostPath).resolvingSymlinksInPath().path
        try copyResolved(real, to: dest ?? hostPath)
        let r = try run("ldd", [real])
        if r.status != 0 {
            if (r.out + r.err).contains("not a dynamic executable") { return }
            throw HarnessError("ldd \(real) failed: \(r.err)")
        }
        for line in r.out.split(separator: "\n") {
            if line.contains("not found") { throw HarnessError("ldd \(real): \(line.trimmingCharacters(in: .whitespaces))") }
            for token in line.split(whereSeparator: { $0 == " " || $0 == "\t" }) where token.hasPrefix("/") {
                try copyResolved(String(token), to: String(token))
            }
        }
    }

    private func copyResolved(_ hostPath: String, to dest: String) throws {
        let target = root + (dest.hasPrefix("/") ? dest : "/" + dest)
        if let attrs = try? FileManager.default.attributesOfItem(atPath: target) {
            // A busybox applet link is replaced by the real tool; a library already copied stays.
            guard attrs[.type] as? FileAttributeType == .typeSymbolicLink else { return }
            try FileManager.default.removeItem(atPath: target)
        }
        try FileManager.default.createDirectory(atPath: (target as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        let real = URL(fileURLWithPath: hostPath).resolvingSymlinksInPath().path
        try FileManager.default.copyItem(atPath: real, toPath: target)
    }

    /// Writes `contents` at `dest` inside the tree.
    public func addFile(_ dest: String, _ contents: String, mode: Int = 0o644) throws {
        try addFile(dest, Array(contents.utf8), mode: mode)
    }

    public func addFile(_ dest: String, _ contents: [UInt8], mode: Int = 0o644) throws {
        let target = root + (dest.hasPrefix("/") ? dest : "/" + dest)
        try FileManager.default.createDirectory(atPath: (target as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try Data(contents).write(to: URL(fileURLWithPath: target))
        try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: target)
    }

    /// `/init`: mounts proc, sys, devtmpfs and tmpfs, runs `/test.sh`, prints
    /// `<resultMarker> rc=<status>` and powers off (`poweroff -f`: QEMU exits).
    public func setInit(testScript: String, resultMarker: String = Initramfs.defaultResultMarker) throws {
        try addFile("/test.sh", testScript, mode: 0o755)
        try addFile("/init", Self.initScript(resultMarker: resultMarker, installApplets: installAppletsAtBoot), mode: 0o755)
    }

    public static let defaultResultMarker = "FLASHSMITH-GUEST-RESULT"

    public static func initScript(resultMarker: String, installApplets: Bool = false) -> String {
        """
        #!/bin/sh
        \(installApplets ? "/bin/busybox --install -s\n" : "")export PATH=/bin:/sbin:/usr/bin:/usr/sbin
        mount -t proc proc /proc
        mount -t sysfs sysfs /sys
        mount -t devtmpfs devtmpfs /dev
        exec </dev/console >/dev/console 2>&1
        mount -t tmpfs tmpfs /tmp
        mount -t tmpfs tmpfs /run
        echo /sbin/modprobe > /proc/sys/kernel/modprobe
        dmesg -n 1
        echo "FLASHSMITH-GUEST-UP uptime=$(cut -d' ' -f1 /proc/uptime)"
        /test.sh
        rc=$?
        echo "\(resultMarker) rc=$rc uptime=$(cut -d' ' -f1 /proc/uptime)"
        sync
        poweroff -f

        """
    }

    /// The tree as a `cpio -o -H newc -R 0:0` archive, uncompressed (the kernel unpacks it as is) or,
    /// with `gzip`, through `gzip -9n`.
    public func write(to path: String, gzip: Bool = false) throws {
        try mustRun("/bin/sh", ["-c", "cd \"$1\" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet > \"$2\"", "sh", root, path])
        if gzip {
            try mustRun("/bin/sh", ["-c", "gzip -9n < \"$1\" > \"$1.gz\" && mv \"$1.gz\" \"$1\"", "sh", path])
        }
    }

    private func exists(_ path: String) -> Bool {
        (try? FileManager.default.attributesOfItem(atPath: path)) != nil
    }
}

import Foundation
import Testing
import TestSupport
@testable import RootFS

/// Modules (closure over modules.dep, the modules.* files kept to what is taken), bundles into an
/// image whose folders differ from the sysroot's, overlays (hard links, skipped names, modes).
@Suite struct LayersTests {
    /// A modules tree made by hand: a.ko needs b.ko needs c.ko; d.ko alone.
    func modulesTree(_ dir: TempDir) throws -> String {
        let root = dir.file("lib/modules/6.1.0-test")
        for sub in ["kernel/fs/a", "kernel/lib", "kernel/drivers/d"] {
            try FileManager.default.createDirectory(atPath: "\(root)/\(sub)", withIntermediateDirectories: true)
        }
        for (p, body) in [("kernel/fs/a/a-mod.ko", "A"), ("kernel/lib/b.ko", "B"), ("kernel/lib/c.ko.xz", "C"), ("kernel/drivers/d/d.ko", "D")] {
            _ = try dir.write("lib/modules/6.1.0-test/\(p)", body)
        }
        _ = try dir.write(
            "lib/modules/6.1.0-test/modules.dep",
            "kernel/fs/a/a-mod.ko: kernel/lib/b.ko kernel/lib/c.ko.xz\nkernel/lib/b.ko: kernel/lib/c.ko.xz\nkernel/lib/c.ko.xz:\nkernel/drivers/d/d.ko:\n"
        )
        _ = try dir.write("lib/modules/6.1.0-test/modules.alias", "# Aliases extracted from modules themselves.\nalias fs-a a_mod\nalias pci:v1234* d\nalias crypto-c c\n")
        _ = try dir.write("lib/modules/6.1.0-test/modules.order", "kernel/fs/a/a-mod.ko\nkernel/lib/b.ko\nkernel/lib/c.ko.xz\nkernel/drivers/d/d.ko\n")
        _ = try dir.write("lib/modules/6.1.0-test/modules.softdep", "softdep a_mod pre: d\nsoftdep d post: b\n")
        _ = try dir.write("lib/modules/6.1.0-test/modules.builtin", "kernel/fs/ext4/ext4.ko\n")
        _ = try dir.write("lib/modules/6.1.0-test/modules.dep.bin", "binary")
        return dir.path
    }

    @Test func moduleClosureAndIndexes() throws {
        let dir = try TempDir()
        let tree = try modulesTree(dir)
        var m = Manifest(sourceDateEpoch: 0)
        // Names as modprobe takes them: '-' and '_' are the same.
        try ModulesLayer(tree: tree, names: ["a_mod"]).apply(to: &m)
        let base = "/lib/modules/6.1.0-test"
        #expect(m["\(base)/kernel/fs/a/a-mod.ko"] != nil && m["\(base)/kernel/lib/b.ko"] != nil && m["\(base)/kernel/lib/c.ko.xz"] != nil)
        #expect(m["\(base)/kernel/drivers/d/d.ko"] == nil)
        func text(_ f: String) throws -> String { String(decoding: try m.contents(try #require(m["\(base)/\(f)"])), as: UTF8.self) }
        #expect(try text("modules.dep") == "kernel/fs/a/a-mod.ko: kernel/lib/b.ko kernel/lib/c.ko.xz\nkernel/lib/b.ko: kernel/lib/c.ko.xz\nkernel/lib/c.ko.xz:\n")
        #expect(try text("modules.alias") == "# Aliases extracted from modules themselves.\nalias fs-a a_mod\nalias crypto-c c\n")
        #expect(try text("modules.order") == "kernel/fs/a/a-mod.ko\nkernel/lib/b.ko\nkernel/lib/c.ko.xz\n")
        #expect(try text("modules.softdep") == "softdep a_mod pre: d\n")
        #expect(try text("modules.builtin") == "kernel/fs/ext4/ext4.ko\n")
        #expect(m["\(base)/modules.dep.bin"] == nil, "kmod's binary indexes would name modules that are not there")
        // The same tree named at its release folder.
        var m2 = Manifest(sourceDateEpoch: 0)
        try ModulesLayer(tree: "\(tree)/lib/modules/6.1.0-test", names: ["d"]).apply(to: &m2)
        #expect(m2["\(base)/kernel/drivers/d/d.ko"] != nil)
    }

    @Test func unknownModuleAndMissingDepAreErrors() throws {
        let dir = try TempDir()
        let tree = try modulesTree(dir)
        var m = Manifest(sourceDateEpoch: 0)
        do {
            try ModulesLayer(tree: tree, names: ["nosuch"]).apply(to: &m)
            Issue.record("expected an error")
        } catch {
            #expect(String(describing: error).contains("modules.dep: module 'nosuch'"), "\(error)")
        }
        try FileManager.default.removeItem(atPath: dir.file("lib/modules/6.1.0-test/modules.dep"))
        do {
            try ModulesLayer(tree: tree, names: ["d"]).apply(to: &m)
            Issue.record("expected an error")
        } catch {
            #expect(String(describing: error).contains("depmod -b"), "\(error)")
        }
    }

    /// The host is merged-/usr (/lib -> usr/lib); the image keeps a real /lib folder. Every path the
    /// loader opens must still lead to the bundled file.
    @Test func bundleIntoAnImageWithOtherFolders() throws {
        guard filesAvailable("/usr/bin/zstd") else { return }
        var m = Manifest(sourceDateEpoch: 0)
        for d in ["/lib", "/bin", "/usr/lib", "/usr/bin"] { try m.add(Manifest.Entry(path: d, kind: .directory, mode: 0o755, source: "non-merged skeleton")) }
        try BundleLayer(binaries: ["/usr/bin/zstd"]).apply(to: &m)
        let closure = try SharedLibraryClosure.compute(binaries: ["/usr/bin/zstd"], sysroot: Sysroot("/"))
        #expect(!closure.requests.isEmpty)
        for r in closure.requests {
            let end = try #require(m.resolve(r.path), "\(r.path) leads nowhere in the image")
            #expect(m[end]?.kind == .file, "\(r.path) → \(end)")
            #expect(end == m.place(r.real))
        }
        #expect(m["/lib"]?.kind == .directory, "the image's folder was kept")
        // A missing binary is an error that names it.
        #expect(throws: BundleLayer.Failure.self) { try BundleLayer(binaries: ["/usr/bin/no-such-tool"]).apply(to: &m) }
    }

    @Test func overlayHardLinksSkipsAndModes() throws {
        let dir = try TempDir()
        let fm = FileManager.default
        try fm.createDirectory(atPath: dir.file("o/.git"), withIntermediateDirectories: true)
        try fm.createDirectory(atPath: dir.file("o/etc"), withIntermediateDirectories: true)
        _ = try dir.write("o/etc/a", "x")
        link(dir.file("o/etc/a"), dir.file("o/etc/b"))
        _ = try dir.write("o/etc/a~", "backup")
        _ = try dir.write("o/.git/config", "no")
        _ = try dir.write("o/etc/secret", "s")
        chmod(dir.file("o/etc/secret"), 0o600)
        var m = Manifest(sourceDateEpoch: 0)
        try OverlayLayer(folder: dir.file("o")).apply(to: &m)
        #expect(m["/etc/a"]?.kind == .file && m["/etc/b"]?.kind == .hardlink && m["/etc/b"]?.target == "/etc/a")
        #expect(m["/etc/a~"] == nil && m["/.git"] == nil)
        #expect(m["/etc/secret"]?.mode == 0o600 && m["/etc/secret"]?.uid == 0)
        var n = Manifest(sourceDateEpoch: 0)
        var o = OverlayLayer(folder: dir.file("o"))
        o.modes = .normalise
        try o.apply(to: &n)
        #expect(n["/etc/secret"]?.mode == 0o644)
    }
}

@Suite struct ModulesMergeTests {
    @Test func twoModulesLayersKeepBothIndexes() throws {
        let dir = try TempDir()
        let tree = try LayersTests().modulesTree(dir)
        var m = Manifest(sourceDateEpoch: 0)
        try ModulesLayer(tree: tree, names: ["d"]).apply(to: &m)
        try ModulesLayer(tree: tree, names: ["b"]).apply(to: &m)
        let dep = String(decoding: try m.contents(try #require(m["/lib/modules/6.1.0-test/modules.dep"])), as: UTF8.self)
        #expect(dep == "kernel/drivers/d/d.ko:\nkernel/lib/b.ko: kernel/lib/c.ko.xz\nkernel/lib/c.ko.xz:\n")
    }
}

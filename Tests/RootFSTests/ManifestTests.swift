import Foundation
import Testing
import TestSupport
@testable import RootFS

/// The manifest's rules: order, placement through its own symlinks (never out of the root),
/// conflicts between layers, hard links and numbering.
@Suite struct ManifestTests {
    func entry(_ path: String, _ kind: Manifest.Kind = .file, _ source: String = "test", target: String = "") -> Manifest.Entry {
        var e = Manifest.Entry(path: path, kind: kind, mode: kind == .directory ? 0o755 : 0o644, source: source)
        e.target = target
        if kind == .file { e.content = .bytes(Array(path.utf8)) }
        e.mtime = 1_000_000
        return e
    }

    @Test(arguments: [
        ("/a", "/a/b", true), ("/a/b", "/a-b", true), ("/a-b", "/a/b", false), ("/", "/a", true), ("/a", "/a", false),
        ("/bin", "/bin/sh", true), ("/bin/sh", "/boot", true), ("/usr/lib/x", "/usr/lib64", true),
    ])
    func order(a: String, b: String, expected: Bool) {
        #expect(Manifest.precedes(a, b) == expected)
    }

    @Test func parentsAreCreatedAndTimesClamped() throws {
        var m = Manifest(sourceDateEpoch: 500)
        try m.add(entry("/usr/share/doc/x"))
        #expect(m["/usr"]?.kind == .directory)
        #expect(m["/usr/share/doc"]?.kind == .directory)
        #expect(m["/usr/share/doc/x"]?.mtime == 500)
        #expect(m.sorted().map(\.path) == ["/", "/usr", "/usr/share", "/usr/share/doc", "/usr/share/doc/x"])
    }

    @Test func placementFollowsTheImagesOwnSymlinksInsideTheRoot() throws {
        var m = Manifest(sourceDateEpoch: 0)
        try m.add(entry("/usr/bin", .directory))
        try m.add(entry("/bin", .symlink, target: "usr/bin"))
        try m.add(entry("/bin/sh"))
        #expect(m["/usr/bin/sh"] != nil)
        #expect(m["/bin/sh"] == nil)
        // An absolute link, and one climbing out with .., stay inside the image.
        try m.add(entry("/evil", .symlink, target: "../../../../tmp/outside"))
        try m.add(entry("/evil/x"))
        #expect(m["/tmp/outside/x"] != nil)
        try m.add(entry("/abs", .symlink, target: "/opt"))
        try m.add(entry("/abs/y"))
        #expect(m["/opt/y"] != nil)
        #expect(m.resolve("/bin/sh") == "/usr/bin/sh")
    }

    @Test func aLinkLoopIsAnErrorNotAHang() throws {
        var m = Manifest(sourceDateEpoch: 0)
        try m.add(entry("/etc", .symlink, target: "/etc"))
        #expect(throws: Manifest.Conflict.self) { try m.add(entry("/etc/passwd")) }
    }

    @Test func anotherKindIsAConflictNamingBothSources() throws {
        var m = Manifest(sourceDateEpoch: 0)
        try m.add(entry("/etc/motd", .file, "overlay A"))
        do {
            try m.add(entry("/etc/motd", .directory, "overlay B"))
            Issue.record("expected a conflict")
        } catch let c as Manifest.Conflict {
            #expect(c.message.contains("overlay A") && c.message.contains("overlay B") && c.message.contains("/etc/motd"))
        }
        // The same kind replaces; 'replace' allows another kind and drops what was below.
        try m.add(entry("/etc/motd", .file, "overlay C"))
        #expect(m["/etc/motd"]?.source == "overlay C")
        try m.add(entry("/etc/x/y", .file))
        try m.add(entry("/etc/x", .symlink, "overlay D", target: "y"), replace: true)
        #expect(m["/etc/x"]?.kind == .symlink)
        #expect(m["/etc/x/y"] == nil)
    }

    @Test func dotDotIsRefused() {
        var m = Manifest(sourceDateEpoch: 0)
        #expect(throws: Manifest.Conflict.self) { try m.add(entry("/etc/../../x")) }
    }

    @Test func hardLinksShareAnInodeAndTheFirstNameHoldsTheData() throws {
        var m = Manifest(sourceDateEpoch: 0)
        try m.add(entry("/usr/bin/busybox"))
        try m.add(entry("/bin/sh", .hardlink, target: "/usr/bin/busybox"))
        try m.add(entry("/usr/bin/zz", .hardlink, target: "/usr/bin/busybox"))
        let plan = try OutputPlan(m)
        let byPath = Dictionary(uniqueKeysWithValues: plan.items.map { ($0.entry.path, $0) })
        let a = try #require(byPath["/bin/sh"])
        let b = try #require(byPath["/usr/bin/busybox"])
        let c = try #require(byPath["/usr/bin/zz"])
        #expect(a.inode == b.inode && b.inode == c.inode)
        #expect(a.links == 3)
        #expect(a.linkIndex == 0 && b.linkIndex == 1 && c.linkIndex == 2)
        #expect(plan.isLastLink(c) && !plan.isLastLink(a))
        // Inode numbers are counted in order from 1, with no gaps.
        let inodes = Set(plan.items.map(\.inode))
        #expect(inodes == Set(1...Int64(inodes.count)))
        // A directory counts 2 + its subfolders.
        #expect(byPath["/usr"]?.links == 3)
    }

    @Test func aHardLinkToNothingIsReported() throws {
        var m = Manifest(sourceDateEpoch: 0)
        try m.add(entry("/x", .hardlink, target: "/missing"))
        #expect(throws: OutputPlan.Failure.self) { try OutputPlan(m) }
    }
}

@Suite struct CapabilitiesTests {
    /// Values as libcap's setcap writes them (made with `setcap TEXT f` and read back with Python's os.getxattr on Debian 12).
    @Test(arguments: [
        ("cap_net_raw+ep", "0100000200200000000000000000000000000000"),
        ("cap_net_raw+p", "0000000200200000000000000000000000000000"),
        ("cap_net_admin,cap_net_raw=eip", "0100000200300000003000000000000000000000"),
        ("cap_checkpoint_restore+ep", "0100000200000000000000000001000000000000"),
        ("cap_sys_admin+ep cap_sys_admin-e", "0000000200002000000000000000000000000000"),
    ])
    func xattrBytes(text: String, hex: String) throws {
        let c = try Capabilities.parse(text, context: "test")
        #expect(c.xattr().map { String(format: "%02x", $0) }.joined() == hex)
        #expect(Capabilities.decode(c.xattr()) != nil)
    }

    @Test func unknownNamesAreErrors() {
        #expect(throws: Capabilities.Failure.self) { try Capabilities.parse("cap_flying+ep", context: "t") }
        #expect(throws: Capabilities.Failure.self) { try Capabilities.parse("cap_net_raw", context: "t") }
    }
}

@Suite struct PathNormalTests {
    @Test(arguments: [
        ("/", true), ("/a", true), ("/a/b.c", true), ("/a/...", true), ("/.hidden", true), ("/a/..b", true),
        ("", false), ("a", false), ("/a/", false), ("//a", false), ("/a//b", false), ("/./a", false), ("/a/.", false), ("/a/..", false), ("/../a", false),
    ])
    func isNormal(path: String, expected: Bool) throws {
        #expect(Manifest.isNormal(path) == expected)
        if expected { #expect(try Manifest.normalise(path, context: "t") == path) }
    }
}

import Foundation
import Testing
import TestSupport
@testable import Migration
@testable import RootFS

/// The pieces of CRIU-on-the-device that run without a guest: the lists that must agree, the
/// `migrate` script's request handling and its failure paths under busybox on the host, and the
/// content manifest read back by `sha256sum -c`.
@Suite struct MigrateScriptTests {
    static let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
    static let migrate = "\(repo)/rootfs-skeletons/criu/tree/usr/bin/migrate"

    @Test func moduleListsAgree() throws {
        let kconfigModules = KernelFeature.criu.requirements.compactMap(\.module)
        #expect(CRIULayer.kernelModules == kconfigModules, "the criu layer loads what kconfig check names, in the same order")
        let file = try String(contentsOfFile: "\(Self.repo)/rootfs-skeletons/criu/tree/etc/modules.d/criu", encoding: .utf8)
        let listed = file.split(separator: "\n").filter { !$0.hasPrefix("#") && !$0.isEmpty }.map(String.init)
        #expect(listed == CRIULayer.kernelModules)
    }

    /// A folder of busybox applet links, so the script sees busybox's nc, sha256sum, tar….
    static func busyboxPath(_ dir: TempDir) throws -> String {
        let bin = dir.file("bin")
        try FileManager.default.createDirectory(atPath: bin, withIntermediateDirectories: true)
        for applet in ["sh", "nc", "sha256sum", "cut", "awk", "sed", "sort", "tr", "cat", "readlink", "mkdir", "rm", "du", "tar", "grep", "kill", "ps", "wc", "sleep", "ls", "mv", "setsid", "unshare"] {
            try FileManager.default.createSymbolicLink(atPath: "\(bin)/\(applet)", withDestinationPath: "/bin/busybox")
        }
        return bin
    }

    @Test func checkRequestsNameWhatDiffers() throws {
        guard toolsAvailable("busybox"), filesAvailable("/bin/busybox") else { return }
        let dir = try TempDir()
        let bin = try Self.busyboxPath(dir)
        let same = try dir.write("same.txt", "identical\n")
        let other = try dir.write("other.txt", "changed here\n")
        let hash = { (p: String) throws -> String in String(try run("/bin/busybox", ["sha256sum", p]).out.prefix(64)) }
        let request = """
            FLASHSMITH-MIGRATE 2 CHECK none
            \(try hash(same))  \(same)
            \(String(repeating: "0", count: 64))  \(other)
            \(try hash(same))  \(dir.file("gone.txt"))
            dir \(dir.path)
            dir \(dir.file("nofolder"))
            dir\u{20}

            """
        let env = ["PATH": bin, "MIGRATE_STATE": dir.file("state")]
        let r = try run("/bin/busybox", ["sh", Self.migrate, "handle"], stdin: Array(request.utf8), environment: env)
        #expect(r.status == 0, "\(r.err)")
        #expect(r.out == "REFUSED\ndiffers \(other)\nmissing \(dir.file("gone.txt"))\nmissing folder \(dir.file("nofolder"))\n", "\(r.out)")
        let ok = "FLASHSMITH-MIGRATE 2 CHECK none\n\(try hash(same))  \(same)\ndir \(dir.path)\n"
        let o = try run("/bin/busybox", ["sh", Self.migrate, "handle"], stdin: Array(ok.utf8), environment: env)
        #expect(o.out == "OK 2 files and folders identical (same image)\n", "\(o.out)\(o.err)")
        let junk = try run("/bin/busybox", ["sh", Self.migrate, "handle"], stdin: Array("GET / HTTP/1.0\n".utf8), environment: env)
        #expect(junk.out.hasPrefix("FAILED"))
        // A peer of the old protocol (the tree not stopped before the dump) is not one.
        let old = try run("/bin/busybox", ["sh", Self.migrate, "handle"], stdin: Array(ok.replacingOccurrences(of: "MIGRATE 2", with: "MIGRATE 1").utf8), environment: env)
        #expect(old.out == "FAILED not a migrate request (expected FLASHSMITH-MIGRATE 2)\n", "\(old.out)")
    }

    /// Nobody listening: the process is not touched (never stopped), the message says so.
    @Test func unreachableDestinationLeavesTheProcessAlone() throws {
        guard toolsAvailable("busybox"), filesAvailable("/bin/busybox") else { return }
        let dir = try TempDir()
        let bin = try Self.busyboxPath(dir)
        let sleeper = Process()
        sleeper.executableURL = URL(fileURLWithPath: "/bin/sleep")
        sleeper.arguments = ["30"]
        try sleeper.run()
        defer {
            // SIGKILL: Process passes on the test thread's signal mask, in which SIGTERM is blocked.
            kill(sleeper.processIdentifier, SIGKILL)
            sleeper.waitUntilExit()
        }
        let pid = String(sleeper.processIdentifier)
        let r = try run("/bin/busybox", ["sh", Self.migrate, "send", pid, "127.0.0.1:1"], environment: ["PATH": bin, "MIGRATE_STATE": dir.file("state")])
        #expect(r.status == 1)
        #expect(r.err.contains("cannot reach 127.0.0.1:1") && r.err.contains("process \(pid) keeps running here"), "\(r.err)")
        let state = try String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8).split(separator: " ")[2]
        #expect(state == "S", "the process was never stopped: state \(state)")
        let none = try run("/bin/busybox", ["sh", Self.migrate, "send", "999999", "127.0.0.1"], environment: ["PATH": bin])
        #expect(none.status == 1 && none.err.contains("no process 999999"))
    }

    /// The content manifest lists every regular file; sha256sum -c accepts it against the tree.
    @Test func contentManifestChecksOut() throws {
        guard toolsAvailable("sha256sum"), filesAvailable(flashsmithPath) else { return }
        let dir = try TempDir()
        let b = try flashsmith("rootfs", "build", "--skeleton", "base", "--content-manifest", "-o", dir.file("tree"))
        try #require(b.status == 0, "\(b.err)")
        let manifest = try String(contentsOfFile: dir.file("tree/usr/share/flashsmith/content.sha256"), encoding: .utf8)
        #expect(manifest.contains("  /etc/passwd\n") && !manifest.contains("content.sha256"))
        let relative = manifest.replacingOccurrences(of: "  /", with: "  ./")
        let c = try run(try #require(which("sha256sum")), ["-c", "--quiet", "-"], stdin: Array(relative.utf8), cwd: dir.file("tree"))
        #expect(c.status == 0, "\(c.out)\(c.err)")
    }
}

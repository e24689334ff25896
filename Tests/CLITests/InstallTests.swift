import Foundation
import Testing
import TestSupport

/// `scripts/install.sh`: the binary, skeletons, layouts, man pages and completions under a prefix,
/// and an installed binary that works outside the checkout (it finds its skeletons in
/// `PREFIX/share/flashsmith/`).
@Suite struct InstallTests {
    static var checkout: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
    }

    @Test func installedBinaryWorksOutsideTheCheckout() throws {
        guard filesAvailable(flashsmithPath), toolsAvailable("man", "bash", "python3") else { return }
        let dir = try TempDir()
        let prefix = dir.file("prefix")
        // The debug binary stands in for the release one (same CLI, so the same pages).
        let r = try run("/bin/bash", [Self.checkout + "/scripts/install.sh", "--prefix", prefix, "--binary", flashsmithPath], cwd: Self.checkout)
        try #require(r.status == 0, "install.sh failed: \(r.out)\(r.err)")
        for f in [
            "bin/flashsmith", "share/flashsmith/rootfs-skeletons/base/skeleton.yaml", "share/flashsmith/layouts/qemu-arm64/board.yaml",
            "share/man/man1/flashsmith.1", "share/man/man1/flashsmith.rootfs.build.1", "share/bash-completion/completions/flashsmith",
            "share/zsh/site-functions/_flashsmith", "share/fish/vendor_completions.d/flashsmith.fish",
        ] {
            #expect(FileManager.default.fileExists(atPath: "\(prefix)/\(f)"), "missing \(f)")
        }

        // Run from a folder outside the checkout, with nothing pointing back at it.
        let away = dir.file("elsewhere")
        try FileManager.default.createDirectory(atPath: away, withIntermediateDirectories: true)
        var env = ProcessInfo.processInfo.environment
        env["FLASHSMITH_SKELETONS"] = nil
        let b = try run("\(prefix)/bin/flashsmith", ["rootfs", "build", "--skeleton", "base", "-o", "r.tar"], cwd: away, environment: env)
        #expect(b.status == 0, "\(b.out)\(b.err)")
        let ls = try run("\(prefix)/bin/flashsmith", ["rootfs", "ls", "r.tar"], cwd: away, environment: env)
        #expect(ls.out.contains("./etc/inittab"), "\(ls.out)\(ls.err)")
        // A shipped board by its name: PREFIX/share/flashsmith/layouts/nandsim.
        let show = try run("\(prefix)/bin/flashsmith", ["nand", "show", "nandsim", "--mtdparts"], cwd: away, environment: env)
        #expect(show.status == 0 && show.out.contains("nandsim:"), "\(show.out)\(show.err)")

        // The manual renders without warnings and documents a verb's options; the bash completion parses.
        let man = try run(try #require(which("man")), ["--warnings", "-l", "\(prefix)/share/man/man1/flashsmith.rootfs.build.1"], cwd: away, environment: env.merging(["MANWIDTH": "100", "MAN_KEEP_FORMATTING": "0"]) { $1 })
        #expect(man.status == 0 && man.out.contains("--skeleton"), "\(man.out.prefix(400))\(man.err)")
        #expect(man.err.isEmpty, "groff warnings: \(man.err)")
        let bash = try run("/bin/bash", ["-n", "\(prefix)/share/bash-completion/completions/flashsmith"])
        #expect(bash.status == 0, "\(bash.err)")

        // A second install over the first replaces it (no leftovers beside).
        let again = try run("/bin/bash", [Self.checkout + "/scripts/install.sh", "--prefix", prefix, "--binary", flashsmithPath], cwd: Self.checkout)
        #expect(again.status == 0, "\(again.err)")
        let share = try FileManager.default.contentsOfDirectory(atPath: "\(prefix)/share/flashsmith").sorted()
        #expect(share == ["layouts", "rootfs-skeletons"], "\(share)")
    }

    @Test func unknownOptionIsRefused() throws {
        guard toolsAvailable("bash") else { return }
        let r = try run("/bin/bash", [Self.checkout + "/scripts/install.sh", "--prefx", "/tmp/x"], cwd: Self.checkout)
        #expect(r.status == 2 && r.err.contains("--prefx"), "\(r.err)")
    }
}

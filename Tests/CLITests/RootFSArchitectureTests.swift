import Foundation
import Testing
import TestSupport

/// A rootfs for one architecture holds only that architecture: bundled ELF files must match the
/// busybox's (or `--arch`'s) machine, and an applet that a bundled tool stands in for is named.
@Suite struct RootFSArchitectureTests {
    /// The host's `ls` (x86-64 here) into a rootfs whose busybox is Debian's arm64 one: refused in
    /// one line that names both files and both architectures; nothing written.
    @Test func hostBinaryIntoAnArm64RootfsIsRefused() throws {
        guard filesAvailable(flashsmithPath, "/usr/bin/ls") else { return }
        let busybox = try DebianArtifacts.busybox(architecture: "arm64")
        let dir = try TempDir()
        let r = try flashsmith("rootfs", "build", "--skeleton", "base", "--busybox", busybox, "--bundle", "/usr/bin/ls", "-o", dir.file("r.tar"))
        #expect(r.status == 65, "\(r.out)\(r.err)")
        #expect(r.err.split(separator: "\n").count == 1, "one line: \(r.err)")
        #expect(r.err.contains("/usr/bin/ls is x86_64") && r.err.contains("aarch64") && r.err.contains(busybox), "\(r.err)")
        #expect(!FileManager.default.fileExists(atPath: dir.file("r.tar")))
    }

    /// `--arch` decides without a busybox, and a busybox of another architecture is refused too.
    @Test(arguments: [
        (["--arch", "arm64", "--bundle", "/usr/bin/ls"], "/usr/bin/ls is x86_64"),
        (["--arch", "arm64", "--busybox", "/bin/busybox"], "busybox: /bin/busybox is x86_64"),
        (["--arch", "riscv64", "--bundle", "/usr/bin/ls"], "riscv64 (from --arch riscv64)"),
    ])
    func archOptionDecides(args: [String], expected: String) throws {
        guard filesAvailable(flashsmithPath, "/usr/bin/ls", "/bin/busybox") else { return }
        let dir = try TempDir()
        let r = try flashsmith(["rootfs", "build", "--skeleton", "base"] + args + ["-o", dir.file("r.tar")])
        #expect(r.status == 65, "\(r.out)\(r.err)")
        #expect(r.err.contains(expected) && r.err.split(separator: "\n").count == 1, "\(r.err)")
    }

    @Test func unknownArchIsAUsageError() throws {
        guard filesAvailable(flashsmithPath) else { return }
        let dir = try TempDir()
        let r = try flashsmith("rootfs", "build", "--arch", "arm65", "--skeleton", "base", "-o", dir.file("r.tar"))
        #expect(r.status == 64, "\(r.err)")
        #expect(r.err.contains("arm65") && r.err.contains("arm64"), "\(r.err)")
    }

    /// Same architecture: the bundled `ls` takes busybox's `ls` path (merged /usr in the base
    /// skeleton), and the output says so by name.
    @Test func bundledToolTakingAnAppletPathIsSaid() throws {
        guard filesAvailable(flashsmithPath, "/usr/bin/ls", "/bin/busybox") else { return }
        let dir = try TempDir()
        let r = try flashsmith("rootfs", "build", "--skeleton", "base", "--bundle", "/usr/bin/ls", "--busybox", "/bin/busybox", "-o", dir.file("r.tar"))
        #expect(r.status == 0, "\(r.err)")
        let said = r.out + r.err
        #expect(said.contains("busybox: applet not linked, kept /usr/bin/ls (bundle from /: /usr/bin/ls)"), "\(said)")
        let ls = try flashsmith("rootfs", "ls", dir.file("r.tar"))
        #expect(ls.out.contains("./usr/bin/ls type=file"), "\(ls.out)")
    }

    /// A board's `arch:` is its rootfs's: the host's busybox in an arm64 board's UBIFS root is
    /// refused before anything is built, naming board.yaml's arch.
    @Test func boardArchDecidesItsRootfs() throws {
        guard filesAvailable(flashsmithPath, "/bin/busybox") else { return }
        let dir = try TempDir()
        try FileManager.default.createDirectory(atPath: dir.file("b"), withIntermediateDirectories: true)
        _ = try dir.write("b/rootfs.yaml", "layers:\n  - skeleton: base\n")
        _ = try dir.write(
            "b/board.yaml",
            """
            name: archtest
            arch: arm64
            busybox: /bin/busybox
            flash: {page: 2KiB, oob: 64, erase-block: 128KiB, chip: 16MiB, ecc: hamming}
            partitions:
              - {name: rootfs, size: rest, content: {ubi: [{name: rootfs, ubifs: rootfs.yaml}]}}

            """)
        let r = try flashsmith("build", dir.file("b"), "-o", dir.file("out"))
        #expect(r.status == 65, "\(r.out)\(r.err)")
        #expect(r.err.contains("busybox: ") && r.err.contains("busybox is x86_64") && r.err.contains("board.yaml: arch arm64"), "\(r.err)")
        #expect(!FileManager.default.fileExists(atPath: dir.file("out")))
    }
}

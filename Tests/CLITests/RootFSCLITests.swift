import Foundation
import Testing
import TestSupport

/// `flashsmith rootfs …` from the outside: exit codes, one-line errors that name the file and
/// line, output kinds from names, diff, nfsroot.
@Suite struct RootFSCLITests {
    @Test func conflictsNameBothLayers() throws {
        guard filesAvailable(flashsmithPath) else { return }
        let dir = try TempDir()
        try FileManager.default.createDirectory(atPath: dir.file("b/etc/motd"), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: dir.file("a/etc"), withIntermediateDirectories: true)
        _ = try dir.write("a/etc/motd", "hello\n")
        let r = try flashsmith("rootfs", "build", "--overlay", dir.file("a"), "--overlay", dir.file("b"), "-o", dir.file("r.tar"))
        #expect(r.status == 65)
        #expect(r.err.contains("/etc/motd") && r.err.contains(dir.file("a")) && r.err.contains(dir.file("b")) && r.err.contains("replace: true"), "\(r.err)")
        #expect(r.err.split(separator: "\n").count == 1, "one line: \(r.err)")
        #expect(!FileManager.default.fileExists(atPath: dir.file("r.tar")), "nothing written")
        // The spec form allows it with replace: true.
        _ = try dir.write("s.yaml", "layers:\n  - overlay: a\n  - overlay: b\n    replace: true\n")
        let ok = try flashsmith("rootfs", "build", dir.file("s.yaml"), "-o", dir.file("r.tar"))
        #expect(ok.status == 0, "\(ok.err)")
        #expect(try flashsmith("rootfs", "ls", dir.file("r.tar")).out.contains("./etc/motd type=directory"))
    }

    @Test(arguments: [
        ("devices.txt", "/dev/x c 600 0 0 1 1\n/dev/y z 600 0 0\n", "devices.txt:2: type", 65),
        ("users.txt", "alice -2 alice -2 = /home/../x - - -\n", "users.txt:1: home", 65),
        ("spec.yaml", "layers:\n  - overlay: o\n    colour: red\n", "spec.yaml:3:", 65),
        ("spec.yaml", "layers:\n  - skeleton: nosuch\n", "skeleton 'nosuch'", 66),
        ("spec.yaml", "layers:\n  - frobnicate: x\n", "spec.yaml:2:", 65),
        // Strict keys: a typo names the line and the nearest valid key.
        ("spec.yaml", "layers:\n  - overlay: o\n    destinaton: /\n", "spec.yaml:3: unknown key 'destinaton' in the overlay layer; did you mean 'destination'?", 65),
        ("spec.yaml", "layers:\n  - overlya: o\n", "spec.yaml:2: unknown layer 'overlya'; did you mean 'overlay'?", 65),
        ("spec.yaml", "content-manifset: true\nlayers: []\n", "spec.yaml:1: unknown key 'content-manifset' in the rootfs spec; did you mean 'content-manifest'?", 65),
        ("spec.yaml", "content-manifest: sure\nlayers: []\n", "spec.yaml:1: content-manifest: expected true or false, found 'sure'", 65),
        ("spec.yaml", "layers:\n  - overlay: o\n    skeleton: base\n", "spec.yaml:3: a layer is one of skeleton, overlay,", 65),
        ("spec.yaml", "layers:\n  - overlay: o\n    replace: maybe\n", "spec.yaml:3: overlay layer: expected true or false, found 'maybe'", 65),
        ("spec.yaml", "layers:\n  - overlay: o\n  - overlay: o\n    replace: true\n    replace: false\n", "spec.yaml:5: duplicate key 'replace' (first on line 4)", 65),
    ])
    func badInputsAreOneLineErrors(file: String, text: String, expected: String, code: Int32) throws {
        guard filesAvailable(flashsmithPath) else { return }
        let dir = try TempDir()
        let path = try dir.write(file, text)
        try FileManager.default.createDirectory(atPath: dir.file("o"), withIntermediateDirectories: true)
        let args: [String] =
            file.hasSuffix(".yaml") ? [path] : (file == "users.txt" ? ["--skeleton", "base", "--users", path] : ["--devices", path])
        let r = try flashsmith(["rootfs", "build"] + args + ["-o", dir.file("out.tar")])
        #expect(r.status == code, "\(r.err)")
        #expect(r.err.contains(expected) && r.err.split(separator: "\n").count == 1, "\(r.err)")
        #expect(!FileManager.default.fileExists(atPath: dir.file("out.tar")))
    }

    /// `--busybox` with a spec goes in before the spec's device table, which may name an applet.
    @Test func busyboxFlagComesBeforeTheSpecsTables() throws {
        guard filesAvailable(flashsmithPath, "/bin/busybox") else { return }
        let dir = try TempDir()
        _ = try dir.write("devices.txt", "/usr/bin/ping f 4755 0 0 - - - - -\n")
        _ = try dir.write("spec.yaml", "layers:\n  - skeleton: base\n  - devices: devices.txt\n")
        let r = try flashsmith("rootfs", "build", dir.file("spec.yaml"), "--busybox", "/bin/busybox", "--busybox-links", "hardlink", "-o", dir.file("r.tar"))
        #expect(r.status == 0, "\(r.err)")
        let ls = try flashsmith("rootfs", "ls", dir.file("r.tar"))
        #expect(ls.out.contains("./usr/bin/ping type=hardlink") || ls.out.contains("./usr/bin/ping type=file"), "\(ls.out)")
        #expect(ls.out.split(separator: "\n").contains { $0.hasPrefix("./usr/bin/ping ") && $0.contains("mode=04755") }, "\(ls.out)")
    }

    /// A socket in an overlay: cpio keeps it, tar has no type for it (left out, and said).
    @Test func socketsInCpioNotInTar() throws {
        guard filesAvailable(flashsmithPath), toolsAvailable("python3") else { return }
        let dir = try TempDir()
        try FileManager.default.createDirectory(atPath: dir.file("o/run"), withIntermediateDirectories: true)
        let py = try run(try #require(which("python3")), ["-c", "import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])", dir.file("o/run/app.sock")])
        try #require(py.status == 0, "\(py.err)")
        let c = try flashsmith("rootfs", "build", "--overlay", dir.file("o"), "-o", dir.file("r.cpio"))
        #expect(c.status == 0, "\(c.err)")
        #expect(try flashsmith("rootfs", "ls", dir.file("r.cpio")).out.contains("./run/app.sock type=socket"))
        let t = try flashsmith("rootfs", "build", "--overlay", dir.file("o"), "-o", dir.file("r.tar"))
        #expect(t.status == 0 && t.out.contains("tar has no type for sockets: 1 left out (/run/app.sock)"), "\(t.out)\(t.err)")
        #expect(!(try flashsmith("rootfs", "ls", dir.file("r.tar")).out.contains("app.sock")))
    }

    @Test func usageErrors() throws {
        guard filesAvailable(flashsmithPath) else { return }
        #expect(try flashsmith("rootfs", "build", "--module", "loop", "-o", "/tmp/x.tar").status == 64)
        #expect(try flashsmith("rootfs", "build", "-o", "/tmp/x.tar").status == 64)
        #expect(try flashsmith("rootfs", "build", "--skeleton", "base", "--compression", "gzip", "-o", "/tmp/flashsmith-no-such-dir-out").status == 64)
    }

    @Test(arguments: [("r.tar.zst", "tar", "zstd"), ("r.tgz", "tar", "gzip"), ("r.cpio.xz", "cpio", "xz"), ("r.cpio", "cpio", "none"), ("r.tar.lz4", "tar", "lz4")])
    func outputKindFromTheName(name: String, format: String, compression: String) throws {
        guard filesAvailable(flashsmithPath) else { return }
        let dir = try TempDir()
        let r = try flashsmith("rootfs", "build", "--skeleton", "base", "-o", dir.file(name), "--json")
        #expect(r.status == 0, "\(r.err)")
        #expect(r.out.contains("\"format\": \"\(format)\"") && r.out.contains("\"compression\": \"\(compression)\""), "\(r.out)")
        let i = try flashsmith("inspect", dir.file(name))
        #expect(i.out.contains("\(format) archive") && i.out.contains("compression: \(compression)"), "\(i.out)")
    }

    @Test func diffReportsAndExitsOne() throws {
        guard filesAvailable(flashsmithPath) else { return }
        let dir = try TempDir()
        try FileManager.default.createDirectory(atPath: dir.file("o/etc"), withIntermediateDirectories: true)
        _ = try dir.write("o/etc/motd", "one\n")
        #expect(try flashsmith("rootfs", "build", "--skeleton", "base", "--overlay", dir.file("o"), "-o", dir.file("a.tar")).status == 0)
        #expect(try flashsmith("rootfs", "build", "--skeleton", "base", "--overlay", dir.file("o"), "-o", dir.file("a.cpio.gz")).status == 0)
        let same = try flashsmith("rootfs", "diff", dir.file("a.tar"), dir.file("a.cpio.gz"))
        #expect(same.status == 0 && same.out.isEmpty, "tar and cpio of one rootfs: \(same.out)")
        _ = try dir.write("o/etc/motd", "two\n")
        _ = try dir.write("o/etc/new", "x")
        #expect(try flashsmith("rootfs", "build", "--skeleton", "base", "--overlay", dir.file("o"), "-o", dir.file("b.tar")).status == 0)
        let d = try flashsmith("rootfs", "diff", dir.file("a.tar"), dir.file("b.tar"))
        #expect(d.status == 1)
        #expect(d.out.contains("~ ./etc/motd content: ") && d.out.contains("+ ./etc/new type=file"), "\(d.out)")
        let j = try flashsmith("rootfs", "diff", "--json", dir.file("a.tar"), dir.file("b.tar"))
        #expect(j.status == 1 && j.out.contains("\"only-in-second\""))
    }

    @Test func nfsrootPrintsExportsBootargsAndEnvironment() throws {
        guard filesAvailable(flashsmithPath) else { return }
        let dir = try TempDir()
        let r = try flashsmith(
            "rootfs", "nfsroot", "--skeleton", "base", "--skeleton", "nfs-dev", "-o", dir.file("nfs"), "--server", "192.168.0.1", "--client", "192.168.0.50",
            "--hostname", "board", "--interface", "eth0"
        )
        #expect(r.status == 0, "\(r.err)")
        let path = dir.file("nfs")
        #expect(r.out.contains("\(path) 192.168.0.50(rw,sync,no_root_squash,no_subtree_check)"), "\(r.out)")
        let bootargs = "root=/dev/nfs rw nfsroot=192.168.0.1:\(path),v3,tcp ip=192.168.0.50:192.168.0.1::255.255.255.0:board:eth0:off"
        #expect(r.out.contains(bootargs), "\(r.out)")
        #expect(r.out.contains("serverip=192.168.0.1") && r.out.contains("ipaddr=192.168.0.50") && r.out.contains("rootpath=\(path)"), "\(r.out)")
        #expect(FileManager.default.fileExists(atPath: "\(path)/etc/init.d/S00nfs-dev") && FileManager.default.fileExists(atPath: "\(path).mtree"))
        // The environment snippet is text that env create takes as is.
        let envLines = r.out.split(separator: "\n").drop { !$0.hasPrefix("U-Boot environment") }.dropFirst().map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        let env = try flashsmith(["env", "create", "-s", "0x4000", "-o", dir.file("env.bin")], stdin: Array((envLines.joined(separator: "\n") + "\n").utf8))
        #expect(env.status == 0, "\(env.err)")
        #expect(try flashsmith("env", "print", dir.file("env.bin"), "-n", "bootargs").out.contains(bootargs))
        let bad = try flashsmith("rootfs", "nfsroot", "--skeleton", "base", "-o", dir.file("nfs2"), "--server", "nfs.example")
        #expect(bad.status == 64 && bad.err.contains("--server"))
    }
}

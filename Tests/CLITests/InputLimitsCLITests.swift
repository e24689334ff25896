import Foundation
import Testing
import TestSupport

/// Numbers and inputs from outside, through the built binary: every numeric option outside what
/// its consumer can compute with is a usage error naming the option and the range (the old
/// binary trapped on each of these), a FIFO given as an input is refused at once (several
/// commands used to wait for a writer forever), and a command that fails leaves every output it
/// would have written as it was.
@Suite struct InputLimitsCLITests {
    struct Case: Sendable, CustomStringConvertible {
        var args: [String]
        var message: String
        var description: String { args.joined(separator: " ") }
    }

    static let nandRaw = ["nand", "raw", "in.bin", "-o", "raw.bin", "--page-size", "2048", "--oob-size", "64"]
    static let ubiBuild = ["ubi", "build", "u.ini", "-o", "ubi.img", "-p", "128KiB", "-m", "2048"]
    static let fitBuild = ["fit", "build", "s.its", "-o", "o.itb"]

    static let options: [Case] = [
        Case(args: ["env", "print", "env.bin", "-s", "0x7fffffffffffffff"], message: "expected 1…16MiB, found 9223372036854775807"),
        Case(args: ["env", "create", "-s", "9223372036854775807", "-o", "e.bin", "env.txt"], message: "expected 1…16MiB"),
        Case(args: ["env", "create", "-s", "0x-10", "-o", "e.bin", "env.txt"], message: "not a hexadecimal number"),
        Case(args: ["ubi", "inspect", "env.bin", "-p", "0"], message: "expected 512…16MiB, found 0"),
        Case(args: ubiBuild + ["-O", "0x7ffffffffffffff8"], message: "expected 1…2MiB"),
        Case(args: ubiBuild + ["-e", "9223372036854775808"], message: "expected 0…2147483647"),
        Case(args: fitBuild + ["-E", "-p", "0xffffffff"], message: "-p: expected 0x0…0x10000000, found '0xffffffff'"),
        Case(args: fitBuild + ["-E", "-p", "0x-10"], message: "-p: expected a hexadecimal number, found '0x-10'"),
        Case(args: fitBuild + ["-E", "-B", "0x80000000"], message: "-B: expected 0x1…0x1000000, found '0x80000000'"),
        Case(args: fitBuild + ["--dtb-padding", "9223372036854775807"], message: "expected at most 1MiB"),
        Case(args: fitBuild + ["--dtb-padding", "3GiB"], message: "expected at most 1MiB, found 3GiB"),
        Case(args: nandRaw + ["--erase-block", "0x4000000000000000"], message: "expected 1…256MiB"),
        Case(args: nandRaw + ["--erase-block", "128KiB", "--blocks", "99999999999"], message: "expected 1…16777216"),
        Case(args: ["rootfs", "build", "--skeleton", "base", "--level", "99999999999999", "-o", "r.tar.gz"], message: "gzip level 99999999999999: expected 0…9"),
    ]

    @Test(arguments: options)
    func numericOptionsOutsideTheirRangeAreUsageErrors(c: Case) throws {
        let dir = try TempDir()
        let r = try run(flashsmithPath, c.args, cwd: dir.path)
        #expect(r.status == 64, "\(r.status): \(r.err)")
        #expect(r.err.contains(c.message), "\(r.err)")
        #expect(!r.err.contains("Fatal error"))
    }

    /// A 17-byte fw_env.config asking for a 1 GiB environment: refused by the config's line, not
    /// read (the old binary allocated the gigabyte for a 4 KiB file).
    @Test func configSizesAreCheckedBeforeReading() throws {
        let dir = try TempDir()
        _ = try dir.write("env.txt", "a=1\n")
        #expect(try run(flashsmithPath, ["env", "create", "-s", "0x1000", "-o", "env.bin", "env.txt"], cwd: dir.path).status == 0)
        _ = try dir.write("fw_env.config", "env.bin 0 40000000\n")
        let r = try run(flashsmithPath, ["env", "print", "-c", "fw_env.config"], cwd: dir.path)
        #expect(r.status == 65 && r.err.contains("fw_env.config:1: env size: expected at most 0x1000000, found '40000000'"), "\(r.err)")
        // Within the limit but past the file: a short read, named.
        _ = try dir.write("fw_env.config", "env.bin 0x800 1000\n")
        let short = try run(flashsmithPath, ["env", "print", "-c", "fw_env.config"], cwd: dir.path)
        #expect(short.status == 65 && short.err.contains("env.bin: truncated at offset 0x800: expected 4096 bytes, found 2048"), "\(short.err)")
    }

    static let fifoCommands: [[String]] = [
        ["inspect", "FIFO"], ["env", "print", "FIFO"], ["env", "create", "-s", "0x1000", "-o", "e.bin", "FIFO"],
        ["fit", "inspect", "FIFO"], ["uimage", "inspect", "FIFO"], ["ubi", "inspect", "FIFO"], ["rootfs", "ls", "FIFO"],
        ["rootfs", "sysroot", "FIFO", "-o", "sysroot"], ["kconfig", "check", "FIFO"], ["crc32", "FIFO"],
        ["nand", "raw", "FIFO", "-o", "raw.bin", "--page-size", "2048", "--oob-size", "64", "--erase-block", "128KiB"],
    ]

    @Test(arguments: fifoCommands)
    func fifoInputsAreRefusedAtOnce(args: [String]) throws {
        guard toolsAvailable("timeout") else { return }
        let dir = try TempDir()
        #expect(mkfifo(dir.file("FIFO"), 0o600) == 0)
        let r = try run("timeout", ["20", flashsmithPath] + args, cwd: dir.path)
        #expect(r.status != 124, "waited for a writer: \(args)")
        #expect(r.status == 66 || r.status == 64, "\(r.status): \(r.err)")
        #expect(r.err.contains("FIFO: expected a regular file, found a special file"), "\(r.err)")
    }

    /// `fit build -k -K` with a control DTB that is not one: exit 65, and neither the FIT nor the
    /// DTB changed (the old binary committed the signed FIT, then failed on the DTB).
    @Test func failedKeyDTBLeavesTheOldFIT() throws {
        guard toolsAvailable("dtc", "openssl") else { return }
        let dir = try TempDir()
        try FileManager.default.createDirectory(atPath: dir.file("keys"), withIntermediateDirectories: true)
        #expect(try run("openssl", ["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", dir.file("keys/dev.key")]).status == 0)
        _ = try dir.write("Image", [UInt8](repeating: 0x42, count: 4000))
        let its = try dir.write("s.its", """
            /dts-v1/;
            / {
                description = "signed"; #address-cells = <1>;
                images { kernel { data = /incbin/("Image"); type = "kernel"; arch = "arm64"; os = "linux"; compression = "none";
                                  load = <0x40400000>; entry = <0x40400000>; hash-1 { algo = "sha256"; }; }; };
                configurations { default = "c1";
                    c1 { kernel = "kernel"; signature-1 { algo = "sha256,rsa2048"; key-name-hint = "dev"; sign-images = "kernel"; }; }; };
            };
            """)
        let old = try dir.write("o.itb", "the old FIT")
        let bad = try dir.write("bad.dtb", "not a device tree")
        for external in [[], ["-E"]] {
            let r = try flashsmith(["fit", "build", its, "-o", old, "-k", dir.file("keys"), "-K", bad] + external)
            #expect(r.status == 65, "\(r.err)")
            #expect(try readBytes(old) == Array("the old FIT".utf8), "the FIT was replaced although the command failed")
            #expect(try readBytes(bad) == Array("not a device tree".utf8))
        }
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasPrefix(".") }
        #expect(leftovers.isEmpty, "\(leftovers)")
    }

    /// `rootfs sysroot` with a package refused part-way (a later entry writes through a symlink, or
    /// a later package leaves the folder): nothing of what was unpacked before is left.
    @Test func refusedPackageLeavesNoPartialSysroot() throws {
        guard toolsAvailable("python3") else { return }
        let dir = try TempDir()
        let script = """
            import io, tarfile, sys
            def tar(entries):
                b = io.BytesIO()
                with tarfile.open(fileobj=b, mode='w') as t:
                    for name, data, link in entries:
                        i = tarfile.TarInfo(name)
                        if link is not None:
                            i.type = tarfile.SYMTYPE; i.linkname = link; t.addfile(i)
                        else:
                            i.size = len(data); t.addfile(i, io.BytesIO(data))
                return b.getvalue()
            def member(name, data):
                h = name.ljust(16).encode() + b'0'.ljust(12) + b'0'.ljust(6) + b'0'.ljust(6) + b'100644'.ljust(8) + str(len(data)).ljust(10).encode() + b'`\\n'
                return h + data + (b'\\n' if len(data) % 2 else b'')
            def deb(path, entries):
                d = b'!<arch>\\n' + member('debian-binary', b'2.0\\n') + member('control.tar', tar([('./control', b'Package: x\\n', None)])) + member('data.tar', tar(entries))
                open(path, 'wb').write(d)
            deb(sys.argv[1], [('./usr/lib/good', b'fine', None)])
            deb(sys.argv[2], [('./usr/first', b'first', None), ('./l', b'', '/tmp'), ('./l/x', b'through the link', None)])
            deb(sys.argv[3], [('./usr/ok', b'fine', None), ('./../escape', b'evil', None)])
            """
        #expect(try run("python3", ["-c", script, dir.file("good.deb"), dir.file("half.deb"), dir.file("evil.deb")]).status == 0)
        for second in ["half.deb", "evil.deb"] {
            let r = try flashsmith("rootfs", "sysroot", dir.file("good.deb"), dir.file(second), "-o", dir.file("sysroot"))
            #expect(r.status == 65, "\(second): \(r.err)")
            #expect(!FileManager.default.fileExists(atPath: dir.file("sysroot")), "\(second) left a partial sysroot")
        }
        #expect(!FileManager.default.fileExists(atPath: "/tmp/x") || (try? String(contentsOfFile: "/tmp/x", encoding: .utf8)) != "through the link")
        let ok = try flashsmith("rootfs", "sysroot", dir.file("good.deb"), "-o", dir.file("sysroot"))
        #expect(ok.status == 0, "\(ok.err)")
        #expect(FileManager.default.fileExists(atPath: dir.file("sysroot/usr/lib/good")))
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasPrefix(".") }
        #expect(leftovers.isEmpty, "\(leftovers)")
    }
}

/// More arguments than any command needs are refused before parsing: the argument parser's time
/// grows with the square of their number (fuzzing finding F4: 8,000 names took about 3 s).
@Suite struct ArgumentCountTests {
    @Test func tooManyArgumentsIsAQuickUsageError() throws {
        guard filesAvailable(flashsmithPath) else { return }
        let names = Array(repeating: "a", count: 20_000)
        // Refused before the parser sees them: the parser's own error would name an unexpected argument.
        let result = try flashsmith(["env", "print", "/nonexistent"] + names)
        #expect(result.status == 64 && result.err.contains("20003 arguments: expected at most 4096"), "\(result.err)")
        #expect(!result.err.contains("Unexpected argument"), "\(result.err)")
    }
}


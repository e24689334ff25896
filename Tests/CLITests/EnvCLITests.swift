import Foundation
import Testing
import TestSupport
import UBootEnv

/// The `flashsmith env` verbs end to end through the built binary: outputs, one-line errors, exit
/// codes (ExitCodes.swift), and files left untouched when a command fails.
@Suite struct EnvCLITests {
    func make(_ dir: TempDir, _ text: String, size: String = "0x1000", extra: [String] = []) throws -> String {
        let input = try dir.write("env.txt", text)
        let out = dir.file("env.bin")
        let r = try flashsmith(["env", "create", "-s", size, "-o", out] + extra + [input])
        #expect(r.status == 0, "\(r.err)")
        return out
    }

    @Test func crcMismatchNamesCopyAndBothCRCs() throws {
        let dir = try TempDir()
        let blob = try make(dir, "a=1\n")
        var bytes = try readBytes(blob)
        bytes[20] ^= 0x01
        _ = try dir.write("env.bin", bytes)
        let r = try flashsmith("env", "print", blob, "-s", "0x1000")
        #expect(r.status == 65)
        #expect(r.stdout.isEmpty)
        let line = r.err.trimmingCharacters(in: .newlines)
        #expect(!line.contains("\n"))
        #expect(line.contains("copy 1 at offset 0x0: CRC mismatch: expected 0x"))
        #expect(line.contains("found 0x"))
        let forced = try flashsmith("env", "print", blob, "-s", "0x1000", "--force")
        #expect(forced.status == 0)
        #expect(forced.out == "a=1\n")
    }

    @Test func bothCopiesBadIsAnError() throws {
        let dir = try TempDir()
        let blob = try make(dir, "a=1\n", extra: ["-r", "--copies", "2"])
        var bytes = try readBytes(blob)
        bytes[10] ^= 1
        bytes[0x1000 + 10] ^= 1
        _ = try dir.write("env.bin", bytes)
        let r = try flashsmith("env", "print", blob, "-s", "0x1000")
        #expect(r.status == 65)
        #expect(r.err.contains("no copy has a valid CRC (copy 1 at 0x0: expected CRC"))
        #expect(r.err.contains("copy 2 at 0x1000"))
    }

    @Test func wrongSizeIsExplained() throws {
        let dir = try TempDir()
        let blob = try make(dir, "a=1\n")
        let r = try flashsmith("env", "print", blob, "-s", "0x3000")
        #expect(r.status == 65)
        #expect(r.err.contains("expected 12288 bytes (one copy of size 0x3000) or 24576 (two copies), found 4096 bytes"))
    }

    @Test func missingAndTruncatedFiles() throws {
        let dir = try TempDir()
        let missing = try flashsmith("env", "print", dir.file("nope.bin"))
        #expect(missing.status == 66)
        #expect(missing.err.contains("nope.bin: cannot open: No such file or directory"))
        let tiny = try dir.write("tiny.bin", [1, 2, 3])
        let t = try flashsmith("env", "print", tiny)
        #expect(t.status == 65)
        #expect(t.err.contains("tiny.bin: expected at least 7 bytes for an environment, found 3 bytes"))
    }

    @Test func textThatDoesNotFitSaysByHowMuchAndWritesNothing() throws {
        let dir = try TempDir()
        let input = try dir.write("env.txt", "big=" + String(repeating: "x", count: 100) + "\n")
        let r = try flashsmith("env", "create", "-s", "64", "-o", dir.file("out.bin"), input)
        #expect(r.status == 65)
        #expect(r.err.contains("106 bytes of text for a 60-byte data area (size 0x40): 46 bytes over"))
        #expect(!FileManager.default.fileExists(atPath: dir.file("out.bin")))
    }

    @Test(arguments: [("=value", "empty variable name"), ("a b=1", "contains whitespace")])
    func badNamesAreRefused(arg: String, message: String) throws {
        let dir = try TempDir()
        let blob = try make(dir, "a=1\n")
        let before = try readBytes(blob)
        let r = try flashsmith("env", "set", blob, arg)
        #expect(r.status == 64)
        #expect(r.err.contains(message), "\(r.err)")
        #expect(try readBytes(blob) == before)
    }

    @Test func badInputLineNamesTheLine() throws {
        let dir = try TempDir()
        let input = try dir.write("env.txt", "a=1\n# fine\nnot an assignment\n")
        let r = try flashsmith("env", "create", "-s", "0x1000", input)
        #expect(r.status == 65)
        #expect(r.err.contains("env.txt:3: expected name=value, found 'not an assignment'"))
    }

    @Test func failedSetLeavesTheFileAsItWas() throws {
        let dir = try TempDir()
        let blob = try make(dir, "a=1\n")
        var bytes = try readBytes(blob)
        bytes[30] ^= 0xFF  // corrupt: set must refuse
        _ = try dir.write("env.bin", bytes)
        let r = try flashsmith("env", "set", blob, "a=2")
        #expect(r.status == 65)
        #expect(try readBytes(blob) == bytes)
        // An environment that would overflow is refused whole, too.
        let good = try make(dir, "a=1\n")
        let before = try readBytes(good)
        let big = try flashsmith("env", "set", good, "b=" + String(repeating: "y", count: 5000))
        #expect(big.status == 65 && big.err.contains("bytes over"))
        #expect(try readBytes(good) == before)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted() == ["env.bin", "env.txt"])
    }

    @Test func setKeepsSizePadAndByteOrder() throws {
        let dir = try TempDir()
        let blob = try make(dir, "a=1\nb=2\n", size: "0x800", extra: ["-b", "-p", "0"])
        #expect(try flashsmith("env", "set", blob, "b=3", "c=4", "--unset", "a").status == 0)
        let bytes = try readBytes(blob)
        #expect(bytes.count == 0x800)
        let copy = EnvCopy.decode(bytes[...], index: 1, offset: 0, redundant: false, byteOrder: nil, source: "t")
        #expect(copy.crcOK && copy.byteOrder == .big && copy.padByte == 0)
        #expect(copy.variables == [EnvVariable("b", "3"), EnvVariable("c", "4")])
        let tail = bytes[(4 + copy.used)...]
        #expect(tail.allSatisfy { $0 == 0 })
    }

    @Test func scriptMixesSyntaxesAndNoChangeWritesNothing() throws {
        let dir = try TempDir()
        let blob = try make(dir, "a=1\nb=2\n")
        let script = try dir.write("s.txt", "# script\na 9\nb\nc=x y\n")
        #expect(try flashsmith("env", "set", blob, "--script", script).status == 0)
        #expect(try flashsmith("env", "print", blob).out == "a=9\nc=x y\n")
        let attrs = try FileManager.default.attributesOfItem(atPath: blob)
        let inode = attrs[.systemFileNumber] as? Int
        #expect(try flashsmith("env", "set", blob, "a=9").status == 0)
        #expect(try FileManager.default.attributesOfItem(atPath: blob)[.systemFileNumber] as? Int == inode)
    }

    @Test func nonUTF8BytesAreKeptVerbatim() throws {
        let dir = try TempDir()
        let text: [UInt8] = Array("raw=".utf8) + [0xFF, 0xC3, 0x28, 0x80] + [10]
        let input = try dir.write("env.txt", text)
        #expect(try flashsmith("env", "create", "-s", "0x400", "-o", dir.file("env.bin"), input).status == 0)
        #expect(try flashsmith("env", "print", dir.file("env.bin")).stdout == text)
        #expect(try flashsmith("env", "print", dir.file("env.bin"), "-n", "raw").stdout == [0xFF, 0xC3, 0x28, 0x80, 10])
        let j = try flashsmith("env", "print", "--json", dir.file("env.bin"))
        #expect(j.out.contains(#""hex": "ffc32880""#))
        #expect(try flashsmith("env", "set", dir.file("env.bin"), "other=1").status == 0)
        #expect(try flashsmith("env", "print", dir.file("env.bin"), "raw").stdout == text)
        // A command-line value that is not UTF-8 (Swift's argv decoding would replace it) is stored as typed.
        let sh = try run("/bin/sh", ["-c", "\"$0\" env set \"$1\" \"$(printf 'bin=\\377\\376x')\"", flashsmithPath, dir.file("env.bin")])
        #expect(sh.status == 0, "\(sh.err)")
        #expect(try flashsmith("env", "print", dir.file("env.bin"), "-n", "bin").stdout == [0xFF, 0xFE, UInt8(ascii: "x"), 10])
    }

    @Test func printNamesAndMissingName() throws {
        let dir = try TempDir()
        let blob = try make(dir, "a=1\nb=two\n")
        #expect(try flashsmith("env", "print", blob, "b", "a").out == "b=two\na=1\n")
        let r = try flashsmith("env", "print", blob, "zz")
        #expect(r.status == 65 && r.err.contains("no variable named 'zz'"))
        #expect(try flashsmith("env", "print", blob, "-n", "a", "b").status == 64)
    }

    @Test func redundantPrintShowsCopiesAndWhy() throws {
        let dir = try TempDir()
        let blob = try make(dir, "a=1\n", extra: ["-r", "--copies", "2"])
        #expect(try flashsmith("env", "set", blob, "a=2").status == 0)
        let out = try flashsmith("env", "print", blob).out
        #expect(out == """
            # copy 1 at 0x0: CRC ok, flag 1
            # copy 2 at 0x1000: CRC ok, flag 2
            # flag scheme: counter: flags 1 and 2 are not boolean values
            # U-Boot uses copy 2: both valid; copy 2 has the higher counter (2 > 1)
            a=2

            """)
        // The boolean scheme (NOR) writes 1 into the new copy and clears the old one's flag to 0.
        let nor = try make(dir, "a=1\n", extra: ["-r", "--copies", "2"])
        #expect(try flashsmith("env", "set", nor, "--flags", "boolean", "a=2").status == 0)
        var bytes = try readBytes(nor)
        #expect(bytes[4] == 0 && bytes[0x1000 + 4] == 1)
        #expect(try flashsmith("env", "set", nor, "--flags", "boolean", "a=3").status == 0)
        bytes = try readBytes(nor)
        #expect(bytes[4] == 1 && bytes[0x1000 + 4] == 0)
        #expect(try flashsmith("env", "print", nor, "--flags", "boolean", "-n", "a").out == "3\n")
    }

    @Test func ubootSyntaxAndConversion() throws {
        let dir = try TempDir()
        let script = try dir.write("s.txt", "bootcmd run a; run b\nbootdelay 0\n")
        #expect(try flashsmith("env", "create", "--format", "uboot", "-s", "0x400", "-o", dir.file("e.bin"), script).status == 0)
        #expect(try flashsmith("env", "print", dir.file("e.bin")).out == "bootcmd=run a; run b\nbootdelay=0\n")
        let eq = try flashsmith("env", "convert", "--to", "mkenvimage", script)
        #expect(eq.out == "bootcmd=run a; run b\nbootdelay=0\n")
        let back = try flashsmith(["env", "convert", "--to", "uboot", "-"], stdin: eq.stdout)
        #expect(back.out == "bootcmd run a; run b\nbootdelay 0\n")
        let multi = try dir.write("m.txt", "a=x\\\ny\n")
        let bad = try flashsmith("env", "convert", "--to", "uboot", multi)
        #expect(bad.status == 65 && bad.err.contains("variable 'a' cannot be written in U-Boot script (name value) syntax: its value contains a newline"))
    }

    @Test func diffReportsChangesAndExitsOne() throws {
        let dir = try TempDir()
        let a = try make(dir, "a=1\nb=2\nc=3\n")
        try FileManager.default.moveItem(atPath: a, toPath: dir.file("a.bin"))
        let b = try make(dir, "a=1\nb=20\nd=4\n")
        let r = try flashsmith("env", "diff", dir.file("a.bin"), b)
        #expect(r.status == 1)
        #expect(r.out == "-b=2\n+b=20\n-c=3\n+d=4\n")
        #expect(try flashsmith("env", "diff", b, b).status == 0)
        // A text file on one side.
        let t = try dir.write("t.txt", "a=1\nb=20\nd=4\n")
        #expect(try flashsmith("env", "diff", b, t).status == 0)
        let j = try flashsmith("env", "diff", "--json", dir.file("a.bin"), b)
        #expect(j.out.contains(#""equal": false"#) && j.out.contains(#""old": "2""#))
    }

    @Test func configOnAPlainFileKeepsTheRest() throws {
        let dir = try TempDir()
        let flash = try dir.write("flash.img", [UInt8](repeating: 0xA5, count: 0x30000))
        let cfg = try dir.write("fw_env.config", "# flash image\n\(flash) 0x10000 0x8000\n\(flash) 0x20000 8000\n")
        let input = try dir.write("env.txt", "bootdelay=1\n")
        let r = try flashsmith("env", "create", "-c", cfg, input)
        #expect(r.status == 0, "\(r.err)")
        let bytes = try readBytes(flash)
        #expect(bytes[..<0x10000].allSatisfy { $0 == 0xA5 })
        #expect(bytes[0x18000..<0x20000].allSatisfy { $0 == 0xA5 })
        #expect(bytes[0x28000...].allSatisfy { $0 == 0xA5 })
        #expect(try flashsmith("env", "set", "-c", cfg, "bootdelay=5").status == 0)
        #expect(try flashsmith("env", "print", "-c", cfg, "-n", "bootdelay").out == "5\n")
        let j = try flashsmith("env", "print", "-c", cfg, "--json")
        #expect(j.out.contains(#""active": 2"#))
        let sizeClash = try flashsmith("env", "print", "-c", cfg, "-s", "0x4000")
        #expect(sizeClash.status == 64 && sizeClash.err.contains("does not match the env size"))
    }
}

@Suite struct InspectAndDefaultTests {
    @Test func inspectRecognisesAnEnvironment() throws {
        let dir = try TempDir()
        let input = try dir.write("env.txt", "a=1\n")
        #expect(try flashsmith("env", "create", "-r", "--copies", "2", "-s", "8KiB", "-o", dir.file("e.bin"), input).status == 0)
        let r = try flashsmith("inspect", dir.file("e.bin"))
        #expect(r.status == 0)
        #expect(r.out.contains("U-Boot environment") && r.out.contains("redundant, two copies") && r.out.contains("size:        0x2000 per copy (8KiB)"))
        let j = try flashsmith("inspect", "--json", dir.file("e.bin"))
        let obj = try #require(try JSONSerialization.jsonObject(with: Data(j.stdout)) as? [String: Any])
        #expect(obj["format"] as? String == "uboot-env" && obj["active"] as? Int == 1)
    }

    @Test func inspectUnknownFile() throws {
        let dir = try TempDir()
        let f = try dir.write("x.bin", [UInt8](repeating: 7, count: 100))
        let r = try flashsmith("inspect", f)
        #expect(r.status == 65 && r.err.contains("x.bin: not a recognised format (tried: uimage, fit, dtb, uboot-env, archive, ubi, ubifs, nand-raw, gpt, mbr, filesystem, flash-image)"), "\(r.err)")
    }

    /// Debian's real U-Boot binaries are the specimens (package u-boot-qemu).
    @Test(arguments: ["qemu_arm64", "qemu_arm", "qemu-x86_64"])
    func extractsDebianUBootDefaults(board: String) throws {
        let bin = "/usr/lib/u-boot/\(board)/u-boot.bin"
        guard filesAvailable(bin) else { return }
        let r = try flashsmith("env", "extract-default", bin)
        #expect(r.status == 0, "\(r.err)")
        let vars = try EnvText.parseEquals(r.stdout, source: "out")
        let names = Set(vars.map(\.nameText))
        #expect(names.isSuperset(of: ["bootcmd", "bootdelay", "baudrate", "arch"]))
        #expect(vars.first { $0.nameText == "bootcmd" }?.valueText == "run distro_bootcmd")
    }

    @Test func crc32MatchesZlib() throws {
        let dir = try TempDir()
        let f = try dir.write("d.bin", Array("123456789".utf8))
        #expect(try flashsmith("crc32", f).out == "0xcbf43926  \(f)\n")
        #expect(try flashsmith("crc32", "--raw", f).out == "0x340bc6d9  \(f)\n")
    }
}

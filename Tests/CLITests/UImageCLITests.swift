import Foundation
import Testing
import TestSupport

@Suite struct UImageCLITests {
    @Test func createInspectExtractScript() throws {
        let dir = try TempDir()
        let cmd = try dir.write("boot.cmd", "echo hello from boot.scr\nsetenv bootargs console=ttyAMA0\n")
        let scr = dir.file("boot.scr")
        let c = try flashsmith("uimage", "create", "-A", "arm64", "-T", "script", "-C", "none", "-n", "boot", "-d", cmd, "-o", scr)
        #expect(c.status == 0, "\(c.err)")
        let i = try flashsmith("uimage", "inspect", scr)
        #expect(i.status == 0)
        #expect(i.out.contains("type:         AArch64 Linux Script (uncompressed)"))
        #expect(i.out.contains("  | echo hello from boot.scr"))
        #expect(try flashsmith("inspect", scr).out.contains("U-Boot legacy image (uImage)"))
        #expect(try flashsmith("uimage", "extract", scr, "-p", "0", "-o", dir.file("back.cmd")).status == 0)
        #expect(try readBytes(dir.file("back.cmd")) == readBytes(cmd))
    }

    @Test func errorsAndExitCodes() throws {
        let dir = try TempDir()
        let k = try dir.write("k", [1, 2, 3])
        let badArch = try flashsmith("uimage", "create", "-A", "arm65", "-C", "none", "-d", k, "-o", dir.file("o"))
        #expect(badArch.status == 64 && badArch.err.contains("-A architecture 'arm65': expected one of alpha, arm"))
        let missing = try flashsmith("uimage", "create", "-A", "arm", "-C", "none", "-d", dir.file("nope"), "-o", dir.file("o"))
        #expect(missing.status == 66 && missing.err.contains("nope: cannot open"))
        let twoForKernel = try flashsmith("uimage", "create", "-A", "arm", "-C", "none", "-T", "kernel", "-d", "\(k):\(k)", "-o", dir.file("o"))
        // Only multi and script images split on ":" (as mkimage): for a kernel it is one (missing) path.
        #expect(twoForKernel.status == 66 && twoForKernel.err.contains("\(k):\(k): cannot open"))
        let badAddr = try flashsmith("uimage", "create", "-A", "arm", "-C", "none", "-a", "0xZZ", "-d", k, "-o", dir.file("o"))
        #expect(badAddr.status == 64 && badAddr.err.contains("-a: expected a 32-bit hexadecimal address, found '0xZZ'"))
        #expect(!FileManager.default.fileExists(atPath: dir.file("o")))
        let notImage = try flashsmith("uimage", "inspect", k)
        #expect(notImage.status == 65 && notImage.err.contains("expected 64 bytes, found 3"))
    }
}

@Suite struct DTBInspectTests {
    @Test func inspectRecognisesDtcOutput() throws {
        guard toolsAvailable("dtc") else { return }
        let dir = try TempDir()
        let src = try dir.write("t.dts", "/dts-v1/;\n/ { model = \"Board X\"; compatible = \"vendor,x\"; chosen { }; };\n")
        #expect(try run("dtc", ["-I", "dts", "-O", "dtb", "-o", dir.file("t.dtb"), src]).status == 0)
        let r = try flashsmith("inspect", dir.file("t.dtb"))
        #expect(r.status == 0, "\(r.err)")
        #expect(r.out.contains("Flattened device tree blob") && r.out.contains("Board X") && r.out.contains("vendor,x"))
        var bytes = try readBytes(dir.file("t.dtb"))
        bytes[8] = 0xFF  // off_dt_struct far outside
        let bad = try dir.write("bad.dtb", bytes)
        let b = try flashsmith("inspect", "--json", bad)
        #expect(b.out.contains(#""valid": false"#))
    }
}

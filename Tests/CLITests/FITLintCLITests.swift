import Foundation
import Testing
import TestSupport

/// `fit lint`: each check fires on a FIT built to trip it, and a clean FIT has no findings.
@Suite struct FITLintCLITests {
    func spec(_ dir: TempDir, _ yaml: String) throws -> String {
        _ = try dir.write("Image", [UInt8](repeating: 0xAA, count: 5000))
        _ = try dir.write("initrd", [UInt8](repeating: 0xBB, count: 3000))
        _ = try dir.write("big", [UInt8](repeating: 0xCC, count: 0x90_0000))
        _ = try dir.write("fdt.dtb", Array("not really a dtb".utf8))
        return try dir.write("s.yaml", yaml)
    }

    @Test func cleanFITHasNoFindings() throws {
        let dir = try TempDir()
        let s = try spec(dir, """
            images:
              kernel: { type: kernel, arch: arm64, os: linux, load: 0x40400000, entry: 0x40400000, data: Image, hash: sha256 }
              initrd: { type: ramdisk, arch: arm64, os: linux, load: 0x44000000, data: initrd, hash: sha256 }
            configurations: { default: c1, c1: { kernel: kernel, ramdisk: initrd } }
            """)
        let r = try flashsmith("fit", "lint", s)
        #expect(r.status == 0, "\(r.out)\(r.err)")
        #expect(r.out.hasSuffix("no findings\n"))
        // The same checks on the built .itb.
        #expect(try flashsmith("fit", "build", s, "-o", dir.file("c.itb")).status == 0)
        #expect(try flashsmith("fit", "lint", dir.file("c.itb")).status == 0)
    }

    @Test func findsWhatUBootWouldReject() throws {
        let dir = try TempDir()
        let s = try spec(dir, """
            images:
              kernel: { type: kernel, arch: arm, os: linux, load: 0x80008000, entry: 0x90000000, data: big, hash: sha256 }
              initrd: { type: ramdisk, arch: arm, os: linux, load: 0x80100000, data: initrd }
              fdt-1: { type: flat_dt, arch: arm, compression: gzip, data: fdt.dtb, hash: sha1 }
            configurations:
              default: c9
              c1: { kernel: kernel, ramdisk: initrd, fdt: fdt-1 }
            """)
        let r = try flashsmith("fit", "lint", s, "--fit-address", "0x80800000")
        #expect(r.status == 65)
        let expected = [
            "error: /configurations/default: names 'c9', which is not a configuration",
            "warning: /images/initrd: used by c1 as ramdisk but has no hash-N node",
            "error: /configurations/c1: fdt 'fdt-1' is compressed (gzip) but the configuration has no compatible",
            "error: /configurations/c1: kernel at 0x80008000…0x80908000 overlaps initrd at 0x80100000…0x80100bb8",
            "error: /configurations/c1: kernel at 0x80008000…0x80908000 overlaps the FIT itself at 0x80800000",
            "error: /images/kernel: 9437184 bytes: larger than BOOTM_LEN 0x800000",
            "warning: /images/kernel: entry 0x90000000 lies outside the image loaded at 0x80008000",
        ]
        for e in expected { #expect(r.out.contains(e), "missing: \(e)\n\(r.out)") }
        let bigger = try flashsmith("fit", "lint", s, "--bootm-len", "16MiB")
        #expect(!bigger.out.contains("BOOTM_LEN"))
    }

    @Test func signingChecksAgainstTheControlDTB() throws {
        guard toolsAvailable("dtc") else { return }
        let dir = try TempDir()
        _ = try dir.write("Image", [UInt8](repeating: 1, count: 100))
        let its = try dir.write("s.its", """
            /dts-v1/;
            / { images { kernel@1 { data = /incbin/("Image"); type = "kernel"; arch = "arm64"; os = "linux"; compression = "none";
                         load = <0x40400000>; entry = <0x40400000>; hash-1 { algo = "sha256"; };
                         signature-1 { algo = "sha256,rsa2048"; key-name-hint = "dev"; }; }; };
                configurations { default = "c1"; c1 { kernel = "kernel@1"; }; }; };
            """)
        let control = try dir.write("u-boot.dts", "/dts-v1/;\n/ { signature { key-prod { required = \"conf\"; algo = \"sha256,rsa2048\"; }; }; };\n")
        #expect(try run("dtc", ["-I", "dts", "-O", "dtb", "-o", dir.file("u-boot.dtb"), control]).status == 0)
        let r = try flashsmith("fit", "lint", its, "--control-dtb", dir.file("u-boot.dtb"))
        #expect(r.status == 65)
        #expect(r.out.contains("error: /images/kernel@1: node name has '@': U-Boot refuses unit addresses in a signed FIT"))
        #expect(r.out.contains("error: /images/kernel@1/signature-1: key-name-hint 'dev' has no /signature/key-dev in the control DTB"))
        #expect(r.out.contains("error: /signature/key-prod: required = \"conf\" in the control DTB, but no configuration of this FIT is signed"))
        let j = try flashsmith("fit", "lint", "--json", its, "--control-dtb", dir.file("u-boot.dtb"))
        #expect(j.out.contains(#""severity": "error""#))
    }
}

/// What U-Boot 2023.01's bootm refuses (boot/bootm.c bootm_find_os, boot/image-fit.c
/// fit_image_load), found before the image ships; addresses near 2^64 are findings, not traps.
@Suite struct FITLintBootmTests {
    @Test func whatBootmRefuses() throws {
        guard filesAvailable(flashsmithPath) else { return }
        let dir = try TempDir()
        let s = try FITLintCLITests().spec(dir, """
            images:
              kernel: { type: kernel, data: Image, hash: sha256 }
              initrd: { type: ramdisk, arch: arm64, data: initrd, hash: sha256 }
              fw: { type: firmware, arch: arm64, os: u-boot, data: initrd, hash: sha256 }
              app: { type: standalone, arch: arm64, data: initrd, hash: sha256 }
              bsd: { type: kernel, arch: arm64, os: netbsd, load: 0x40000000, entry: 0x40000000, data: Image, hash: sha256 }
            configurations:
              c1: { kernel: kernel, ramdisk: initrd }
              c2: { kernel: bsd }
            """)
        let r = try flashsmith("fit", "lint", s)
        #expect(r.status == 65)
        let expected = [
            "warning: /configurations/default: missing: `bootm ADDR` without #CONFIGURATION finds no configuration",
            "error: /images/kernel: kernel without a load address: bootm refuses it (\"Can't get image load address!\")",
            "error: /images/fw: firmware without a load address: bootm refuses it",
            "error: /images/app: standalone without a load address: bootm refuses it",
            "error: /images/kernel: no os: bootm refuses a kernel without it (\"Can't get image OS!\")",
            "error: /images/kernel: no arch: bootm refuses a kernel without it (\"Can't get image ARCH!\")",
            "error: /images/kernel: no entry point: bootm refuses the kernel (\"Can't get entry point property!\")",
            "error: /images/initrd: os '(none)' on a ramdisk: U-Boot 2023.01 loads one only for os linux, u-boot, tee, openrtos, efi, vxworks",
            "error: /images/bsd: os 'netbsd': U-Boot 2023.01 boots only linux, u-boot, tee, openrtos, efi, vxworks",
        ]
        for e in expected { #expect(r.out.contains(e), "missing: \(e)\n\(r.out)") }
        #expect(!r.out.contains("/images/fw: no"), "fw is no configuration's kernel: \(r.out)")
    }

    @Test func missingAndUnknownNamesInAnIts() throws {
        guard filesAvailable(flashsmithPath), toolsAvailable("dtc") else { return }
        let dir = try TempDir()
        _ = try dir.write("Image", [UInt8](repeating: 1, count: 100))
        let its = try dir.write("s.its", """
            /dts-v1/;
            / { images { kernel { data = /incbin/("Image"); type = "kernel"; arch = "arm64"; os = "linux";
                         load = <0x40400000>; entry = <0x40400000>; hash-1 { algo = "sha256"; }; };
                         blob { data = /incbin/("Image"); compression = "zstd2"; arch = "arm65"; }; };
                configurations { default = "c1"; c1 { kernel = "kernel"; loadables = "blob"; }; }; };
            """)
        let r = try flashsmith("fit", "lint", its)
        #expect(r.status == 65)
        for e in [
            "error: /images/kernel: no compression: bootm refuses a kernel without it (\"Can't get image compression!\")",
            "error: /images/blob: compression 'zstd2' is not one of U-Boot's",
            "error: /images/blob: arch 'arm65' is not one of U-Boot's",
            "error: /images/blob: no type: U-Boot cannot tell what the image is",
        ] { #expect(r.out.contains(e), "missing: \(e)\n\(r.out)") }
    }

    @Test func addressesNearTheTopDoNotTrap() throws {
        guard filesAvailable(flashsmithPath) else { return }
        let dir = try TempDir()
        let s = try FITLintCLITests().spec(dir, """
            address-cells: 2
            images:
              kernel: { type: kernel, arch: arm64, os: linux, load: 0xfffffffffffff000, entry: 0xfffffffffffff000, data: Image, hash: sha256 }
            configurations: { default: c1, c1: { kernel: kernel } }
            """)
        let r = try flashsmith("fit", "lint", s, "--fit-address", "0xffffffffffffffff")
        #expect(r.status == 65, "\(r.err)")
        #expect(r.out.contains("error: /images/kernel: load 0xfffffffffffff000 + 5000 bytes runs past the end of the address space"), "\(r.out)")
        #expect(r.out.contains("error: /configurations/c1: the FIT at 0xffffffffffffffff (--fit-address) + "), "\(r.out)")
        let bad = try flashsmith("fit", "lint", s, "--fit-address", "0x-10")
        #expect(bad.status == 64 && bad.err.contains("--fit-address"), "\(bad.err)")
    }
}

@Suite struct FITLintSigningTests {
    @Test func signImagesSubsetAndUnsupportedAlgorithms() throws {
        guard toolsAvailable("dtc") else { return }
        let dir = try TempDir()
        _ = try dir.write("Image", [UInt8](repeating: 1, count: 100))
        _ = try dir.write("initrd", [UInt8](repeating: 2, count: 100))
        let its = try dir.write("s.its", """
            /dts-v1/;
            / { images { kernel { data = /incbin/("Image"); type = "kernel"; arch = "arm64"; os = "linux"; compression = "none";
                         load = <0x40400000>; entry = <0x40400000>; hash-1 { algo = "sha256"; };
                         signature-1 { algo = "sha256,ecdsa256"; key-name-hint = "dev"; }; };
                         initrd { data = /incbin/("initrd"); type = "ramdisk"; arch = "arm64"; os = "linux"; compression = "none"; hash-1 { algo = "sha256"; }; }; };
                configurations { default = "c1"; c1 { kernel = "kernel"; ramdisk = "initrd";
                    signature-1 { algo = "sha256,rsa2048"; padding = "pss"; key-name-hint = "dev"; sign-images = "kernel"; }; }; }; };
            """)
        let r = try flashsmith("fit", "lint", its)
        #expect(r.status == 65)
        #expect(r.out.contains("error: /configurations/c1/signature-1: sign-images leaves out initrd"), "\(r.out)")
        #expect(r.out.contains("warning: /configurations/c1/signature-1: padding = \"pss\""))
        #expect(r.out.contains("warning: /images/kernel/signature-1: sha256,ecdsa256"))
    }
}

import Foundation
import Testing
import TestSupport

/// A FIT YAML spec says what an .its says, signatures included: the same tree gives the same bytes
/// (`fit build` of either), signed the same, and the signatures verify (ours as U-Boot checks them,
/// and after mkimage re-signs the YAML one).
@Suite struct FITSpecCLITests {
    static let yaml = """
        description: signed from YAML
        images:
          kernel:
            description: Linux
            data: Image
            type: kernel
            arch: arm64
            os: linux
            compression: none
            load: 0x40400000
            entry: 0x40400000
            hash-1: {algo: sha256}
            signature-1: {algo: "sha256,rsa2048", key-name-hint: dev}
          fdt-1:
            data: virt.dtb
            type: flat_dt
            arch: arm64
            compression: none
            hash: sha256
            properties: {phase: u-boot, reg: [1, 2], marker: ~}
        configurations:
          default: conf-1
          conf-1:
            description: Boot Linux
            kernel: kernel
            fdt: fdt-1
            compatible: ["linux,dummy-virt", "vendor,board"]
            signature-1:
              algo: "sha256,rsa2048"
              key-name-hint: dev
              padding: pkcs-1.5
              sign-images: [kernel, fdt]

        """
    static let its = """
        /dts-v1/;
        / {
            description = "signed from YAML";
            #address-cells = <1>;
            images {
                kernel {
                    description = "Linux"; data = /incbin/("Image"); type = "kernel"; arch = "arm64"; os = "linux"; compression = "none";
                    load = <0x40400000>; entry = <0x40400000>;
                    hash-1 { algo = "sha256"; };
                    signature-1 { algo = "sha256,rsa2048"; key-name-hint = "dev"; };
                };
                fdt-1 {
                    data = /incbin/("virt.dtb"); type = "flat_dt"; arch = "arm64"; compression = "none"; phase = "u-boot"; reg = <1 2>; marker;
                    hash-1 { algo = "sha256"; };
                };
            };
            configurations {
                default = "conf-1";
                conf-1 {
                    description = "Boot Linux"; kernel = "kernel"; fdt = "fdt-1"; compatible = "linux,dummy-virt", "vendor,board";
                    signature-1 { algo = "sha256,rsa2048"; key-name-hint = "dev"; padding = "pkcs-1.5"; sign-images = "kernel", "fdt"; };
                };
            };
        };

        """

    func build(_ args: [String]) throws -> RunResult {
        try run(flashsmithPath, ["fit", "build"] + args, environment: ["SOURCE_DATE_EPOCH": "1700000000"])
    }

    @Test func yamlAndItsGiveTheSameSignedFIT() throws {
        guard filesAvailable(flashsmithPath), toolsAvailable("dtc", "openssl") else { return }
        let dir = try TempDir()
        _ = try dir.write("Image", (0..<40_000).map { UInt8(truncatingIfNeeded: $0 &* 7) })
        let dts = try dir.write("v.dts", "/dts-v1/;\n/ { model = \"virt\"; compatible = \"linux,dummy-virt\"; };\n")
        #expect(try run("dtc", ["-I", "dts", "-O", "dtb", "-o", dir.file("virt.dtb"), dts]).status == 0)
        try FileManager.default.createDirectory(atPath: dir.file("keys"), withIntermediateDirectories: true)
        #expect(try run("openssl", ["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", dir.file("keys/dev.key")]).status == 0)
        #expect(try run("openssl", ["req", "-batch", "-new", "-x509", "-key", dir.file("keys/dev.key"), "-out", dir.file("keys/dev.crt"), "-subj", "/CN=dev"]).status == 0)
        let y = try dir.write("s.yaml", Self.yaml), i = try dir.write("s.its", Self.its)
        for ctl in ["ctl-y.dtb", "ctl-i.dtb"] { try FileManager.default.copyItem(atPath: dir.file("virt.dtb"), toPath: dir.file(ctl)) }
        let by = try build([y, "-o", dir.file("y.itb"), "-k", dir.file("keys"), "-K", dir.file("ctl-y.dtb"), "-r"])
        let bi = try build([i, "-o", dir.file("i.itb"), "-k", dir.file("keys"), "-K", dir.file("ctl-i.dtb"), "-r"])
        try #require(by.status == 0 && bi.status == 0, "\(by.err)\(bi.err)")
        #expect(try readBytes(dir.file("y.itb")) == readBytes(dir.file("i.itb")), "the YAML and the .its build the same FIT")
        #expect(try readBytes(dir.file("ctl-y.dtb")) == readBytes(dir.file("ctl-i.dtb")))
        let v = try flashsmith("fit", "verify", dir.file("y.itb"), "--key", dir.file("ctl-y.dtb"))
        #expect(v.status == 0 && v.out.contains("/configurations/conf-1/signature-1: sha256,rsa2048:dev ok") && v.out.contains("/images/kernel/signature-1: sha256,rsa2048:dev ok"), "\(v.out)\(v.err)")
        // Unsigned (no -k), the YAML spec is refused as the .its is: signature nodes need a key.
        let unsigned = try build([y, "-o", dir.file("u.itb")])
        #expect(unsigned.status == 65 && unsigned.err.contains("-k KEYDIR"), "\(unsigned.err)")
        guard toolsAvailable("mkimage") else { return }
        // mkimage reads the YAML-built FIT's signature nodes and re-signs them; we still verify.
        try FileManager.default.copyItem(atPath: dir.file("virt.dtb"), toPath: dir.file("ctl-mk.dtb"))
        let m = try run("mkimage", ["-F", "-k", dir.file("keys"), "-K", dir.file("ctl-mk.dtb"), "-r", dir.file("y.itb")])
        #expect(m.status == 0, "\(m.err)")
        #expect(try run("mkimage", ["-l", dir.file("y.itb")]).out.contains("Sign algo:    sha256,rsa2048:dev"))
        let vm = try flashsmith("fit", "verify", dir.file("y.itb"), "--key", dir.file("ctl-mk.dtb"))
        #expect(vm.status == 0, "\(vm.out)\(vm.err)")
    }

    /// The issue's `lod:`: stored as an unknown property, U-Boot then refused the FIT. Now every
    /// command that reads the spec names the line and the key it meant.
    @Test func aTypoIsRefusedByBuildAndLint() throws {
        guard filesAvailable(flashsmithPath) else { return }
        let dir = try TempDir()
        _ = try dir.write("Image", [1, 2, 3])
        let s = try dir.write("s.yaml", "images:\n  kernel:\n    type: kernel\n    arch: arm64\n    os: linux\n    lod: 0x40400000\n    data: Image\n")
        for cmd in [["fit", "build", s, "-o", dir.file("o.itb")], ["fit", "lint", s]] {
            let r = try flashsmith(cmd)
            #expect(r.status == 65 && r.err == "flashsmith: error: \(s):6: unknown key 'lod' in images/kernel; did you mean 'load'?\n", "\(cmd): \(r.err)")
        }
        #expect(!FileManager.default.fileExists(atPath: dir.file("o.itb")))
    }
}

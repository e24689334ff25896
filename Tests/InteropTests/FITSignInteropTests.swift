import DeviceTree
import Foundation
import Testing
import TestSupport

/// FIT signatures against mkimage (-k -K -r, -F): keys and signatures interchangeable both ways.
@Suite struct FITSignInteropTests {
    struct Fixture {
        var dir: TempDir
        var its: String
        var keys: String
        var virt: String
    }

    static func fixture(signImages: String = #""kernel", "fdt", "ramdisk""#, confName: String = "conf-1", algo: String = "sha256,rsa2048",
                        keygen: [String] = ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"], keyExt: String = "key") throws -> Fixture {
        let dir = try TempDir()
        let keys = dir.file("keys")
        try FileManager.default.createDirectory(atPath: keys, withIntermediateDirectories: true)
        #expect(try run("openssl", ["genpkey"] + keygen + ["-out", "\(keys)/dev.\(keyExt)"]).status == 0)
        #expect(try run("openssl", ["req", "-batch", "-new", "-x509", "-key", "\(keys)/dev.\(keyExt)", "-out", "\(keys)/dev.crt", "-subj", "/CN=dev"]).status == 0)
        _ = try dir.write("Image", (0..<40_000).map { UInt8(truncatingIfNeeded: $0 &* 7) })
        _ = try dir.write("initrd", (0..<9_000).map { UInt8(truncatingIfNeeded: $0 &* 3) })
        let dts = try dir.write("v.dts", "/dts-v1/;\n/ { model = \"virt\"; compatible = \"linux,dummy-virt\"; };\n")
        #expect(try run("dtc", ["-I", "dts", "-O", "dtb", "-o", dir.file("virt.dtb"), dts]).status == 0)
        let imageSig = #"signature-1 { algo = "\#(algo)"; key-name-hint = "dev"; };"#
        let its = try dir.write("s.its", """
            /dts-v1/;
            / {
                description = "signed";
                #address-cells = <1>;
                images {
                    kernel { data = /incbin/("Image"); type = "kernel"; arch = "arm64"; os = "linux"; compression = "none";
                             load = <0x40400000>; entry = <0x40400000>; hash-1 { algo = "sha256"; }; \(imageSig) };
                    fdt-1 { data = /incbin/("virt.dtb"); type = "flat_dt"; arch = "arm64"; compression = "none"; hash-1 { algo = "sha256"; }; };
                    initrd { data = /incbin/("initrd"); type = "ramdisk"; arch = "arm64"; os = "linux"; compression = "none"; hash-1 { algo = "sha256"; }; };
                    fdt-2 { data = /incbin/("virt.dtb"); type = "flat_dt"; arch = "arm64"; compression = "none"; hash-1 { algo = "sha1"; }; };
                };
                configurations {
                    default = "\(confName)";
                    \(confName) { kernel = "kernel"; fdt = "fdt-1"; ramdisk = "initrd";
                             signature-1 { algo = "\(algo)"; key-name-hint = "dev"; sign-images = \(signImages); }; };
                };
            };
            """)
        return Fixture(dir: dir, its: its, keys: keys, virt: dir.file("virt.dtb"))
    }

    func control(_ f: Fixture, _ name: String) throws -> String {
        let p = f.dir.file(name)
        try FileManager.default.copyItem(atPath: f.virt, toPath: p)
        return p
    }

    func verify(_ itb: String, key: String) throws -> RunResult { try flashsmith("fit", "verify", itb, "--key", key) }

    @Test func weVerifyMkimageSignaturesAndCatchTampering() throws {
        guard toolsAvailable("mkimage", "dtc", "openssl") else { return }
        let f = try Self.fixture()
        let ctl = try control(f, "ctl-mk.dtb")
        let m = try run("mkimage", ["-k", f.keys, "-K", ctl, "-r", "-f", f.its, f.dir.file("mk.itb")])
        #expect(m.status == 0, "\(m.err)")
        let v = try verify(f.dir.file("mk.itb"), key: ctl)
        #expect(v.status == 0, "\(v.out)\(v.err)")
        #expect(v.out.contains("/configurations/conf-1/signature-1: sha256,rsa2048:dev ok"))
        #expect(v.out.contains("/images/kernel/signature-1: sha256,rsa2048:dev ok"))
        // One byte of the kernel's load address (signed through the configuration) changed.
        var bytes = try readBytes(f.dir.file("mk.itb"))
        let needle: [UInt8] = [0x40, 0x40, 0x00, 0x00]
        let at = try #require((0..<(bytes.count - 4)).first { Array(bytes[$0..<$0 + 4]) == needle })
        bytes[at + 3] ^= 1
        let bad = try f.dir.write("bad.itb", bytes)
        let b = try verify(bad, key: ctl)
        #expect(b.status == 65)
        #expect(b.out.contains("/configurations/conf-1/signature-1: sha256,rsa2048:dev BAD"))
        #expect(b.err.contains("/configurations/conf-1/signature-1: expected a signature that verifies"))
    }

    @Test(arguments: [[], ["-E"]])
    func mkimageKeysVerifyOurSignaturesAndOurKeysMatchMkimages(layout: [String]) throws {
        guard toolsAvailable("mkimage", "dtc", "openssl") else { return }
        let f = try Self.fixture()
        let ctlMk = try control(f, "ctl-mk.dtb"), ctlFs = try control(f, "ctl-fs.dtb")
        #expect(try run("mkimage", ["-k", f.keys, "-K", ctlMk, "-r", "-f", f.its, f.dir.file("mk.itb")]).status == 0)
        let itb = f.dir.file("fs.itb")
        let b = try flashsmith(["fit", "build", f.its, "-o", itb, "-k", f.keys, "-K", ctlFs, "-r"] + layout)
        #expect(b.status == 0, "\(b.err)")
        for ctl in [ctlFs, ctlMk] {
            let v = try verify(itb, key: ctl)
            #expect(v.status == 0, "\(ctl): \(v.out)\(v.err)")
            #expect(v.out.contains("/configurations/conf-1/signature-1: sha256,rsa2048:dev ok"))
        }
        // The key node: every property mkimage -K -r writes, with the same values.
        let mk = try #require(try DeviceTree.decode(readBytes(ctlMk), source: "mk").root.node(at: "signature/key-dev"))
        let fs = try #require(try DeviceTree.decode(readBytes(ctlFs), source: "fs").root.node(at: "signature/key-dev"))
        for p in ["rsa,num-bits", "rsa,n0-inverse", "rsa,exponent", "rsa,modulus", "rsa,r-squared", "algo", "key-name-hint", "required"] {
            #expect(fs.property(p) == mk.property(p), "\(p)")
        }
        // mkimage -l reads our signatures' properties.
        #expect(try run("mkimage", ["-l", itb]).out.contains("Sign algo:    sha256,rsa2048:dev"))
    }

    @Test func mkimageResignsOurFITAndWeStillVerify() throws {
        guard toolsAvailable("mkimage", "dtc", "openssl") else { return }
        let f = try Self.fixture()
        let ctl = try control(f, "ctl.dtb")
        let itb = f.dir.file("fs.itb")
        #expect(try flashsmith("fit", "build", f.its, "-o", itb, "-k", f.keys).status == 0)
        let r = try run("mkimage", ["-F", "-k", f.keys, "-K", ctl, "-r", itb])
        #expect(r.status == 0, "\(r.err)")
        let v = try verify(itb, key: ctl)
        #expect(v.status == 0, "\(v.out)\(v.err)")
    }

    @Test func signingMistakesAreRefused() throws {
        guard toolsAvailable("dtc", "openssl") else { return }
        let subset = try Self.fixture(signImages: #""kernel", "fdt""#)
        let s = try flashsmith("fit", "build", subset.its, "-o", subset.dir.file("o.itb"), "-k", subset.keys)
        #expect(s.status == 65 && s.err.contains("sign-images: expected every image the configuration uses (U-Boot checks them all), found 'without initrd'"), "\(s.err)")
        let at = try Self.fixture(confName: "conf@1")
        let a = try flashsmith("fit", "build", at.its, "-o", at.dir.file("o.itb"), "-k", at.keys)
        #expect(a.status == 65 && a.err.contains("'@'"), "\(a.err)")
        let f = try Self.fixture()
        let noKeys = try flashsmith("fit", "build", f.its, "-o", f.dir.file("o.itb"))
        #expect(noKeys.status == 65 && noKeys.err.contains("expected -k KEYDIR to sign /images/kernel/signature-1"), "\(noKeys.err)")
        // A build that fails after the image signature (the configuration's sign-images is a subset)
        // leaves the control DTB it was told to edit exactly as it was.
        let ctlBefore = try control(subset, "ctl-before.dtb")
        let before = try readBytes(ctlBefore)
        let failed = try flashsmith("fit", "build", subset.its, "-o", subset.dir.file("o.itb"), "-k", subset.keys, "-K", ctlBefore, "-r")
        #expect(failed.status == 65)
        #expect(try readBytes(ctlBefore) == before)
        #expect(!FileManager.default.fileExists(atPath: subset.dir.file("o.itb")))
        let wrongDir = try flashsmith("fit", "build", f.its, "-o", f.dir.file("o.itb"), "-k", f.dir.path)
        #expect(wrongDir.status == 65 && wrongDir.err.contains("a private key for key-name-hint 'dev'"), "\(wrongDir.err)")
        #expect(!FileManager.default.fileExists(atPath: f.dir.file("o.itb")))
        // An unsigned FIT against a control DTB that requires a configuration signature.
        let ctl = try control(f, "ctl.dtb")
        #expect(try flashsmith("fit", "build", f.its, "-o", f.dir.file("s.itb"), "-k", f.keys, "-K", ctl, "-r").status == 0)
        let unsigned = f.dir.file("u.itb")
        let src = try String(contentsOfFile: f.its, encoding: .utf8).replacingOccurrences(of: #"signature-1 { algo = "sha256,rsa2048"; key-name-hint = "dev"; sign-images = "kernel", "fdt", "ramdisk"; };"#, with: "")
            .replacingOccurrences(of: #"signature-1 { algo = "sha256,rsa2048"; key-name-hint = "dev"; };"#, with: "")
        let u = try f.dir.write("u.its", src)
        #expect(try flashsmith("fit", "build", u, "-o", unsigned).status == 0)
        let v = try verify(unsigned, key: ctl)
        #expect(v.status == 65 && v.err.contains("no signed configuration"), "\(v.err)")
    }

    /// Other hash and key sizes: mkimage's signatures verify in Flashsmith, Flashsmith's verify with
    /// mkimage's key node.
    @Test(arguments: [("sha1,rsa2048", 2048), ("sha384,rsa3072", 3072), ("sha512,rsa4096", 4096)])
    func otherRSASizesBothWays(algo: String, bits: Int) throws {
        guard toolsAvailable("mkimage", "dtc", "openssl") else { return }
        let f = try Self.fixture(algo: algo, keygen: ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:\(bits)"])
        let ctlMk = try control(f, "ctl-mk.dtb")
        let m = try run("mkimage", ["-k", f.keys, "-K", ctlMk, "-r", "-f", f.its, f.dir.file("mk.itb")])
        #expect(m.status == 0, "\(m.err)")
        let v = try verify(f.dir.file("mk.itb"), key: ctlMk)
        #expect(v.status == 0 && v.out.contains("/configurations/conf-1/signature-1: \(algo):dev ok"), "\(v.out)\(v.err)")
        #expect(try flashsmith("fit", "build", f.its, "-o", f.dir.file("fs.itb"), "-k", f.keys).status == 0)
        let w = try verify(f.dir.file("fs.itb"), key: ctlMk)
        #expect(w.status == 0 && w.out.contains("/images/kernel/signature-1: \(algo):dev ok"), "\(w.out)\(w.err)")
        // A PEM key instead of a control DTB.
        #expect(try verify(f.dir.file("fs.itb"), key: "\(f.keys)/dev.key").status == 0)
    }

    /// ECDSA P-256: raw r‖s signatures; mkimage's verify in Flashsmith with the PEM key and ours with our key node.
    @Test func ecdsaP256() throws {
        guard toolsAvailable("mkimage", "dtc", "openssl") else { return }
        let f = try Self.fixture(algo: "sha256,ecdsa256", keygen: ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"], keyExt: "pem")
        let m = try run("mkimage", ["-k", f.keys, "-f", f.its, f.dir.file("mk.itb")])
        #expect(m.status == 0, "\(m.err)")
        let v = try verify(f.dir.file("mk.itb"), key: "\(f.keys)/dev.pem")
        #expect(v.status == 0 && v.out.contains("/configurations/conf-1/signature-1: sha256,ecdsa256:dev ok"), "\(v.out)\(v.err)")
        let ctl = try control(f, "ctl.dtb")
        #expect(try flashsmith("fit", "build", f.its, "-o", f.dir.file("fs.itb"), "-k", f.keys, "-K", ctl).status == 0)
        let w = try verify(f.dir.file("fs.itb"), key: ctl)
        #expect(w.status == 0 && w.out.contains("/configurations/conf-1/signature-1: sha256,ecdsa256:dev ok"), "\(w.out)\(w.err)")
    }

    /// Mix-and-match: after signing, conf-1's fdt is pointed at another (validly hashed) image.
    @Test func swappedConfigurationIsCaught() throws {
        guard toolsAvailable("dtc", "openssl") else { return }
        let f = try Self.fixture()
        let ctl = try control(f, "ctl.dtb")
        let itb = f.dir.file("fs.itb")
        #expect(try flashsmith("fit", "build", f.its, "-o", itb, "-k", f.keys, "-K", ctl, "-r").status == 0)
        var bytes = try readBytes(itb)
        let blob = try FDTBlob(validating: bytes, source: itb)
        let range = try #require(try blob.propertyRange("/configurations/conf-1", "fdt"))
        #expect(Array(bytes[range]) == Array("fdt-1\0".utf8))
        bytes[range.lowerBound + 4] = UInt8(ascii: "2")
        let swapped = try f.dir.write("swapped.itb", bytes)
        #expect(try flashsmith("fit", "verify", swapped).status == 0)  // every hash still matches
        let v = try verify(swapped, key: ctl)
        #expect(v.status == 65 && v.out.contains("/configurations/conf-1/signature-1: sha256,rsa2048:dev BAD"), "\(v.out)")
        #expect(try flashsmith("fit", "verify", swapped, "--key", ctl, "--config", "conf-9").status == 64)
    }

    /// RSASSA-PSS: mkimage uses the largest salt, Flashsmith the hash length; each verifies the
    /// other's (U-Boot accepts any salt), and a flipped signature byte is caught.
    @Test func pssBothWays() throws {
        guard toolsAvailable("mkimage", "dtc", "openssl") else { return }
        let f = try Self.fixture()
        let pss = try f.dir.write("pss.its", try String(contentsOfFile: f.its, encoding: .utf8)
            .replacingOccurrences(of: #"key-name-hint = "dev"; sign-images"#, with: #"key-name-hint = "dev"; padding = "pss"; sign-images"#))
        let ctl = try control(f, "ctl.dtb")
        #expect(try run("mkimage", ["-k", f.keys, "-K", ctl, "-r", "-f", pss, f.dir.file("mk.itb")]).status == 0)
        #expect(try flashsmith("fit", "build", pss, "-o", f.dir.file("fs.itb"), "-k", f.keys).status == 0)
        for itb in ["mk.itb", "fs.itb"] {
            let v = try verify(f.dir.file(itb), key: ctl)
            #expect(v.status == 0 && v.out.contains("/configurations/conf-1/signature-1: sha256,rsa2048:dev ok"), "\(itb): \(v.out)\(v.err)")
        }
        var bytes = try readBytes(f.dir.file("mk.itb"))
        let blob = try FDTBlob(validating: bytes, source: "mk.itb")
        let value = try #require(try blob.propertyRange("/configurations/conf-1/signature-1", "value"))
        bytes[value.lowerBound + 100] ^= 0x10
        let bad = try f.dir.write("bad.itb", bytes)
        #expect(try verify(bad, key: ctl).status == 65)
    }
}

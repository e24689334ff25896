import Foundation
import Testing
import TestSupport

/// Flashsmith's FITs against mkimage, dumpimage, dtc and fdtdump, and mkimage's FITs in Flashsmith.
@Suite struct FITInteropTests {
    /// Three images (kernel, DTB, ramdisk) with every hash algorithm, and one configuration.
    static func fixture(_ dir: TempDir) throws -> (its: String, yaml: String, payloads: [[UInt8]]) {
        let kernel = (0..<70_001).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
        let ramdisk = (0..<9_999).map { UInt8(truncatingIfNeeded: $0 &* 17) }
        _ = try dir.write("Image", kernel)
        _ = try dir.write("initrd", ramdisk)
        let dts = try dir.write("v.dts", "/dts-v1/;\n/ { model = \"virt\"; compatible = \"linux,dummy-virt\"; };\n")
        #expect(try run("dtc", ["-I", "dts", "-O", "dtb", "-o", dir.file("virt.dtb"), dts]).status == 0)
        let dtb = try readBytes(dir.file("virt.dtb"))
        let its = try dir.write("k.its", """
            /dts-v1/;
            / {
                description = "interop FIT";
                #address-cells = <1>;
                images {
                    kernel {
                        description = "Linux";
                        data = /incbin/("Image");
                        type = "kernel"; arch = "arm64"; os = "linux"; compression = "none";
                        load = <0x40400000>; entry = <0x40400000>;
                        hash-1 { algo = "sha256"; };
                        hash-2 { algo = "crc32"; };
                        hash-3 { algo = "crc16-ccitt"; };
                    };
                    fdt-1 {
                        description = "DTB";
                        data = /incbin/("virt.dtb");
                        type = "flat_dt"; arch = "arm64"; compression = "none";
                        hash-1 { algo = "sha1"; };
                        hash-2 { algo = "md5"; };
                    };
                    initrd {
                        description = "ramdisk";
                        data = /incbin/("initrd");
                        type = "ramdisk"; arch = "arm64"; os = "linux"; compression = "none";
                        hash-1 { algo = "sha384"; };
                        hash-2 { algo = "sha512"; };
                    };
                };
                configurations {
                    default = "conf-1";
                    conf-1 { description = "Boot"; kernel = "kernel"; fdt = "fdt-1"; ramdisk = "initrd"; };
                };
            };
            """)
        let yaml = try dir.write("k.yaml", """
            description: interop FIT
            images:
              kernel: { description: Linux, data: Image, type: kernel, arch: arm64, os: linux, compression: none,
                        load: 0x40400000, entry: 0x40400000, hash: [sha256, crc32, crc16-ccitt] }
              fdt-1: { description: DTB, data: virt.dtb, type: flat_dt, arch: arm64, compression: none, hash: [sha1, md5] }
              initrd: { description: ramdisk, data: initrd, type: ramdisk, arch: arm64, os: linux, compression: none, hash: [sha384, sha512] }
            configurations:
              default: conf-1
              conf-1: { description: Boot, kernel: kernel, fdt: fdt-1, ramdisk: initrd }
            """)
        return (its, yaml, [kernel, dtb, ramdisk])
    }

    static let layouts: [[String]] = [[], ["-E"], ["-E", "-B", "0x1000"], ["-E", "-p", "0x30000"]]

    /// mkimage -l lists our FIT with our hash values; dumpimage extracts each payload byte for byte;
    /// dtc and fdtdump parse it.
    @Test(arguments: layouts, ["its", "yaml"])
    func peersReadOurFIT(layout: [String], spec: String) throws {
        guard toolsAvailable("mkimage", "dumpimage", "dtc", "fdtdump") else { return }
        let dir = try TempDir()
        let f = try Self.fixture(dir)
        let itb = dir.file("ours.itb")
        let b = try run(flashsmithPath, ["fit", "build", spec == "its" ? f.its : f.yaml, "-o", itb] + layout, environment: ["SOURCE_DATE_EPOCH": "1700000000"])
        #expect(b.status == 0, "\(b.err)")
        let listed = try run("mkimage", ["-l", itb])
        #expect(listed.status == 0)
        #expect(listed.out.contains("FIT description: interop FIT"))
        #expect(listed.out.contains("Created:         Tue Nov 14 22:13:20 2023"))
        #expect(listed.out.contains("Load Address: 0x40400000"))
        let ours = try flashsmith("fit", "inspect", "--json", itb)
        #expect(ours.status == 0, "\(ours.err)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(ours.stdout)) as? [String: Any])
        let hashes = (json["images"] as? [[String: Any]] ?? []).flatMap { ($0["hashes"] as? [[String: Any]]) ?? [] }
        #expect(hashes.count == 7)
        for h in hashes { #expect(listed.out.contains("Hash value:   \(h["value"] as? String ?? "?")"), "\(h)") }
        for (i, payload) in f.payloads.enumerated() {
            #expect(try run("dumpimage", ["-T", "flat_dt", "-p", "\(i)", "-o", dir.file("d\(i)"), itb]).status == 0)
            #expect(try readBytes(dir.file("d\(i)")) == payload)
        }
        #expect(try run("dtc", ["-I", "dtb", "-O", "dts", "-o", "/dev/null", itb]).status == 0)
        #expect(try run("fdtdump", [itb]).status == 0)
    }

    /// Flashsmith verifies and extracts what mkimage builds, in every layout.
    @Test(arguments: layouts)
    func weReadMkimageFIT(layout: [String]) throws {
        guard toolsAvailable("mkimage", "dtc") else { return }
        let dir = try TempDir()
        let f = try Self.fixture(dir)
        let itb = dir.file("peer.itb")
        let m = try run("mkimage", layout + ["-f", f.its, itb])
        #expect(m.status == 0, "\(m.err)")
        let v = try flashsmith("fit", "verify", itb)
        #expect(v.status == 0, "\(v.out)\(v.err)")
        #expect(v.out.components(separatedBy: " ok\n").count - 1 == 7)
        for (name, payload) in zip(["kernel", "fdt-1", "initrd"], f.payloads) {
            #expect(try flashsmith("fit", "extract", itb, "--image", name, "-o", dir.file(name)).status == 0)
            #expect(try readBytes(dir.file(name)) == payload)
        }
        #expect(try flashsmith("inspect", itb).out.contains("Flat Image Tree (FIT)"))
    }

    /// A byte changed after hashing: verify names the image's hash and exits 65; extract refuses.
    @Test(arguments: [[], ["-E"]])
    func tamperingIsCaught(layout: [String]) throws {
        guard toolsAvailable("dtc") else { return }
        let dir = try TempDir()
        let f = try Self.fixture(dir)
        let itb = dir.file("ours.itb")
        #expect(try flashsmith(["fit", "build", f.its, "-o", itb] + layout).status == 0)
        let info = try flashsmith("fit", "inspect", "--json", itb)
        let json = try #require(try JSONSerialization.jsonObject(with: Data(info.stdout)) as? [String: Any])
        let kernel = try #require((json["images"] as? [[String: Any]])?.first)
        let offset = try #require(kernel["dataOffset"] as? Int)
        var bytes = try readBytes(itb)
        bytes[offset + 5000] ^= 0x01
        _ = try dir.write("ours.itb", bytes)
        let v = try flashsmith("fit", "verify", itb)
        #expect(v.status == 65)
        #expect(v.err.contains("/images/kernel/hash-1: sha256 mismatch: expected"), "\(v.err)")
        #expect(v.out.contains("/images/fdt-1/hash-1: sha1 ok"))
        #expect(try flashsmith("fit", "extract", itb, "--image", "kernel", "-o", dir.file("k")).status == 65)
        #expect(!FileManager.default.fileExists(atPath: dir.file("k")))
    }

    @Test func hostileFITsGetClearErrors() throws {
        guard toolsAvailable("dtc") else { return }
        let dir = try TempDir()
        let f = try Self.fixture(dir)
        let itb = dir.file("ours.itb")
        #expect(try flashsmith("fit", "build", f.its, "-o", itb, "-E").status == 0)
        let bytes = try readBytes(itb)
        // External data cut off: the last image's data run past the end of the file.
        let cut = try dir.write("cut.itb", Array(bytes.prefix(bytes.count - 100)))
        let r = try flashsmith("fit", "verify", cut)
        #expect(r.status == 65 && r.err.contains("/images/initrd: 9999 bytes at offset"), "\(r.err)")
        // The tree itself truncated.
        let tiny = try dir.write("tiny.itb", Array(bytes.prefix(200)))
        let t = try flashsmith("fit", "inspect", tiny)
        #expect(t.status == 65 && t.err.contains("totalsize"), "\(t.err)")
        // A DTB that is not a FIT.
        let dtb = dir.file("virt.dtb")
        let d = try flashsmith("fit", "inspect", dtb)
        #expect(d.status == 65 && d.err.contains("expected /images node"), "\(d.err)")
        // An image name that does not exist.
        let e = try flashsmith("fit", "extract", itb, "--image", "nope", "-o", dir.file("x"))
        #expect(e.status == 64 && e.err.contains("no image 'nope' (images: kernel, fdt-1, initrd)"))
    }
}

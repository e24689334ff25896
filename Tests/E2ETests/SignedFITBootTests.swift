import Foundation
import Testing
import TestSupport

extension E2E {
    /// FITs signed by `flashsmith fit build SPEC.its -o OUT.itb -k KEYDIR [-K CONTROL.dtb] [-r]`, verified by
    /// Debian's qemu_arm64 U-Boot 2023.01 (FIT_SIGNATURE, RSA, deb12u3) under QEMU virt
    /// (docs/fit-signing.md §4). U-Boot's control DTB is the virt DTB dumped with `-bios`
    /// (``Arm64Virt/dtb(bios:)``) plus the public key node `/signature/key-dev` that Flashsmith's `-K -r`
    /// wrote (`required = "conf"`), handed to QEMU with `-dtb` (U-Boot reports `devicetree: board`).
    ///
    /// The kernel is the doc's 136-byte fake arm64 Image: an Image header (text_offset 0x80000, so
    /// load = entry = 0x40480000), code that writes `FAKE_KERNEL_RAN_OK` to the PL011 at 0x09000000, then
    /// PSCI SYSTEM_OFF, so QEMU exits 0 about half a second after it started. The FIT holds it and the virt
    /// DTB, each with `hash-1` sha256, and `conf-1` carries `signature-1` (sha256,rsa2048, key-name-hint
    /// "dev", sign-images "kernel", "fdt"). Keys are made with `openssl genpkey` (2048-bit RSA).
    ///
    /// bootcmd: `fdt addr ${fdtcontroladdr}; fdt list /signature/key-dev` prints the key node from the
    /// control DTB U-Boot is really running with, then `bootm 0x50000000` (the FIT is put there with
    /// `-device loader,…,force-raw=on`); on refusal `echo FSE2E-SIGNED-BOOT-FAILED; poweroff`.
    /// A required conf key makes U-Boot check the configuration signature once per loaded part (kernel,
    /// then fdt), so the good case prints `sha256,rsa2048:dev+ OK` twice; a refusal stops at the kernel.
    @Suite("U-Boot (qemu_arm64) boots FITs signed by flashsmith and refuses bad ones")
    struct SignedFITBootTests {
        static let fitAt = "0x50000000"
        static let failed = "FSE2E-SIGNED-BOOT-FAILED"
        static let ranOK = "FAKE_KERNEL_RAN_OK"
        static let kernelLoad = "0x40480000"

        /// docs/fit-signing.md §4: `clang --target=aarch64-linux-gnu -c` + `llvm-objcopy -O binary`.
        static let fakeKernelHex =
            "1000001400000000000008000000000000100000000000000a00000000000000000000000000000000000000000000000000000000000000"
            + "41524d64000000000120a1d2020100104314403863000034230000b9fdffff1740010058020000d40000001446414b455f4b45524e454c"
            + "5f52414e5f4f4b0d0a00000000000000000800008400000000"

        static var fakeKernel: [UInt8] {
            var out: [UInt8] = []
            var it = fakeKernelHex.utf8.makeIterator()
            func nibble(_ c: UInt8) -> UInt8 { c <= 0x39 ? c - 0x30 : c - 0x61 + 10 }
            while let hi = it.next(), let lo = it.next() { out.append(nibble(hi) << 4 | nibble(lo)) }
            return out
        }

        static let signatureNode = """
                        signature-1 {
                            algo = "sha256,rsa2048";
                            key-name-hint = "dev";
                            sign-images = "kernel", "fdt";
                        };

            """

        /// kernel-1 (the fake Image) + fdt-1 (the virt DTB), sha256 on each; `conf-1` signed when `signed`.
        static func its(signed: Bool) -> String {
            """
            /dts-v1/;

            / {
                description = "flashsmith e2e signed FIT: fake arm64 kernel + QEMU virt DTB";
                #address-cells = <1>;

                images {
                    kernel-1 {
                        description = "fake arm64 Image (one line on the PL011, then PSCI off)";
                        data = /incbin/("Image");
                        type = "kernel";
                        arch = "arm64";
                        os = "linux";
                        compression = "none";
                        load = <\(kernelLoad)>;
                        entry = <\(kernelLoad)>;
                        hash-1 {
                            algo = "sha256";
                        };
                    };
                    fdt-1 {
                        description = "QEMU virt DTB (dumped with -bios)";
                        data = /incbin/("virt.dtb");
                        type = "flat_dt";
                        arch = "arm64";
                        compression = "none";
                        hash-1 {
                            algo = "sha256";
                        };
                    };
                    fdt-2 {
                        description = "the same DTB again, used by no configuration (for the mix-and-match test)";
                        data = /incbin/("virt.dtb");
                        type = "flat_dt";
                        arch = "arm64";
                        compression = "none";
                        hash-1 {
                            algo = "sha256";
                        };
                    };
                };

                configurations {
                    default = "conf-1";
                    conf-1 {
                        description = "fake kernel + virt DTB";
                        kernel = "kernel-1";
                        fdt = "fdt-1";
            \(signed ? signatureNode : "")        };
                };
            };

            """
        }

        func available() -> Bool {
            toolsAvailable("qemu-system-aarch64", "dtc", "openssl")
                && filesAvailable(Arm64Virt.uboot, flashsmithPath)
        }

        /// A test's folder: `Image`, `virt.dtb`, `signed.its`, `unsigned.its`, `keys/dev.key`, the env flash.
        struct Work {
            var dir: TempDir
            var flash: String
            var virtDTB: String
            var signedITS: String
            var unsignedITS: String
            var keys: String
        }

        func work(_ prefix: String) throws -> Work {
            let dir = try TempDir(prefix)
            _ = try dir.write("Image", Self.fakeKernel)
            let virt = dir.file("virt.dtb")
            try FileManager.default.copyItem(atPath: try Arm64Virt.dtb(), toPath: virt)
            let keys = dir.file("keys")
            try genkey(keys, "dev")
            let flash = dir.file("flash1.img")
            try Arm64Virt.writeEnvFlash(flash, environment: """
                bootdelay=0
                bootargs=console=ttyAMA0
                bootcmd=fdt addr ${fdtcontroladdr}; fdt list /signature/key-dev; bootm \(Self.fitAt); echo \(Self.failed); poweroff

                """)
            return Work(
                dir: dir, flash: flash, virtDTB: virt,
                signedITS: try dir.write("signed.its", Self.its(signed: true)),
                unsignedITS: try dir.write("unsigned.its", Self.its(signed: false)), keys: keys)
        }

        /// `openssl genpkey -algorithm RSA -out DIR/NAME.key -pkeyopt rsa_keygen_bits:2048`.
        func genkey(_ dir: String, _ name: String) throws {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            let r = try run("openssl", ["genpkey", "-algorithm", "RSA", "-out", "\(dir)/\(name).key", "-pkeyopt", "rsa_keygen_bits:2048"])
            try #require(r.status == 0, "openssl genpkey failed (\(r.status)): \(r.err)")
        }

        /// A fresh copy of the virt DTB, for `-K` to add a key to.
        func controlDTB(_ w: Work, _ name: String) throws -> String {
            let path = w.dir.file(name)
            try FileManager.default.copyItem(atPath: w.virtDTB, toPath: path)
            return path
        }

        /// `flashsmith fit build ITS -o OUT [-k KEYS] [-K CONTROL] [-r]`, run in the test's folder.
        @discardableResult
        func build(_ w: Work, _ its: String, _ out: String, keys: String? = nil, control: String? = nil, required: Bool = false) throws -> String {
            let path = w.dir.file(out)
            var args = ["fit", "build", its, "-o", path]
            if let keys { args += ["-k", keys] }
            if let control { args += ["-K", control] }
            if required { args += ["-r"] }
            let r = try run(flashsmithPath, args, cwd: w.dir.path)
            try #require(r.status == 0, "flashsmith \(args.joined(separator: " ")) failed (\(r.status)): \(r.err)\(r.out)")
            return path
        }

        /// The control DTB with Flashsmith's `key-dev` (required = "conf"), made by signing the good FIT with `-K -r`.
        func signedWithDevKey(_ w: Work) throws -> (fit: String, control: String) {
            let control = try controlDTB(w, "control.dtb")
            let fit = try build(w, w.signedITS, "signed.itb", keys: w.keys, control: control, required: true)
            return (fit, control)
        }

        func boot(_ w: Work, _ fit: String, control: String, label: String, killOn: [String] = []) throws -> QEMUResult {
            let r = try Arm64Virt.bootUBoot(
                flash: w.flash, extra: ["-dtb", control] + Arm64Virt.loader(fit, at: Self.fitAt),
                log: w.dir.file("qemu-\(label).log"), timeout: .seconds(30),
                markers: ["Starting kernel", Self.ranOK], killOn: killOn)
            print("E2E timing: signed FIT, \(label): \(r.summary), markers \(r.markerTimes)")
            return r
        }

        /// U-Boot printed the key node of its running control DTB (`fdt list /signature/key-dev`).
        func expectKeyInControlDTB(_ r: QEMUResult, sourceLocation: SourceLocation = #_sourceLocation) {
            let ctx = "\(r.summary)\n\(r.tail(70))"
            #expect(r.contains("devicetree: board"), "\(ctx)", sourceLocation: sourceLocation)
            for line in ["key-dev {", "\trequired = \"conf\";", "\talgo = \"sha256,rsa2048\";", "\tkey-name-hint = \"dev\";", "\trsa,num-bits = <0x00000800>;"] {
                #expect(r.contains(line), "control DTB key node lacks '\(line)': \(ctx)", sourceLocation: sourceLocation)
            }
        }

        /// Config signature verified with key-dev for the kernel and for the fdt, both hashes OK, fake kernel ran, QEMU off.
        func expectBooted(_ r: QEMUResult, sourceLocation: SourceLocation = #_sourceLocation) {
            let ctx = "\(r.summary)\n\(r.tail(70))"
            func count(_ s: String) -> Int { r.log.components(separatedBy: s).count - 1 }
            #expect(r.contains("## Loading kernel from FIT Image at 50000000 ..."), "\(ctx)", sourceLocation: sourceLocation)
            #expect(r.contains("Using 'conf-1' configuration"), "\(ctx)", sourceLocation: sourceLocation)
            #expect(count("Verifying Hash Integrity ... sha256,rsa2048:dev+ OK") == 2, "config signature not verified for kernel and fdt: \(ctx)", sourceLocation: sourceLocation)
            #expect(count("Verifying Hash Integrity ... sha256+ OK") == 2, "\(ctx)", sourceLocation: sourceLocation)
            #expect(r.contains("Trying 'kernel-1' kernel subimage") && r.contains("Trying 'fdt-1' fdt subimage"), "\(ctx)", sourceLocation: sourceLocation)
            #expect(r.contains("Load Address: \(Self.kernelLoad)"), "\(ctx)", sourceLocation: sourceLocation)
            #expect(r.contains("Booting using the fdt blob at 0x"), "\(ctx)", sourceLocation: sourceLocation)
            #expect(!r.contains("error!"), "\(ctx)", sourceLocation: sourceLocation)
            #expect(r.contains("Starting kernel ..."), "\(ctx)", sourceLocation: sourceLocation)
            // The marker on its own line right after U-Boot's last words (not, say, inside a printed description).
            #expect(r.contains("Starting kernel ...\n\n\(Self.ranOK)\n"), "the fake kernel did not run: \(ctx)", sourceLocation: sourceLocation)
            #expect(!r.contains(Self.failed), "\(ctx)", sourceLocation: sourceLocation)
            #expect(r.exitStatus == 0, "QEMU did not power off by itself: \(ctx)", sourceLocation: sourceLocation)
        }

        /// Refused at the configuration check (kernel load): `lines` in order, then the common tail.
        func expectRefused(_ r: QEMUResult, _ lines: [String], sourceLocation: SourceLocation = #_sourceLocation) {
            let ctx = "\(r.summary)\n\(r.tail(70))"
            let expected = ["## Loading kernel from FIT Image at 50000000 ...", "   Using 'conf-1' configuration"] + lines + [
                "Failed to verify required signature 'key-dev'", "Bad Data Hash", "ERROR: can't get kernel image!", Self.failed,
            ]
            // Consecutive lines, verbatim, as U-Boot printed them.
            #expect(r.contains(expected.joined(separator: "\n")), "U-Boot's refusal differs from\n\(expected.joined(separator: "\n"))\n---\n\(ctx)", sourceLocation: sourceLocation)
            #expect(!r.contains("Trying 'kernel-1' kernel subimage"), "\(ctx)", sourceLocation: sourceLocation)
            #expect(!r.contains("Starting kernel"), "\(ctx)", sourceLocation: sourceLocation)
            #expect(!r.contains(Self.ranOK), "the refused FIT ran: \(ctx)", sourceLocation: sourceLocation)
            #expect(r.exitStatus == 0, "\(ctx)", sourceLocation: sourceLocation)
        }

        /// Control run with the plain virt DTB (no keys): nothing is required, so U-Boot skips the config
        /// signature (`Verifying Hash Integrity ... OK`) and the same FIT boots. Shows that a refusal above
        /// came from the key, not from a malformed FIT.
        func expectBootsWithoutKey(_ r: QEMUResult, sourceLocation: SourceLocation = #_sourceLocation) {
            let ctx = "\(r.summary)\n\(r.tail(70))"
            #expect(r.contains("   Using 'conf-1' configuration\n   Verifying Hash Integrity ... OK\n   Trying 'kernel-1' kernel subimage"), "\(ctx)", sourceLocation: sourceLocation)
            #expect(r.contains("Starting kernel ...\n\n\(Self.ranOK)\n"), "\(ctx)", sourceLocation: sourceLocation)
            #expect(r.exitStatus == 0, "\(ctx)", sourceLocation: sourceLocation)
        }

        /// The key node Flashsmith's `-K -r` wrote holds the public half of `keys/dev.key` (modulus as
        /// openssl prints it, e = 65537, n0-inverse = −n⁻¹ mod 2³²), 2048 bits, algo, hint, required = "conf".
        func expectKeyNode(_ control: String, keys: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
            let tree = try FlatTree(readBytes(control))
            let key = try #require(tree.nodes["/signature/key-dev"], "no /signature/key-dev in \(control): \(tree.nodes.keys.sorted())", sourceLocation: sourceLocation)
            func string(_ name: String) -> String? {
                key[name].map { String(decoding: $0.value.prefix { $0 != 0 }, as: UTF8.self) }
            }
            #expect(string("required") == "conf", sourceLocation: sourceLocation)
            #expect(string("algo") == "sha256,rsa2048", sourceLocation: sourceLocation)
            #expect(string("key-name-hint") == "dev", sourceLocation: sourceLocation)
            #expect(key["rsa,num-bits"]?.value == [0, 0, 8, 0], sourceLocation: sourceLocation)
            #expect(key["rsa,exponent"]?.value == [0, 0, 0, 0, 0, 1, 0, 1], sourceLocation: sourceLocation)
            #expect(key["rsa,r-squared"]?.value.count == 256, sourceLocation: sourceLocation)
            let m = try run("openssl", ["rsa", "-in", "\(keys)/dev.key", "-noout", "-modulus"])
            let hex = m.out.trimmingCharacters(in: .whitespacesAndNewlines).replacingOccurrences(of: "Modulus=", with: "").lowercased()
            let modulus = try #require(key["rsa,modulus"]?.value, sourceLocation: sourceLocation)
            #expect(modulus.map { String(format: "%02x", $0) }.joined() == hex, "rsa,modulus is not dev.key's (openssl: \(hex))", sourceLocation: sourceLocation)
            if modulus.count == 256 {
                let n0 = UInt32(modulus[252]) << 24 | UInt32(modulus[253]) << 16 | UInt32(modulus[254]) << 8 | UInt32(modulus[255])
                var x = n0
                for _ in 0..<5 { x = x &* (2 &- n0 &* x) }
                let n0inv = 0 &- x
                #expect(key["rsa,n0-inverse"]?.value == [UInt8(n0inv >> 24), UInt8(n0inv >> 16 & 0xFF), UInt8(n0inv >> 8 & 0xFF), UInt8(n0inv & 0xFF)], sourceLocation: sourceLocation)
            }
        }

        @Test("signed by flashsmith with dev.key, key-dev (required = conf) written by flashsmith -K -r: sha256,rsa2048:dev+ OK, the kernel runs")
        func goodSignatureBoots() throws {
            guard available() else { return }
            let w = try work("flashsmith-e2e-sigfit-good")
            let (fit, control) = try signedWithDevKey(w)
            try expectKeyNode(control, keys: w.keys)
            let tree = try FlatTree(readBytes(fit))
            let sig = try #require(tree.nodes["/configurations/conf-1/signature-1"], "\(fit) has no signature node")
            #expect(sig["value"]?.value.count == 256, "signature value: \(sig["value"]?.value.count ?? -1) bytes")
            let r = try boot(w, fit, control: control, label: "good")
            expectKeyInControlDTB(r)
            expectBooted(r)
        }

        @Test("signed with another key named dev.key (other keydir): refused, Failed to verify required signature 'key-dev'")
        func otherKeyRefused() throws {
            guard available() else { return }
            let w = try work("flashsmith-e2e-sigfit-otherkey")
            let (_, control) = try signedWithDevKey(w)
            // other.key, renamed to dev.key so that key-name-hint "dev" finds it.
            let other = w.dir.file("other")
            try genkey(other, "other")
            try FileManager.default.moveItem(atPath: "\(other)/other.key", toPath: "\(other)/dev.key")
            let fit = try build(w, w.signedITS, "other.itb", keys: other)
            let r = try boot(w, fit, control: control, label: "other-key", killOn: [Self.ranOK])
            expectKeyInControlDTB(r)
            expectRefused(r, [
                "   Verifying Hash Integrity ... sha256,rsa2048:dev-  error!",
                "Verification failed for '<NULL>' hash node in 'conf-1' config node",
            ])
            expectBootsWithoutKey(try boot(w, fit, control: w.virtDTB, label: "other-key-no-key"))
        }

        @Test("one byte of kernel-1's load property changed after signing: refused, Verification failed")
        func tamperedLoadRefused() throws {
            guard available() else { return }
            let w = try work("flashsmith-e2e-sigfit-load")
            let (fit, control) = try signedWithDevKey(w)
            var bytes = try readBytes(fit)
            let before = try FlatTree(bytes)
            let load = try #require(before.nodes["/images/kernel-1"]?["load"], "no /images/kernel-1 load in \(fit)")
            try #require(load.value == [0x40, 0x48, 0x00, 0x00], "load = \(load.value)")
            bytes[load.offset + 1] ^= 0x01  // 0x40480000 → 0x40490000
            let tampered = try w.dir.write("tampered.itb", bytes)
            let after = try FlatTree(bytes)
            #expect(after.nodes["/images/kernel-1"]?["load"]?.value == [0x40, 0x49, 0x00, 0x00])
            #expect(after.nodes["/images/kernel-1/hash-1"]?["value"]?.value == before.nodes["/images/kernel-1/hash-1"]?["value"]?.value)
            let r = try boot(w, tampered, control: control, label: "tampered-load", killOn: [Self.ranOK])
            expectKeyInControlDTB(r)
            expectRefused(r, [
                "   Verifying Hash Integrity ... sha256,rsa2048:dev-  error!",
                "Verification failed for '<NULL>' hash node in 'conf-1' config node",
            ])
            // Without a key U-Boot takes the tampered load address and jumps (entry 0x40480000 now holds
            // no kernel, so the fake kernel cannot run): stop at "Starting kernel".
            let c = try boot(w, tampered, control: w.virtDTB, label: "tampered-load-no-key", killOn: ["Starting kernel ..."])
            let cctx = "\(c.summary)\n\(c.tail(70))"
            #expect(c.contains("   Using 'conf-1' configuration\n   Verifying Hash Integrity ... OK\n   Trying 'kernel-1' kernel subimage"), "\(cctx)")
            #expect(c.contains("Load Address: 0x40490000"), "\(cctx)")
            #expect(c.contains("Starting kernel ..."), "\(cctx)")
        }

        @Test("conf-1's fdt pointed at another hashed image after signing (mix and match): refused, Verification failed")
        func swappedConfigurationRefused() throws {
            guard available() else { return }
            let w = try work("flashsmith-e2e-sigfit-swap")
            let (fit, control) = try signedWithDevKey(w)
            var bytes = try readBytes(fit)
            let tree = try FlatTree(bytes)
            let fdt = try #require(tree.nodes["/configurations/conf-1"]?["fdt"], "no conf-1 fdt in \(fit)")
            try #require(fdt.value == Array("fdt-1\0".utf8), "fdt = \(fdt.value)")
            bytes[fdt.offset + 4] = UInt8(ascii: "2")  // "fdt-1" → "fdt-2": every image hash still matches
            let swapped = try w.dir.write("swapped.itb", bytes)
            #expect(try flashsmith("fit", "verify", swapped).status == 0)
            let r = try boot(w, swapped, control: control, label: "swapped", killOn: [Self.ranOK])
            expectKeyInControlDTB(r)
            expectRefused(r, [
                "   Verifying Hash Integrity ... sha256,rsa2048:dev-  error!",
                "Verification failed for '<NULL>' hash node in 'conf-1' config node",
            ])
        }

        @Test("unsigned FIT (no signature node) with key-dev required: refused, No 'signature' subnode found")
        func unsignedRefused() throws {
            guard available() else { return }
            let w = try work("flashsmith-e2e-sigfit-unsigned")
            let (_, control) = try signedWithDevKey(w)
            let fit = try build(w, w.unsignedITS, "unsigned.itb")
            #expect(try FlatTree(readBytes(fit)).nodes["/configurations/conf-1/signature-1"] == nil)
            let r = try boot(w, fit, control: control, label: "unsigned", killOn: [Self.ranOK])
            expectKeyInControlDTB(r)
            expectRefused(r, [
                "   Verifying Hash Integrity ...  error!",
                "No 'signature' subnode found for '<NULL>' hash node in 'conf-1' config node",
            ])
            expectBootsWithoutKey(try boot(w, fit, control: w.virtDTB, label: "unsigned-no-key"))
        }

        /// mkimage needs the X.509 certificate for `-K` (`keys/dev.crt`); it signs with `keys/dev.key`.
        @Test("keys cross-checked with mkimage: flashsmith's FIT boots with mkimage's key node, mkimage's FIT with flashsmith's")
        func crossCheckWithMkimage() throws {
            guard available(), toolsAvailable("mkimage") else { return }
            let w = try work("flashsmith-e2e-sigfit-mkimage")
            let (fit, flashsmithControl) = try signedWithDevKey(w)
            let crt = try run("openssl", ["req", "-batch", "-new", "-x509", "-key", "\(w.keys)/dev.key", "-out", "\(w.keys)/dev.crt"])
            try #require(crt.status == 0, "openssl req failed: \(crt.err)")
            let mkimageControl = try controlDTB(w, "ctl-mkimage.dtb")
            let mk = try run("mkimage", ["-k", w.keys, "-K", mkimageControl, "-r", "-f", w.signedITS, w.dir.file("mkimage.itb")], cwd: w.dir.path)
            try #require(mk.status == 0, "mkimage failed (\(mk.status)): \(mk.err)\(mk.out)")

            // The two key nodes: same properties, same values.
            let ours = try #require(try FlatTree(readBytes(flashsmithControl)).nodes["/signature/key-dev"])
            let theirs = try #require(try FlatTree(readBytes(mkimageControl)).nodes["/signature/key-dev"])
            #expect(ours.keys.sorted() == theirs.keys.sorted(), "flashsmith: \(ours.keys.sorted()), mkimage: \(theirs.keys.sorted())")
            for (name, p) in theirs.sorted(by: { $0.key < $1.key }) {
                #expect(ours[name]?.value == p.value, "key-dev \(name): flashsmith and mkimage differ")
            }

            let a = try boot(w, fit, control: mkimageControl, label: "flashsmith-fit-mkimage-key")
            expectKeyInControlDTB(a)
            expectBooted(a)
            let b = try boot(w, w.dir.file("mkimage.itb"), control: flashsmithControl, label: "mkimage-fit-flashsmith-key")
            expectKeyInControlDTB(b)
            expectBooted(b)
        }
    }
}

/// Every property of a flattened device tree by node path ("/", "/images/kernel-1") and name, with the
/// file offset of its value: enough to read key nodes and to patch one byte of a signed FIT.
private struct FlatTree {
    struct Property: Equatable {
        var offset: Int
        var value: [UInt8]
    }

    struct Malformed: Error, CustomStringConvertible {
        var description: String
    }

    var nodes: [String: [String: Property]] = [:]

    init(_ b: [UInt8]) throws {
        func be32(_ i: Int) throws -> Int {
            guard i >= 0, i + 4 <= b.count else { throw Malformed(description: "read past the end at \(i)") }
            return Int(b[i]) << 24 | Int(b[i + 1]) << 16 | Int(b[i + 2]) << 8 | Int(b[i + 3])
        }
        func cString(_ i: Int) throws -> String {
            guard i < b.count, let end = b[i...].firstIndex(of: 0) else { throw Malformed(description: "unterminated string at \(i)") }
            return String(decoding: b[i..<end], as: UTF8.self)
        }
        guard try be32(0) == 0xD00D_FEED else { throw Malformed(description: "no FDT magic") }
        let structStart = try be32(8), strings = try be32(12), structEnd = structStart + (try be32(36))
        var stack: [String] = []
        var path: String { stack.count <= 1 ? "/" : "/" + stack.dropFirst().joined(separator: "/") }
        var i = structStart
        walk: while i < structEnd {
            let tag = try be32(i)
            i += 4
            switch tag {
            case 1:  // FDT_BEGIN_NODE
                let name = try cString(i)
                stack.append(name)
                i = (i + name.utf8.count + 1 + 3) & ~3
                if nodes[path] == nil { nodes[path] = [:] }
            case 2:  // FDT_END_NODE
                guard stack.popLast() != nil else { throw Malformed(description: "END_NODE without a node at \(i - 4)") }
            case 3:  // FDT_PROP
                let len = try be32(i), nameOffset = try be32(i + 4)
                i += 8
                guard i + len <= b.count else { throw Malformed(description: "property past the end at \(i)") }
                nodes[path, default: [:]][try cString(strings + nameOffset)] = Property(offset: i, value: Array(b[i..<(i + len)]))
                i = (i + len + 3) & ~3
            case 4:  // FDT_NOP
                continue
            case 9:  // FDT_END
                break walk
            default:
                throw Malformed(description: "unknown tag \(tag) at \(i - 4)")
            }
        }
    }
}

import Foundation
import Testing
import TestSupport

extension E2E {
    /// Raw NAND images with OOB and Linux soft Hamming ECC, checked in the kernel: nandsim in an
    /// amd64 guest (2 KiB pages, 64-byte OOB, 128 KiB blocks, Linux's default soft Hamming).
    /// - Flashsmith's raw image written with `nandwrite --noecc --oob` reads back through the
    ///   kernel's ECC as the original data, with no ECC error;
    /// - the same data written by the kernel (`nandwrite`, ECC computed by Linux) dumps with its OOB
    ///   (`nanddump --oob`) byte for byte as Flashsmith's raw image;
    /// - one flipped bit per 256-byte step (block dumped raw, bits flipped, erased, written back raw,
    ///   as nandflipbits does) is corrected on read; two in one step are not (the negative control).
    @Suite("raw NAND images with Hamming ECC read back through the kernel's ECC")
    struct NANDRawTests {
        static let blocks = 16
        static func script(nandsimExtra: String, singleFlips: String, beyondFlips: String) -> String {
            script.replacingOccurrences(of: "@EXTRA@", with: nandsimExtra).replacingOccurrences(of: "@SINGLE@", with: singleFlips)
                .replacingOccurrences(of: "@BEYOND@", with: beyondFlips)
        }

        static let script = #"""
            #!/bin/sh
            fail=0
            step() { echo "E2E-STEP $1 rc=$2"; [ "$2" = 0 ] || fail=1; }
            modprobe nandsim id_bytes=0x20,0xaa,0x00,0x15 parts=16,16 @EXTRA@; step nandsim $?
            LEN=$(stat -c %s /data.bin)
            ALL=$((16 * 131072))
            errs() { cat /sys/class/mtd/mtd0/ecc_failures; }
            echo "E2E-DATA $(md5sum < /data.bin | cut -c1-32)"
            nandwrite -q --noecc --oob /dev/mtd0 /raw.img; step raw-write $?
            echo "E2E-READ-RAW $(nanddump -q -l $LEN /dev/mtd0 | head -c $LEN | md5sum | cut -c1-32) errors=$(errs)"
            nandwrite -q -p /dev/mtd1 /data.bin; step kernel-write $?
            echo "E2E-KERNEL-OOB $(nanddump -q --oob --noecc -l $ALL /dev/mtd1 | md5sum | cut -c1-32)"
            # Bit flips, as nandflipbits does them (its 2.1.5 parser fails on an unset errno): block 0
            # dumped raw with OOB, bits flipped, the block erased and written back raw.
            flip() { # flip OFFSET MASK in /tmp/blk (page p byte i: p * 2112 + i)
              b=$(dd if=/tmp/blk bs=1 skip=$1 count=1 2>/dev/null | od -An -tu1 | tr -d ' ')
              printf "$(printf '\\%03o' $(( b ^ $2 )))" | dd of=/tmp/blk bs=1 seek=$1 conv=notrunc 2>/dev/null
            }
            rewrite() { flash_erase -q /dev/mtd0 0 1 && nandwrite -q --noecc --oob /dev/mtd0 /tmp/blk; }
            stats() { echo "corrected=$(cat /sys/class/mtd/mtd0/corrected_bits) failed=$(cat /sys/class/mtd/mtd0/ecc_failures)"; }
            nanddump -q --noecc --oob -l 131072 -f /tmp/blk /dev/mtd0; step dump-block $?
            echo "E2E-STATS-BEFORE $(stats)"
            # One bit in each of page 0's first three 256-byte steps, and one in page 5.
            @SINGLE@
            rewrite; step flip1 $?
            echo "E2E-READ-FLIPPED $(nanddump -q -l $LEN /dev/mtd0 | head -c $LEN | md5sum | cut -c1-32) $(stats)"
            # Two bits in one step of page 9: beyond Hamming's strength.
            nanddump -q --noecc --oob -l 131072 -f /tmp/blk /dev/mtd0
            @BEYOND@
            rewrite; step flip2 $?
            echo "E2E-READ-TWO $(nanddump -q -l $LEN /dev/mtd0 2>/dev/null | head -c $LEN | md5sum | cut -c1-32) $(stats)"
            exit $fail
            """#

        @Test("Hamming: nandwrite --noecc --oob of our image; the kernel's own OOB; bit flips")
        func hammingInNandsim() throws {
            try check(ecc: "hamming", nandsimExtra: "", singles: 4,
                      singleFlips: "flip 10 8; flip 300 1; flip 700 128; flip $((5 * 2112 + 1000)) 2",
                      beyondFlips: "flip $((9 * 2112 + 4)) 4; flip $((9 * 2112 + 100)) 32")
        }

        /// BCH-8 (512-byte steps, 13 ECC bytes each, at the end of the OOB): nandsim bch=8.
        @Test("BCH-8: our image through the kernel's BCH; its own OOB is ours; 8 flips in a step corrected, more not")
        func bchInNandsim() throws {
            let eight = (0..<8).map { "flip \(3 + 61 * $0) \(1 << ($0 % 8))" }.joined(separator: "; ")
            let twelve = (0..<12).map { "flip $((9 * 2112 + \(7 + 40 * $0))) \(1 << ($0 % 8))" }.joined(separator: "; ")
            try check(ecc: "bch8", nandsimExtra: "bch=8", singles: 8, singleFlips: eight, beyondFlips: twelve)
        }

        func check(ecc: String, nandsimExtra: String, singles: Int, singleFlips: String, beyondFlips: String) throws {
            guard toolsAvailable("qemu-system-x86_64", "apt-get", "dpkg", "busybox", "nandwrite", "nanddump", "flash_erase"), filesAvailable(flashsmithPath) else { return }
            let kernel = try DebianArtifacts.amd64Kernel()
            let dir = try TempDir("flashsmith-e2e-nandraw")
            var rng = SystemRandomNumberGenerator()
            let data = (0..<(1_500_000)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            _ = try dir.write("data.bin", data)
            let r = try flashsmith(
                "nand", "raw", dir.file("data.bin"), "-o", dir.file("raw.img"), "--page-size", "2048", "--oob-size", "64", "--erase-block", "128KiB",
                "--ecc", ecc, "--blocks", String(Self.blocks)
            )
            try #require(r.status == 0, "\(r.err)")
            let raw = try readBytes(dir.file("raw.img"))
            #expect(raw.count == Self.blocks * 64 * 2112)
            let initramfs = try Initramfs()
            try initramfs.addBusybox()
            try initramfs.addModules(["nandsim"], kernel: kernel)
            for tool in ["nandwrite", "nanddump", "flash_erase"] { try initramfs.addBinary(try #require(which(tool))) }
            try initramfs.addFile("/data.bin", data)
            try initramfs.addFile("/raw.img", raw)
            try initramfs.setInit(testScript: Self.script(nandsimExtra: nandsimExtra, singleFlips: singleFlips, beyondFlips: beyondFlips))
            try initramfs.write(to: dir.file("initrd.cpio"))
            let q = try QEMU.run(
                "qemu-system-x86_64",
                ["-accel", "tcg", "-m", "1024", "-smp", "1", "-nographic", "-no-reboot", "-nic", "none", "-kernel", kernel.vmlinuz, "-initrd", dir.file("initrd.cpio"), "-append", "console=ttyS0 panic=-1 quiet"],
                log: dir.file("qemu.log"), timeout: .seconds(120), markers: [Initramfs.defaultResultMarker]
            )
            print("E2E timing: raw NAND guest (\(ecc)) \(q.summary)")
            let lines = q.lines
            func line(_ p: String) -> String? { q.line(p) }
            let ctx = q.tail(40)
            for l in lines where l.contains("E2E-") { print("E2E nand: \(l)") }
            let dataMD5 = try #require(line("E2E-DATA "), "\(ctx)")
            #expect(dataMD5 == md5(data))
            #expect(line("E2E-READ-RAW ") == "\(dataMD5) errors=0", "our raw image through the kernel's ECC: \(ctx)")
            #expect(line("E2E-KERNEL-OOB ") == md5(raw), "the kernel's page+OOB for the same data is our raw image: \(ctx)")
            #expect(line("E2E-STEP flip1 rc=") == "0" && line("E2E-STEP flip2 rc=") == "0", "\(ctx)")
            #expect(line("E2E-STATS-BEFORE ") == "corrected=0 failed=0", "\(ctx)")
            // Flips within the strength, each corrected (the counters count per read: nanddump reads once).
            #expect(line("E2E-READ-FLIPPED ") == "\(dataMD5) corrected=\(singles) failed=0", "flips within the strength are corrected: \(ctx)")
            let two = line("E2E-READ-TWO ") ?? ""
            #expect(!two.hasPrefix(dataMD5) && !two.hasSuffix("failed=0"), "two flips in one step are not corrected: \(two)")
        }


        /// nandsim configured from the board file (`nand show --nandsim`: id_bytes, as given or derived
        /// from the geometry, bch=, parts) has the board's geometry and partitions, as /proc/mtd shows them.
        @Test("nandsim from a board: the board's geometry, /proc/mtd has the board's partitions", arguments: ["nandsim", "slc-4k"])
        func nandsimFromTheBoard(board name: String) throws {
            guard toolsAvailable("qemu-system-x86_64", "apt-get", "dpkg", "busybox"), filesAvailable(flashsmithPath) else { return }
            let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
            let params = try flashsmith("nand", "show", "\(repo)/layouts/\(name)", "--nandsim").out.trimmingCharacters(in: .whitespacesAndNewlines)
            let show = try flashsmith("nand", "show", "\(repo)/layouts/\(name)", "--json")
            let board = try #require(try JSONSerialization.jsonObject(with: Data(show.stdout)) as? [String: Any])
            let parts = try #require(board["partitions"] as? [[String: Any]])
            let geometry = "\(board["pageSize"] as? Int ?? 0) \(board["oobSize"] as? Int ?? 0) \(board["eraseBlockSize"] as? Int ?? 0)"
            let kernel = try DebianArtifacts.amd64Kernel()
            let dir = try TempDir("flashsmith-e2e-nandboard")
            let initramfs = try Initramfs()
            try initramfs.addBusybox()
            try initramfs.addModules(["nandsim"], kernel: kernel)
            try initramfs.setInit(testScript: "#!/bin/sh\nmodprobe nandsim \(params) || exit 1\nsed 's/^/E2E-MTD /' /proc/mtd\ncat /sys/class/mtd/mtd0/writesize /sys/class/mtd/mtd0/oobsize /sys/class/mtd/mtd0/erasesize | tr '\\n' ' ' | sed 's/^/E2E-GEOMETRY /'\necho\n")
            try initramfs.write(to: dir.file("initrd.cpio"))
            let q = try QEMU.run(
                "qemu-system-x86_64",
                ["-accel", "tcg", "-m", "512", "-smp", "1", "-nographic", "-no-reboot", "-nic", "none", "-kernel", kernel.vmlinuz, "-initrd", dir.file("initrd.cpio"), "-append", "console=ttyS0 panic=-1 quiet"],
                log: dir.file("qemu.log"), timeout: .seconds(90), markers: [Initramfs.defaultResultMarker]
            )
            // /proc/mtd: "mtdN: SIZE ERASESIZE \"NAME\"", sizes in hex.
            let mtd = q.log.split(separator: "\n").compactMap { l -> (Int, Int)? in
                guard let r = l.range(of: "E2E-MTD mtd") else { return nil }
                let f = l[r.upperBound...].split(separator: " ")
                guard f.count >= 3, let n = Int(f[0].dropLast()), let size = Int(f[1], radix: 16) else { return nil }
                return (n, size)
            }
            #expect(mtd.map(\.1) == parts.compactMap { $0["size"] as? Int }, "/proc/mtd \(mtd) vs the board \(parts)\n\(q.tail(30))")
            #expect(q.log.contains("E2E-GEOMETRY \(geometry)"), "\(q.tail(30))")
        }

        func md5(_ bytes: [UInt8]) -> String {
            (try? run("/usr/bin/md5sum", [], stdin: bytes).out.prefix(32)).map(String.init) ?? ""
        }
    }
}

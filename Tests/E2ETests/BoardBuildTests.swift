import Foundation
import Testing
import TestSupport

extension E2E {
    /// `flashsmith build layouts/nandsim`, then in an amd64 guest: nandsim configured from the board
    /// (`nand show --nandsim`), the OOB image (page + OOB, Hamming ECC) written raw partition by
    /// partition with `nandwrite --noecc --oob` from a virtio disk; libubootenv's fw_printenv reads the
    /// environment through the generated fw_env.config (bootargs derived from the layout); `ubiattach`
    /// + `mount -t ubifs` shows the rootfs with the manifest's owners, modes and device nodes.
    @Suite("flashsmith build of the nandsim board, programmed into nandsim and mounted")
    struct BoardBuildTests {
        static let checked = ["/dev/mtd0", "/dev/mtd3", "/etc/board-marker", "/var/board", "/etc/shadow", "/usr/bin/busybox", "/bin", "/tmp"]

        /// Without bad blocks, and with block 76 (in the rootfs partition, under the UBI image) declared
        /// bad both to `flashsmith build --bad-blocks` and to nandsim: the content goes on past it.
        @Test("OOB image written raw; env read by fw_printenv; UBIFS mounted with the manifest's metadata", arguments: [Int?.none, 76])
        func nandsimBoard(badBlock: Int?) throws {
            guard toolsAvailable("qemu-system-x86_64", "apt-get", "dpkg", "busybox", "nandwrite", "ubiattach", "fw_printenv", "mkfs.ubifs"), filesAvailable(flashsmithPath) else { return }
            let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
            let dir = try TempDir("flashsmith-e2e-board")
            let out = dir.file("out")
            let b = try flashsmith(["build", "\(repo)/layouts/nandsim", "-o", out] + (badBlock.map { ["--bad-blocks", String($0)] } ?? []))
            try #require(b.status == 0, "flashsmith build: \(b.err)")
            let params = try flashsmith("nand", "show", "\(repo)/layouts/nandsim", "--nandsim").out.trimmingCharacters(in: .whitespacesAndNewlines)
                + (badBlock.map { " badblocks=\($0)" } ?? "")
            if badBlock != nil { #expect(b.out.contains("(1 known bad)"), "the report counts the bad block in its partition: \(b.out)") }
            let show = try flashsmith("nand", "show", "\(repo)/layouts/nandsim", "--json")
            let board = try #require(try JSONSerialization.jsonObject(with: Data(show.stdout)) as? [String: Any])
            let parts = try #require(board["partitions"] as? [[String: Any]])
            let ls = try flashsmith("rootfs", "ls", "\(repo)/layouts/nandsim/rootfs.yaml", "--json")
            let items = try #require(try JSONSerialization.jsonObject(with: Data(ls.stdout)) as? [[String: Any]])
            let manifest = Dictionary(items.compactMap { i in (i["path"] as? String).map { ($0, i) } }, uniquingKeysWith: { a, _ in a })

            // Each partition's share of the OOB image: offsets in pages of 2048 + 64.
            var writes = ""
            for (i, p) in parts.enumerated() {
                let offset = p["offset"] as? Int ?? 0, size = p["size"] as? Int ?? 0
                let first = offset / 131072, count = size / 131072
                if let bad = badBlock, bad >= first, bad < first + count {
                    // As a programmer writes it: block for block, the bad one left alone (nandwrite
                    // would move the rest of the image past it instead). The UBI image's blocks and a few more.
                    writes += "for k in $(seq 0 40); do [ $k = \(bad - first) ] && continue; "
                        + "nandwrite -q --noecc --oob -s $((k * 131072)) /dev/mtd\(i) --input-skip=$(( (\(first) + k) * 64 * 2112 )) --input-size=$((64 * 2112)) /dev/vda || echo E2E-BLOCK-WRITE-FAILED $k; done\n"
                } else {
                    writes += "nandwrite -q --noecc --oob /dev/mtd\(i) --input-skip=\(offset / 2048 * 2112) --input-size=\(size / 2048 * 2112) /dev/vda; step write-mtd\(i) $?\n"
                }
            }
            let script = """
                #!/bin/sh
                fail=0
                step() { echo "E2E-STEP $1 rc=$2"; [ "$2" = 0 ] || fail=1; }
                modprobe virtio_pci; modprobe virtio_blk
                modprobe nandsim \(params); step nandsim $?
                \(writes)
                echo "E2E-ECC-FAILURES $(cat /sys/class/mtd/mtd*/ecc_failures | tr '\\n' ' ')"
                echo "E2E-BOOTARGS $(fw_printenv -c /fw_env.config -n bootargs 2>&1)"
                modprobe ubi; modprobe ubifs
                ubiattach -m 3 >/dev/null; step ubiattach $?
                mount -t ubifs ubi0:rootfs /mnt; step mount $?
                echo "E2E-MARKER $(cat /mnt/etc/board-marker)"
                for p in \(Self.checked.joined(separator: " ")); do
                  if [ -L /mnt$p ]; then l=$(readlink /mnt$p); else l=; fi
                  echo "E2E-STAT $p|$(stat -c '%F|%a|%u|%g|%t|%T' /mnt$p)|$l"
                done
                exit $fail
                """
            let kernel = try DebianArtifacts.amd64Kernel()
            let initramfs = try Initramfs()
            try initramfs.addBusybox()
            try initramfs.addModules(["nandsim", "ubi", "ubifs", "zstd", "virtio_pci", "virtio_blk"], kernel: kernel)
            for tool in ["nandwrite", "ubiattach", "fw_printenv"] { try initramfs.addBinary(try #require(which(tool))) }
            try initramfs.addFile("/fw_env.config", try readBytes("\(out)/fw_env.config"))
            try initramfs.setInit(testScript: script)
            try initramfs.write(to: dir.file("initrd.cpio"))
            let q = try QEMU.run(
                "qemu-system-x86_64",
                [
                    "-accel", "tcg", "-m", "1024", "-smp", "1", "-nographic", "-no-reboot", "-nic", "none", "-kernel", kernel.vmlinuz,
                    "-initrd", dir.file("initrd.cpio"), "-drive", "file=\(out)/nandsim.oob.img,if=virtio,format=raw,readonly=on",
                    "-append", "console=ttyS0 panic=-1 quiet",
                ],
                log: dir.file("qemu.log"), timeout: .seconds(180), markers: [Initramfs.defaultResultMarker]
            )
            print("E2E timing: nandsim board \(q.summary)")
            let lines = q.lines
            func line(_ p: String) -> String? { q.line(p) }
            let ctx = q.tail(50)
            for l in lines where l.contains("E2E-STEP") { #expect(l.hasSuffix("rc=0"), "\(l)\n\(ctx)") }
            #expect(!q.log.contains("E2E-BLOCK-WRITE-FAILED"), "\(ctx)")
            #expect(line("E2E-ECC-FAILURES ")?.split(separator: " ").allSatisfy { $0 == "0" } == true, "\(ctx)")
            let bootargs = line("E2E-BOOTARGS ") ?? ""
            #expect(bootargs.contains("ubi.mtd=3 root=ubi0:rootfs rootfstype=ubifs") && bootargs.contains("mtdparts=nandsim:1m(u-boot),256k(env),8m(kernel),-(rootfs)"), "\(bootargs)")
            #expect(line("E2E-MARKER ") == "flashsmith nandsim board root filesystem", "\(ctx)")
            let typeNames = ["character special file": "char", "directory": "directory", "regular file": "file", "symbolic link": "symlink"]
            let stats = lines.compactMap { l in l.range(of: "E2E-STAT ").map { l[$0.upperBound...].split(separator: "|", omittingEmptySubsequences: false).map(String.init) } }
            #expect(stats.count == Self.checked.count, "\(ctx)")
            for s in stats {
                guard s.count == 8 else {
                    Issue.record("stat failed in the guest: \(s)")
                    continue
                }
                guard let m = manifest[s[0]] else {
                    Issue.record("\(s[0]) not in the manifest")
                    continue
                }
                #expect((typeNames[s[1]] ?? s[1]) == m["type"] as? String, "\(s[0]): \(s[1]) vs \(m["type"] ?? "")")
                if s[1] != "symbolic link" { #expect(UInt32(s[2], radix: 8) == UInt32(m["mode"] as? String ?? "", radix: 8), "\(s[0]): mode \(s[2]) vs \(m["mode"] ?? "")") }
                #expect(Int(s[3]) == m["uid"] as? Int && Int(s[4]) == m["gid"] as? Int, "\(s[0]): owner \(s[3]):\(s[4])")
                if s[1] == "character special file" {
                    #expect(Int(s[5], radix: 16) == m["major"] as? Int && Int(s[6], radix: 16) == m["minor"] as? Int, "\(s[0]): device")
                }
                if s[1] == "symbolic link" { #expect(s[7] == m["link"] as? String) }
            }
            #expect(manifest["/dev/mtd3"]?["minor"] as? Int == 6, "the table's range: mtd0…mtd3, minors 0, 2, 4, 6")
        }

        /// The partitions written on the device by `flashsmith flash` (the debug binary with its
        /// libraries, in the guest): env with `flash write`, the UBI image with `flash ubiformat` past a
        /// bad block nandsim declares in the rootfs partition; read back with `flash read`; an image too
        /// large for its partition refused before anything is erased; erase counters kept.
        @Test("flash write / ubiformat / read on nandsim with a bad block")
        func flashOnTheDevice() throws {
            guard toolsAvailable("qemu-system-x86_64", "apt-get", "dpkg", "busybox", "ubiattach", "fw_printenv", "mkfs.ubifs", "ldd"), filesAvailable(flashsmithPath) else { return }
            let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
            let dir = try TempDir("flashsmith-e2e-flash")
            let out = dir.file("out")
            let b = try flashsmith("build", "\(repo)/layouts/nandsim", "-o", out)
            try #require(b.status == 0, "\(b.err)")
            let params = try flashsmith("nand", "show", "\(repo)/layouts/nandsim", "--nandsim").out.trimmingCharacters(in: .whitespacesAndNewlines)
            // Block 80 of the chip: the rootfs partition's 7th block (it starts at block 74).
            let script = """
                #!/bin/sh
                fail=0
                step() { echo "E2E-STEP $1 rc=$2"; [ "$2" = 0 ] || fail=1; }
                modprobe nandsim \(params) badblocks=80; step nandsim $?
                echo "E2E-BAD $(cat /sys/class/mtd/mtd3/bad_blocks)"
                flashsmith flash write /dev/mtd1 /env.img | sed 's/^/E2E-OUT /'
                echo "E2E-BOOTARGS $(fw_printenv -c /fw_env.config -n bootargs 2>&1)"
                flashsmith flash write /dev/mtd1 /rootfs.img 2>&1 | sed 's/^/E2E-TOOBIG /'; echo "E2E-TOOBIG-RC $?"
                echo "E2E-BOOTARGS-AFTER $(fw_printenv -c /fw_env.config -n board 2>&1)"
                flashsmith flash ubiformat /dev/mtd3 /rootfs.img | sed 's/^/E2E-OUT /'
                flashsmith flash ubiformat /dev/mtd3 /rootfs.img | sed 's/^/E2E-OUT2 /'
                modprobe ubi; modprobe ubifs
                ubiattach -m 3 >/dev/null; step ubiattach $?
                mount -t ubifs ubi0:rootfs /mnt; step mount $?
                echo "E2E-MARKER $(cat /mnt/etc/board-marker)"
                flashsmith flash read /dev/mtd1 -o /tmp/env.read | sed 's/^/E2E-OUT /'
                cmp -n $(stat -c %s /env.img) /env.img /tmp/env.read; step read-back $?
                flashsmith flash read /dev/mtd1 --oob -o /tmp/env.oob >/dev/null; echo "E2E-OOB-SIZE $(stat -c %s /tmp/env.oob)"
                exit $fail
                """
            let kernel = try DebianArtifacts.amd64Kernel()
            let initramfs = try Initramfs()
            try initramfs.addBusybox()
            try initramfs.addModules(["nandsim", "ubi", "ubifs", "zstd"], kernel: kernel)
            try initramfs.addBinary(flashsmithPath, at: "/usr/bin/flashsmith")
            for tool in ["ubiattach", "fw_printenv"] { try initramfs.addBinary(try #require(which(tool))) }
            try initramfs.addFile("/fw_env.config", try readBytes("\(out)/fw_env.config"))
            try initramfs.addFile("/env.img", try readBytes("\(out)/env.img"))
            try initramfs.addFile("/rootfs.img", try readBytes("\(out)/rootfs.img"))
            try initramfs.setInit(testScript: script)
            try initramfs.write(to: dir.file("initrd.cpio"))
            let q = try QEMU.run(
                "qemu-system-x86_64",
                ["-accel", "tcg", "-m", "1024", "-smp", "1", "-nographic", "-no-reboot", "-nic", "none", "-kernel", kernel.vmlinuz, "-initrd", dir.file("initrd.cpio"), "-append", "console=ttyS0 panic=-1 quiet"],
                log: dir.file("qemu.log"), timeout: .seconds(180), markers: [Initramfs.defaultResultMarker]
            )
            print("E2E timing: flash on nandsim \(q.summary)")
            let lines = q.lines
            for l in lines where l.contains("E2E-") { print("E2E flash: \(l)") }
            func line(_ p: String) -> String? { q.line(p) }
            let ctx = q.tail(50)
            for l in lines where l.contains("E2E-STEP") { #expect(l.hasSuffix("rc=0"), "\(l)\n\(ctx)") }
            #expect(line("E2E-BAD ") == "1", "\(ctx)")
            #expect(line("E2E-BOOTARGS ")?.contains("ubi.mtd=3 root=ubi0:rootfs") == true, "\(ctx)")
            let tooBig = lines.filter { $0.contains("E2E-TOOBIG ") }.joined(separator: "\n")
            #expect(tooBig.contains("needs 26 good erase blocks, the device has 2 (2 blocks, none bad)"), "\(tooBig)")
            #expect(line("E2E-BOOTARGS-AFTER ") == "nandsim", "nothing was erased by the refused write: \(ctx)")
            let first = lines.first { $0.contains("E2E-OUT /dev/mtd3") } ?? ""
            #expect(first.contains("26 PEB(s) of the image written") && first.contains("bad: 6") && first.contains("mean erase counter 0"), "\(first)")
            #expect(line("E2E-OUT2 ")?.contains("mean erase counter 1") == true, "erase counters kept and incremented: \(ctx)")
            #expect(line("E2E-MARKER ") == "flashsmith nandsim board root filesystem", "\(ctx)")
            #expect(line("E2E-OOB-SIZE ") == String(2 * 64 * 2112), "\(ctx)")
        }
    }
}

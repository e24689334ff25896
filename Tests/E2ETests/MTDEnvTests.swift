import Foundation
import Testing
import TestSupport

extension E2E {
    /// flashsmith's MTD path (libmtd: erase before write, bad blocks skipped within the configured
    /// range, counter flags) on a real kernel NAND device, checked against libubootenv's
    /// fw_printenv/fw_setenv and against the raw erase blocks.
    ///
    /// Guest: Debian's amd64 generic kernel under TCG with a busybox initramfs holding nandsim's module
    /// closure, the debug flashsmith binary, fw_printenv/fw_setenv and nanddump (each with its shared
    /// libraries). nandsim: 256 MiB, 2 KiB pages, 128 KiB erase blocks; `parts=4,8` gives mtd1 =
    /// erase blocks 4…11 of the chip, and `badblocks=4` marks mtd1's first erase block bad.
    ///
    /// fw_env.config: copy 1 at 0x0 with a range of 2 sectors (block 0 bad → stored in block 1),
    /// copy 2 at 0x40000 (blocks 2…3). Env size 0x4000.
    @Suite("flashsmith and libubootenv share a redundant env on nandsim with a bad block")
    struct MTDEnvTests {
        static let eraseBlock = 0x20000
        static let envSize = 0x4000

        static let guestConfig = """
            # device    offset   env size  sector size  sectors
            /dev/mtd1   0x0      0x4000    0x20000      2
            /dev/mtd1   0x40000  0x4000    0x20000      2

            """

        /// A single copy in mtd1's block 4, after the pair's ranges: erased before it is written.
        static let singleConfig = "/dev/mtd1   0x80000  0x4000    0x20000      1\n"

        /// The guest side. Each step prints a line the host checks; values are printed behind a prefix
        /// (`E2E-FW1 $(…)`), so the expected lines never occur verbatim in this script.
        static func guestScript(token: String) -> String {
            """
            #!/bin/sh
            CFG=/etc/fw_env.config
            fail=0
            step() { echo "E2E-STEP $1 rc=$2"; [ "$2" = 0 ] || fail=1; }
            hex5() { od -An -tx1 -N5 "$1" | tr -d ' \\n'; }
            dumpblocks() {
              for b in 0 1 2 3; do
                nanddump -q --bb=dumpbad -s $((b * \(eraseBlock))) -l \(eraseBlock) -f /tmp/blk$b /dev/mtd1 || echo "E2E-DUMP-FAILED block $b"
              done
              echo "E2E-BLOCKS $1 b0=$(hex5 /tmp/blk0) b1=$(hex5 /tmp/blk1) b2=$(hex5 /tmp/blk2) b3=$(hex5 /tmp/blk3) b0nonff=$(tr -d '\\377' < /tmp/blk0 | wc -c)"
            }
            modprobe nandsim id_bytes=0x20,0xaa,0x00,0x15 badblocks=4 parts=4,8; step nandsim $?
            m=/sys/class/mtd/mtd1
            echo "E2E-MTD1 name=$(cat $m/name) type=$(cat $m/type) size=$(cat $m/size) erasesize=$(cat $m/erasesize) writesize=$(cat $m/writesize) bad=$(cat $m/bad_blocks)"
            flashsmith env create -c $CFG /env.txt; step fs-create $?
            dumpblocks after-create
            echo "E2E-FW1 $(fw_printenv -c $CFG greeting 2>&1)"
            echo "E2E-FW1B $(fw_printenv -c $CFG board 2>&1)"
            flashsmith env set -c $CFG greeting=from-flashsmith-\(token) 2>/tmp/set.err; step fs-set $?
            echo "E2E-WARN-PAIR lines=$(wc -l < /tmp/set.err)"
            echo "E2E-FW2 $(fw_printenv -c $CFG greeting 2>&1)"
            fw_setenv -c $CFG greeting from-fw_setenv-\(token); step fw-setenv $?
            echo "E2E-FW3 $(fw_printenv -c $CFG greeting 2>&1)"
            echo "E2E-FS3 $(flashsmith env print -c $CFG -n greeting 2>&1)"
            echo "E2E-JSON $(flashsmith env print -c $CFG --json 2>&1 | tr -d '\\n')"
            dumpblocks final
            flashsmith env create -c /etc/fw_env_single.config /env.txt; step fs-create-single $?
            flashsmith env set -c /etc/fw_env_single.config greeting=single-\(token) 2>/tmp/single.err; step fs-set-single $?
            echo "E2E-WARN-SINGLE lines=$(wc -l < /tmp/single.err) $(cat /tmp/single.err)"
            echo "E2E-FW-SINGLE $(fw_printenv -c /etc/fw_env_single.config greeting 2>&1)"
            exit $fail

            """
        }

        func available() -> Bool {
            toolsAvailable(
                "qemu-system-x86_64", "apt-get", "apt-cache", "dpkg", "cpio", "busybox", "ldd",
                "fw_printenv", "fw_setenv", "nanddump"
            ) && filesAvailable(flashsmithPath)
        }

        /// The log line starting with `prefix` (first one), without the prefix.
        func line(_ log: String, _ prefix: String) -> String? {
            log.split(separator: "\n").first { $0.hasPrefix(prefix) }.map { String($0.dropFirst(prefix.count)) }
        }

        /// `0xfef1dbb2` + flag 3 → `b2dbf1fe03`: the first five bytes of a copy as `od -tx1` shows them.
        func headerHex(crc: String, flag: Int) -> String {
            let v = UInt32(crc.dropFirst(2), radix: 16) ?? 0
            return [v & 0xFF, v >> 8 & 0xFF, v >> 16 & 0xFF, v >> 24 & 0xFF, UInt32(flag)]
                .map { String(format: "%02x", $0) }.joined()
        }

        @Test("create, set and print over /dev/mtd1 interoperate with fw_printenv/fw_setenv and skip the bad block")
        func redundantEnvOnNandWithBadBlock() throws {
            guard available() else { return }
            let clock = ContinuousClock()
            let t0 = clock.now
            let kernel = try DebianArtifacts.amd64Kernel()
            let tKernel = clock.now - t0

            let dir = try TempDir("flashsmith-e2e-mtd")
            let token = String(UUID().uuidString.prefix(8))
            let envText = "board=nandsim-e2e\ngreeting=hello-\(token)\n"

            // What the first create must put at the head of each copy: the same blob made on the host.
            let pair = try flashsmith(["env", "create", "-s", "0x4000", "-r", "--copies", "2"], stdin: Array(envText.utf8))
            try #require(pair.status == 0, "host env create failed: \(pair.err)")
            let hex = { (b: ArraySlice<UInt8>) in b.map { String(format: "%02x", $0) }.joined() }
            let expectCopy1 = hex(pair.stdout[0..<5]), expectCopy2 = hex(pair.stdout[Self.envSize..<Self.envSize + 5])

            let initramfs = try Initramfs()
            try initramfs.addBusybox()
            try initramfs.addModules(["nandsim"], kernel: kernel)
            try initramfs.addBinary(flashsmithPath, at: "/usr/bin/flashsmith")
            for tool in ["fw_printenv", "fw_setenv", "nanddump"] {
                try initramfs.addBinary(try #require(which(tool)))
            }
            try initramfs.addFile("/etc/fw_env.config", Self.guestConfig)
            try initramfs.addFile("/etc/fw_env_single.config", Self.singleConfig)
            try initramfs.addFile("/env.txt", envText)
            try initramfs.setInit(testScript: Self.guestScript(token: token))
            let initrd = dir.file("initrd.cpio")
            try initramfs.write(to: initrd)
            let tBuild = clock.now - t0 - tKernel

            let result = Initramfs.defaultResultMarker
            let r = try QEMU.run(
                "qemu-system-x86_64",
                [
                    "-accel", "tcg", "-m", "1024", "-smp", "1", "-nographic", "-no-reboot", "-nic", "none",
                    "-kernel", kernel.vmlinuz, "-initrd", initrd,
                    "-append", "console=ttyS0 panic=-1 quiet",
                ],
                log: dir.file("qemu.log"), timeout: .seconds(120),
                markers: ["FLASHSMITH-GUEST-UP", "E2E-STEP fs-create", result]
            )
            print("E2E timing: MTD guest (\(kernel.package), \(initramfs.modules.count) modules): kernel fetch/cache \(tKernel), initramfs \(tBuild), QEMU \(r.summary), markers \(r.markerTimes)")
            let log = r.log
            let ctx = "\(r.summary)\n\(r.tail(60))"
            func has(_ text: String) -> Bool { log.contains(text) }

            #expect(r.exitStatus == 0, "guest did not power off by itself: \(ctx)")
            #expect(line(log, "\(result) rc=")?.hasPrefix("0 ") == true, "guest script failed: \(ctx)")

            // nandsim is up and mtd1 is the 1 MiB NAND partition with exactly one bad block (its first).
            #expect(has("E2E-STEP nandsim rc=0"))
            let mtd1 = line(log, "E2E-MTD1 ") ?? ""
            for fact in ["type=nand", "size=1048576", "erasesize=131072", "writesize=2048", "bad=1"] {
                #expect(mtd1.contains(fact), "mtd1 should have \(fact): '\(mtd1)'")
            }

            // 1. flashsmith env create -c: copy 1 lands in block 1 (block 0 is bad and untouched), copy 2 in block 2.
            #expect(has("E2E-STEP fs-create rc=0"))
            #expect(
                line(log, "E2E-BLOCKS after-create ") == "b0=ffffffffff b1=\(expectCopy1) b2=\(expectCopy2) b3=ffffffffff b0nonff=0",
                "raw erase blocks after create (expected copy 1 \(expectCopy1) in block 1, copy 2 \(expectCopy2) in block 2)\n\(ctx)"
            )
            // ... and libubootenv reads it.
            #expect(line(log, "E2E-FW1 ") == "greeting=hello-\(token)")
            #expect(line(log, "E2E-FW1B ") == "board=nandsim-e2e")

            // 2. flashsmith env set -c writes the inactive copy; fw_printenv follows the counter to it.
            #expect(has("E2E-STEP fs-set rc=0"))
            #expect(line(log, "E2E-FW2 ") == "greeting=from-flashsmith-\(token)")

            // 3. fw_setenv writes the other copy; flashsmith reads the same active copy and value.
            #expect(has("E2E-STEP fw-setenv rc=0"))
            #expect(line(log, "E2E-FW3 ") == "greeting=from-fw_setenv-\(token)")
            #expect(line(log, "E2E-FS3 ") == "from-fw_setenv-\(token)")

            let jsonText = try #require(line(log, "E2E-JSON "), "no JSON line\n\(ctx)")
            let json = try #require(
                try? JSONSerialization.jsonObject(with: Data(jsonText.utf8)) as? [String: Any],
                "flashsmith env print --json did not print JSON: \(jsonText)\n\(ctx)"
            )
            let copies = json["copies"] as? [[String: Any]] ?? []
            try #require(copies.count == 2, "\(jsonText)")
            // create: flags 1/0; flashsmith set → copy 2 flag 2; fw_setenv → copy 1 flag 3 (active).
            #expect(json["active"] as? Int == 1, "\(jsonText)")
            #expect(json["flagScheme"] as? String == "counter", "\(jsonText)")
            #expect(copies.map { $0["flag"] as? Int } == [3, 2], "\(jsonText)")
            let crcs = copies.map { ($0["crc"] as? [String: Any]) ?? [:] }
            #expect(crcs.map { $0["ok"] as? Bool } == [true, true], "\(jsonText)")
            let vars = (json["variables"] as? [[String: Any]] ?? []).reduce(into: [String: String]()) {
                $0[$1["name"] as? String ?? ""] = $1["value"] as? String
            }
            #expect(vars == ["board": "nandsim-e2e", "greeting": "from-fw_setenv-\(token)"], "\(jsonText)")

            // 4. The raw blocks hold exactly the copies flashsmith reports, and the bad block stayed erased.
            let stored = crcs.map { $0["stored"] as? String ?? "" }
            #expect(
                line(log, "E2E-BLOCKS final ") == "b0=ffffffffff b1=\(headerHex(crc: stored[0], flag: 3)) b2=\(headerHex(crc: stored[1], flag: 2)) b3=ffffffffff b0nonff=0",
                "raw erase blocks at the end"
            )
            #expect(!has("E2E-DUMP-FAILED"))

            // 5. A redundant pair is updated without a word; a single copy on MTD gets one warning line
            //    saying why a power cut can lose it, and is still written (fw_printenv reads it).
            #expect(line(log, "E2E-WARN-PAIR ") == "lines=0", "\(ctx)")
            #expect(has("E2E-STEP fs-create-single rc=0") && has("E2E-STEP fs-set-single rc=0"), "\(ctx)")
            let warning = line(log, "E2E-WARN-SINGLE ") ?? ""
            #expect(warning.hasPrefix("lines=1 flashsmith: warning: /dev/mtd1 holds a single environment copy, which must be erased before it is written: a power cut in between leaves no valid environment"), "\(warning)")
            #expect(line(log, "E2E-FW-SINGLE ") == "greeting=single-\(token)", "\(ctx)")
        }
    }
}

import Foundation
import Testing
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

extension E2E {
    /// UBIFS images proved in Linux: an amd64 guest with nandsim (one boot per page geometry), the
    /// UBIFS self-checks on (debugfs `chk_general`, `chk_index`, `chk_orphans`, `chk_lprops`,
    /// `chk_fs` set to 1 before any mount), one UBI volume per case (every compressor × the small and
    /// the big LPT model) from one `ubinize` image written with `ubiformat`. For each volume: the
    /// mount succeeds with nothing wrong in dmesg; a static walker prints every entry (type, mode,
    /// owner, size, sha256, link, device, xattrs, link count, mtime), compared on the host with
    /// `rootfs ls SPEC --json --digests`; then thousands of writes, renames, deletes, links, xattrs
    /// and a fill to ENOSPC, unmount, remount with the checks on: the same tree, again nothing in
    /// dmesg. The volume the kernel wrote is dumped to a second disk and read by `rootfs ls`.
    @Suite("UBIFS images in Linux: nandsim, self-checks on, every entry walked, churned, remounted")
    struct UBIFSGuestTests {
        struct Geometry: Sendable, CustomStringConvertible {
            var name: String
            var idBytes: String
            var minIO: Int
            var subPage: Int
            var peb: Int
            /// UBI's LEB on this chip: the PEB less the EC header's sub-page and the VID header's
            /// page-aligned end (measured: `ubinfo` after `ubiattach`).
            var leb: Int
            /// Each case's volume, in LEBs (the small model's `-c`).
            var volumeLEBs: Int
            /// A `-c` past which the LPT no longer fits one LEB: the big model (measured with
            /// mkfs.ubifs: 24484 for a 129024-byte LEB, 46123 for 258048).
            var bigLPTMaxLEBs: Int
            var description: String { name }
        }

        struct Case: Sendable, CustomStringConvertible {
            var compressor: String
            var bigLPT: Bool
            var volume: String { "\(compressor)-\(bigLPT ? "big" : "small")" }
            var description: String { "\(compressor), \(bigLPT ? "big" : "small") LPT" }
        }

        /// nandsim's chips for these READ ID bytes (`mtdinfo`, `ubinfo` in the guest): 256 MiB with
        /// 2 KiB pages and 512-byte sub-pages (LEB 129024), 512 MiB with 4 KiB pages and 1 KiB
        /// sub-pages (LEB 258048).
        static let geometries = [
            Geometry(name: "2KiB-page", idBytes: "0x20,0xaa,0x00,0x15", minIO: 2048, subPage: 512, peb: 128 << 10, leb: 129_024, volumeLEBs: 100, bigLPTMaxLEBs: 30000),
            Geometry(name: "4KiB-page", idBytes: "0x2c,0xdc,0x90,0xa6", minIO: 4096, subPage: 1024, peb: 256 << 10, leb: 258_048, volumeLEBs: 56, bigLPTMaxLEBs: 50000),
        ]
        static let compressors = ["lzo", "zlib", "zstd", "none", "favor_lzo"]
        static let cases = compressors.flatMap { c in [Case(compressor: c, bigLPT: false), Case(compressor: c, bigLPT: true)] }
        /// Operations of the churn per volume (plus the image's own files, and the fill to ENOSPC).
        static let churnOps = 3000
        static let epoch = 1_700_000_000

        /// Which writer makes the images: Flashsmith's own (`rootfs build -o X.ubifs`) when this
        /// build has it, else mkfs.ubifs on the staged tree; `FLASHSMITH_UBIFS_WRITER=mkfs.ubifs`
        /// forces the peer (to compare: Debian's 2.1.5 writes no xattrs, and its big-LPT lsave
        /// makes Linux refuse volumes under ~271 LEBs).
        static var writer: String {
            if let w = ProcessInfo.processInfo.environment["FLASHSMITH_UBIFS_WRITER"], !w.isEmpty { return w }
            let help = (try? flashsmith("rootfs", "build", "--help"))?.out ?? ""
            return help.contains("--leb-size") ? "flashsmith" : "mkfs.ubifs"
        }

        /// Whether the dumps of the volumes the kernel wrote are listed by Flashsmith's reader and
        /// compared with the guest's walk (off with `FLASHSMITH_UBIFS_READ_DUMPS=0`).
        static var readDumps: Bool { ProcessInfo.processInfo.environment["FLASHSMITH_UBIFS_READ_DUMPS"] != "0" }

        @Test("mount with the self-checks, walk against the manifest, churn, remount, dump", arguments: geometries)
        func guest(geometry g: Geometry) throws {
            guard toolsAvailable("qemu-system-x86_64", "apt-get", "dpkg", "busybox", "gcc", "ubinize", "ubiformat", "ubiattach", "mkfs.ubifs"),
                filesAvailable(flashsmithPath)
            else { return }
            let dir = try TempDir("flashsmith-e2e-ubifs-\(g.name)")
            let spec = try Self.writeSpec(in: dir)
            let ls = try flashsmith("rootfs", "ls", spec, "--json", "--digests")
            try #require(ls.status == 0, "rootfs ls \(spec): \(ls.err)")
            let expected = try Self.entries(listingJSON: ls.stdout)
            let writer = Self.writer
            print("E2E UBIFS \(g.name): images by \(writer), \(expected.count) entries in the manifest")

            // One UBI image, one volume per case.
            var ini = ""
            for (i, c) in Self.cases.enumerated() {
                let image = try Self.makeUBIFSImage(spec: spec, geometry: g, compressor: c.compressor, bigLPT: c.bigLPT, writer: writer, in: dir)
                let sb = try Self.superblockFlags(image)
                #expect((sb & 0x2 != 0) == c.bigLPT, "\(c) on \(g): the superblock's big-LPT flag is \(sb & 0x2 != 0), expected \(c.bigLPT)")
                print("E2E UBIFS \(g.name) \(c): image \(try FileManager.default.attributesOfItem(atPath: image)[.size] as? Int ?? 0) bytes, sb flags 0x\(String(sb, radix: 16))")
                ini += "[\(c.volume)]\nmode=ubi\nimage=\(image)\nvol_id=\(i)\nvol_size=\(g.volumeLEBs * g.leb)\nvol_type=dynamic\nvol_name=\(c.volume)\n\n"
            }
            let ubi = dir.file("ubi.img")
            let cfg = try dir.write("ubinize.ini", ini)
            let u = try run("ubinize", ["-o", ubi, "-m", String(g.minIO), "-p", String(g.peb), "-s", String(g.subPage), cfg])
            try #require(u.status == 0, "ubinize: \(u.err)")
            let ubiSize = try #require(try FileManager.default.attributesOfItem(atPath: ubi)[.size] as? Int)
            let dumpBytes = Self.cases.count * g.volumeLEBs * g.leb
            let dump = dir.file("dump.img")
            _ = FileManager.default.createFile(atPath: dump, contents: nil)
            try #require(truncate(dump, off_t(dumpBytes)) == 0)

            let kernel = try DebianArtifacts.amd64Kernel()
            let initramfs = try Initramfs()
            try initramfs.addBusybox()
            try initramfs.addModules(["nandsim", "ubi", "ubifs", "zstd", "virtio_pci", "virtio_blk"], kernel: kernel)
            for tool in ["ubiformat", "ubiattach"] { try initramfs.addBinary(try #require(which(tool))) }
            try initramfs.addBinary(try Self.buildHelper(in: dir), at: "/usr/bin/ubifs-guest")
            try initramfs.setInit(testScript: Self.script(g, ubiSize: ubiSize))
            try initramfs.write(to: dir.file("initrd.cpio"))
            let q = try QEMU.run(
                "qemu-system-x86_64",
                [
                    "-accel", "tcg", "-m", "1536", "-smp", "1", "-nographic", "-no-reboot", "-nic", "none", "-kernel", kernel.vmlinuz,
                    "-initrd", dir.file("initrd.cpio"),
                    "-drive", "file=\(ubi),if=virtio,format=raw,readonly=on", "-drive", "file=\(dump),if=virtio,format=raw",
                    "-append", "console=ttyS0 panic=-1 quiet",
                ],
                log: dir.file("qemu.log"), timeout: .seconds(2400), markers: [Initramfs.defaultResultMarker]
            )
            print("E2E timing: UBIFS guest \(g.name) \(q.summary)")
            let ctx = q.tail(60)
            try #require(q.contains(Initramfs.defaultResultMarker), "the guest did not finish: \(ctx)")
            let lines = q.lines
            let marked = Dictionary(grouping: lines.filter { $0.hasPrefix("E2E-") }) { String($0.prefix { $0 != " " }) }
            func value(_ marker: String) -> String? {
                let kind = String(marker.prefix { $0 != " " })
                return marked[kind]?.first { $0.hasPrefix(marker) }.map { String($0.dropFirst(marker.count)) }
            }
            for l in lines where l.hasPrefix("E2E-") && !l.hasPrefix("E2E-W ") && !l.hasPrefix("E2E-P ") && !l.hasPrefix("E2E-KLOG ") && !l.hasPrefix("E2E-DMESG ") {
                print("E2E UBIFS \(g.name): \(l)")
            }
            #expect(value("E2E-CHECKS ")?.split(separator: " ") == ["1", "1", "1", "1", "1"], "debugfs chk_*: \(ctx)")
            for step in ["nandsim", "ubiformat", "ubiattach"] { #expect(value("E2E-STEP \(step) ") == "rc=0", "\(step): \(ctx)") }
            let problems = Self.dmesgProblems(marked["E2E-DMESG"] ?? [])
            for (message, count) in problems["attach"] ?? [] { Issue.record("dmesg while attaching UBI on \(g) (\(count)×): \(message)") }

            for (i, c) in Self.cases.enumerated() {
                let label = "\(c) on \(g)"
                func stepOK(_ name: String) -> Bool { value("E2E-STEP \(name)-\(i) ") == "rc=0" }
                func context() -> String {
                    lines.filter { l in ["E2E-STEP", "E2E-DIFF", "E2E-CHURN", "E2E-KLOG", "E2E-MOUNTERR"].contains { l.hasPrefix("\($0) ") } && (l.contains("-\(i) ") || ["E2E-DIFF", "E2E-CHURN", "E2E-MOUNTERR"].contains { l.hasPrefix("\($0) \(i) ") }) }
                        .suffix(25).joined(separator: "\n")
                }
                for phase in ["mount", "churn", "umount", "remount", "final"] {
                    for (message, count) in problems["\(phase)-\(i)"] ?? [] { Issue.record("\(label): dmesg after \(phase) (\(count)×): \(message)") }
                }
                guard stepOK("mount") else {
                    Issue.record("\(label): the first mount failed: \(context())")
                    continue
                }
                let walked = try Self.entries(walkLines: marked["E2E-W"] ?? [], prefix: "E2E-W \(i) ")
                for d in Self.differences(expected: expected, actual: walked) { Issue.record("\(label): walker vs manifest: \(d)") }
                for s in ["walk", "churn", "umount", "remount", "same-after-remount", "umount2", "dump"] {
                    #expect(stepOK(s), "\(label): step \(s): \(context())")
                }
                let churn = value("E2E-CHURN \(i) CHURN ") ?? ""
                #expect(churn.contains("writes=") && !churn.contains("writes=0 "), "\(label): churn: \(churn)")
                if Self.readDumps {
                    try Self.compareDump(dump, index: i, geometry: g, label: label, guestWalk: try Self.entries(walkLines: marked["E2E-P"] ?? [], prefix: "E2E-P \(i) "), in: dir)
                }
            }
        }

        /// `E2E-DMESG PHASE [time] message` lines as distinct messages (the time stripped) with their
        /// counts, per phase: one issue per message, not one per line of a flood.
        static func dmesgProblems(_ lines: [String]) -> [String: [(String, Int)]] {
            var out: [String: [(String, Int)]] = [:]
            for l in lines {
                let rest = l.dropFirst("E2E-DMESG ".count)
                let phase = String(rest.prefix { $0 != " " })
                var message = rest.dropFirst(phase.count + 1)
                if message.hasPrefix("["), let close = message.firstIndex(of: "]") { message = message[message.index(after: close)...] }
                let m = message.trimmingCharacters(in: .whitespaces)
                if let k = out[phase]?.firstIndex(where: { $0.0 == m }) {
                    out[phase]?[k].1 += 1
                } else {
                    out[phase, default: []].append((m, 1))
                }
            }
            return out
        }

        // MARK: the image under test

        /// The UBIFS image of `spec` for one case: Flashsmith's writer (`rootfs build -o X.ubifs` with
        /// mkfs.ubifs's options), or mkfs.ubifs on the tree `rootfs build -o DIR` stages (as root:
        /// owners, nodes and xattrs applied). The small model's `-c` is the volume's size; the big
        /// model's is past the point where the LPT fits one LEB.
        static func makeUBIFSImage(spec: String, geometry g: Geometry, compressor: String, bigLPT: Bool, writer: String, in dir: TempDir) throws -> String {
            let maxLEBs = bigLPT ? g.bigLPTMaxLEBs : g.volumeLEBs
            let image = dir.file("\(compressor)-\(bigLPT ? "big" : "small").ubifs")
            let geometry = ["-m", String(g.minIO), "-e", String(g.leb), "-c", String(maxLEBs), "-x", compressor]
            if writer == "flashsmith" {
                let r = try flashsmith(["rootfs", "build", spec, "-o", image] + geometry)
                guard r.status == 0 else { throw HarnessError("flashsmith rootfs build \(spec) -o \(image) \(geometry.joined(separator: " ")): \(r.err)") }
                return image
            }
            let tree = dir.file("staged")
            if !FileManager.default.fileExists(atPath: tree) {
                let r = try flashsmith("rootfs", "build", spec, "-o", tree)
                guard r.status == 0 else { throw HarnessError("flashsmith rootfs build \(spec) -o \(tree): \(r.err)") }
            }
            let r = try run("mkfs.ubifs", ["-r", tree, "-o", image] + geometry)
            guard r.status == 0 else { throw HarnessError("mkfs.ubifs \(geometry.joined(separator: " ")): \(r.err)") }
            return image
        }

        /// The superblock node's `flags` (offset 28 of LEB 0: after the 24-byte common header, 2
        /// bytes of padding, key_hash and key_fmt); bit 0x2 is UBIFS_FLG_BIGLPT.
        static func superblockFlags(_ image: String) throws -> UInt32 {
            let b = try readBytes(image)
            guard b.count >= 32, b[0..<4] == [0x31, 0x18, 0x10, 0x06] else { throw HarnessError("\(image): no UBIFS node magic at offset 0") }
            return (0..<4).reduce(UInt32(0)) { $0 | UInt32(b[28 + $1]) << (8 * UInt32($1)) }
        }

        // MARK: the test tree

        /// A spec with everything a manifest can hold: an overlay folder made here (empty, 1-byte,
        /// 4096-byte, large compressible and random files, a file with a hole, 300 small files in one
        /// folder, nested and empty folders, short and 1200-byte symlinks, hard links across folders,
        /// a socket, odd names, several mtimes) and a device table (owners, setuid/setgid/sticky,
        /// character and block devices including the largest dev_t, FIFOs, file capabilities).
        static func writeSpec(in dir: TempDir) throws -> String {
            let o = dir.file("overlay")
            let fm = FileManager.default
            for d in ["a/b/c", "empty", "many", "links", "run", "usr/bin", "tmp", "shared", "odd"] {
                try fm.createDirectory(atPath: "\(o)/\(d)", withIntermediateDirectories: true)
            }
            var rng = SplitMix(seed: 0x5EED)
            func put(_ path: String, _ bytes: [UInt8]) throws { try Data(bytes).write(to: URL(fileURLWithPath: "\(o)/\(path)")) }
            try put("empty.txt", [])
            try put("one.bin", [0x5A])
            try put("page.bin", (0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 7) })
            try put("page-plus-one.bin", (0..<4097).map { _ in rng.byte() })
            let line = Array("Flashsmith writes UBIFS from the manifest; the kernel reads it back. ".utf8)
            try put("big-text.txt", (0..<(2 << 20)).map { line[$0 % line.count] &+ UInt8(($0 >> 16) & 1) })
            try put("big-random.bin", (0..<(1 << 20)).map { _ in rng.byte() })
            // A hole: 4 KiB of data, 600 KiB of nothing, 4 KiB of data (zeros in the manifest's view).
            let fd = open("\(o)/sparse.bin", O_WRONLY | O_CREAT | O_TRUNC, 0o644)
            let chunk = (0..<4096).map { _ in rng.byte() }
            _ = chunk.withUnsafeBytes { pwrite(fd, $0.baseAddress, 4096, 0) }
            _ = chunk.withUnsafeBytes { pwrite(fd, $0.baseAddress, 4096, 604 << 10) }
            close(fd)
            for k in 0..<300 { try put("many/file-\(k)", (0..<(k * 37 % 3000)).map { j in UInt8(truncatingIfNeeded: k &+ j / 7) }) }
            try put("a/b/c/deep.txt", Array("deep\n".utf8))
            try put("shared/data", Array("one inode, three names\n".utf8))
            try fm.linkItem(atPath: "\(o)/shared/data", toPath: "\(o)/links/second-name")
            try fm.linkItem(atPath: "\(o)/shared/data", toPath: "\(o)/a/third-name")
            try fm.createSymbolicLink(atPath: "\(o)/links/short", withDestinationPath: "../a/b")
            try fm.createSymbolicLink(atPath: "\(o)/links/long", withDestinationPath: String(repeating: "very-long-target/", count: 70) + "end")
            try fm.createSymbolicLink(atPath: "\(o)/links/dangling", withDestinationPath: "/nowhere")
            try put("odd/name with spaces", Array("spaces\n".utf8))
            try put("odd/ünïcödé-名前", Array("utf8\n".utf8))
            try put("usr/bin/ping", Array("#!/bin/sh\necho ping\n".utf8))
            try put("usr/bin/tool", Array("#!/bin/sh\necho tool\n".utf8))
            try put("usr/bin/su", Array("#!/bin/sh\necho su\n".utf8))
            try makeSocket("\(o)/run/app.sock")
            // Times: a few files older than the epoch (newer ones are clamped to it).
            for (k, p) in ["one.bin", "page.bin", "a/b/c/deep.txt", "many/file-7", "links/short"].enumerated() {
                try run("touch", ["-h", "-d", "@\(epoch - 86_400 * (k + 1) - k * 17)", "\(o)/\(p)"])
            }
            try run("touch", ["-h", "-d", "@\(epoch - 5)", "\(o)/a/b"])
            _ = try dir.write("devices.txt", """
                # name             type mode uid  gid  major minor start inc count
                /usr/bin/ping      f    4755 0    0    -     -     -     -   -
                |xattr cap_net_raw+ep
                /usr/bin/tool      f    2711 1000 100  -     -     -     -   -
                |xattr cap_chown,cap_dac_override,cap_sys_admin=eip
                /usr/bin/su        f    6755 0    0    -     -     -     -   -
                /tmp               d    1777 0    0    -     -     -     -   -
                /shared            d    2775 1000 1000 -     -     -     -   -
                /shared/data       f    640  1000 1000 -     -     -     -   -
                /home/user         d    700  1000 1000 -     -     -     -   -
                /dev/null          c    666  0    0    1     3     -     -   -
                /dev/sda           b    660  0    6    8     0     -     -   -
                /dev/ttyS          c    660  0    5    4     64    0     1   3
                /dev/largest       c    600  0    0    4095  1048575 - -   -
                /dev/loop-huge     b    640  0    6    259   65536 -     -   -
                /run/fifo          p    620  1000 1000 -     -     -     -   -
                /run/fifo2         p    600  0    0    -     -     -     -   -

                """)
            return try dir.write("spec.yaml", """
                source-date-epoch: \(epoch)
                layers:
                  - overlay: overlay
                  - devices: devices.txt

                """)
        }

        static func makeSocket(_ path: String) throws {
            let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
            guard fd >= 0 else { throw HarnessError("socket: \(String(cString: strerror(errno)))") }
            defer { close(fd) }
            var addr = sockaddr_un()
            addr.sun_family = sa_family_t(AF_UNIX)
            let bytes = Array(path.utf8)
            guard bytes.count < MemoryLayout.size(ofValue: addr.sun_path) else { throw HarnessError("socket path too long: \(path)") }
            withUnsafeMutableBytes(of: &addr.sun_path) { buf in
                for (i, b) in bytes.enumerated() { buf[i] = b }
            }
            let rc = withUnsafePointer(to: &addr) { p in
                p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
            }
            guard rc == 0 else { throw HarnessError("bind \(path): \(String(cString: strerror(errno)))") }
        }

        struct SplitMix {
            var state: UInt64
            init(seed: UInt64) { state = seed }
            mutating func byte() -> UInt8 {
                state &+= 0x9E37_79B9_7F4A_7C15
                var z = state
                z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
                z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
                return UInt8(truncatingIfNeeded: z ^ (z >> 31))
            }
        }

        // MARK: the guest

        static func script(_ g: Geometry, ubiSize: Int) -> String {
            var perVolume = ""
            for (i, c) in cases.enumerated() {
                perVolume += "volume \(i) \(c.volume)\n"
            }
            return """
                #!/bin/sh
                fail=0
                step() { echo "E2E-STEP $1 rc=$2"; [ "$2" = 0 ] || fail=1; }
                # dmesg since the last call: problems as E2E-DMESG, every UBI/UBIFS line as E2E-KLOG.
                dm() {
                  dmesg -c > /tmp/dm
                  grep -E 'UBIFS error|UBIFS warning|UBI error|UBI warning|ubifs_assert|BUG|WARNING|Call Trace|Oops|switched to read-only|nlink' /tmp/dm \\
                    | sed 's/^\\[[ 0-9.]*\\] //' | sort | uniq -c | sed "s/^ *\\([0-9]*\\) /E2E-DMESG $1 \\1x /"
                  grep -E 'UBI|ubi' /tmp/dm | head -40 | sed "s/^/E2E-KLOG $1 /"
                }
                now() { cut -d' ' -f1 /proc/uptime; }
                volume() {
                  i=$1; name=$2; t0=$(now)
                  mount -t ubifs ubi0:$name /mnt 2>/tmp/merr; rc=$?; step mount-$i $rc; sed "s/^/E2E-MOUNTERR $i /" /tmp/merr; dm mount-$i
                  if [ $rc = 0 ]; then
                    ubifs-guest walk /mnt > /tmp/w; step walk-$i $?
                    sed "s/^/E2E-W $i /" /tmp/w
                    echo "E2E-DF $i before $(df -k /mnt | tail -1)"
                    ubifs-guest churn /mnt \(churnOps) $((i + 1)) > /tmp/c; step churn-$i $?
                    sed "s/^/E2E-CHURN $i /" /tmp/c
                    dm churn-$i
                    ubifs-guest walk /mnt > /tmp/pre; sync
                    umount /mnt; step umount-$i $?; dm umount-$i
                    mount -t ubifs ubi0:$name /mnt 2>/tmp/merr; step remount-$i $?; sed "s/^/E2E-MOUNTERR $i /" /tmp/merr; dm remount-$i
                    ubifs-guest walk /mnt > /tmp/post
                    cmp -s /tmp/pre /tmp/post; rc=$?; step same-after-remount-$i $rc
                    [ $rc = 0 ] || diff /tmp/pre /tmp/post | head -20 | sed "s/^/E2E-DIFF $i /"
                    sed "s/^/E2E-P $i /" /tmp/post
                    echo "E2E-DF $i after $(df -k /mnt | tail -1)"
                    umount /mnt; step umount2-$i $?; dm final-$i
                  fi
                  dd if=/dev/ubi0_$i of=/dev/vdb bs=\(g.leb) seek=$((i * \(g.volumeLEBs))) count=\(g.volumeLEBs) 2>/dev/null; step dump-$i $?
                  echo "E2E-TIME $i $name $t0 $(now)"
                }
                modprobe virtio_pci; modprobe virtio_blk
                modprobe nandsim id_bytes=\(g.idBytes); step nandsim $?
                echo "E2E-GEOMETRY $(cat /sys/class/mtd/mtd0/writesize) $(cat /sys/class/mtd/mtd0/subpagesize) $(cat /sys/class/mtd/mtd0/erasesize)"
                modprobe ubi; modprobe zstd; modprobe ubifs
                mount -t debugfs debugfs /sys/kernel/debug
                for c in chk_general chk_index chk_orphans chk_lprops chk_fs; do echo 1 > /sys/kernel/debug/ubifs/$c; done
                echo "E2E-CHECKS $(cat /sys/kernel/debug/ubifs/chk_general /sys/kernel/debug/ubifs/chk_index /sys/kernel/debug/ubifs/chk_orphans /sys/kernel/debug/ubifs/chk_lprops /sys/kernel/debug/ubifs/chk_fs | tr '\\n' ' ')"
                t=$(now)
                ubiformat /dev/mtd0 -y -q -s \(g.subPage) -f - -S \(ubiSize) < /dev/vda; step ubiformat $?
                ubiattach -m 0 >/dev/null; step ubiattach $?
                echo "E2E-LEB $(cat /sys/class/ubi/ubi0/eraseblock_size) programmed in $t..$(now)"
                dm attach
                \(perVolume)
                exit $fail
                """
        }

        /// The guest helper (walker and churn), compiled static here.
        static func buildHelper(in dir: TempDir) throws -> String {
            let src = try dir.write("ubifs-guest.c", helperSource)
            let exe = dir.file("ubifs-guest")
            let r = try run("gcc", ["-static", "-O2", "-Wall", "-o", exe, src])
            guard r.status == 0 else { throw HarnessError("gcc -static ubifs-guest.c: \(r.err)") }
            return exe
        }

        // MARK: comparing

        /// One entry as compared: every field the walker prints, as text.
        typealias Entry = [String: String]
        static let fields = ["type", "mode", "uid", "gid", "size", "sha256", "link", "device", "xattrs", "nlink", "mtime"]

        /// `rootfs ls --json --digests` output as entries: a hard link becomes the file it shares
        /// with (size, digest), link counts are counted (files: names; folders: 2 + subfolders).
        static func entries(listingJSON: [UInt8]) throws -> [String: Entry] {
            guard let items = try JSONSerialization.jsonObject(with: Data(listingJSON)) as? [[String: Any]] else {
                throw HarnessError("rootfs ls --json: not a list")
            }
            let byPath = Dictionary(items.compactMap { i in (i["path"] as? String).map { ($0, i) } }, uniquingKeysWith: { a, _ in a })
            var names: [String: Int] = [:], subdirs: [String: Int] = [:]
            for i in items {
                let path = i["path"] as? String ?? ""
                if i["type"] as? String == "hardlink", let t = i["link"] as? String { names[t, default: 1] += 1 }
                if i["type"] as? String == "directory", path != "/" { subdirs[parent(path), default: 0] += 1 }
            }
            var out: [String: Entry] = [:]
            for i in items {
                let path = i["path"] as? String ?? ""
                var type = i["type"] as? String ?? "?"
                var data = i
                if type == "hardlink", let t = i["link"] as? String, let target = byPath[t] {
                    type = "file"
                    data = target
                }
                let xattrs = (i["xattrs"] as? [String: String] ?? [:]).sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",")
                let nlink = type == "directory" ? 2 + (subdirs[path] ?? 0) : type == "file" ? names[(i["type"] as? String == "hardlink" ? i["link"] as? String : path) ?? path] ?? 1 : 1
                out[path] = [
                    "type": type, "mode": String(Int(i["mode"] as? String ?? "", radix: 8) ?? -1, radix: 8),
                    "uid": "\(i["uid"] as? Int ?? -1)", "gid": "\(i["gid"] as? Int ?? -1)",
                    "size": type == "file" ? "\(data["size"] as? Int ?? -1)" : "0", "sha256": type == "file" ? data["sha256"] as? String ?? "?" : "-",
                    "link": type == "symlink" ? i["link"] as? String ?? "" : "",
                    "device": type == "char" || type == "block" ? "\(i["major"] as? Int ?? -1):\(i["minor"] as? Int ?? -1)" : "0:0",
                    "xattrs": xattrs, "nlink": String(nlink), "mtime": "\(i["mtime"] as? Int ?? -1)",
                ]
            }
            return out
        }

        static func parent(_ path: String) -> String {
            guard let slash = path.lastIndex(of: "/"), slash != path.startIndex else { return "/" }
            return String(path[..<slash])
        }

        /// The walker's lines after `prefix`: `path|type|mode|uid|gid|size|sha256|link|maj:min|xattrs|nlink|mtime`.
        static func entries(walkLines lines: [String], prefix: String) throws -> [String: Entry] {
            var out: [String: Entry] = [:]
            for l in lines {
                guard let r = l.range(of: prefix) else { continue }
                let f = l[r.upperBound...].split(separator: "|", omittingEmptySubsequences: false).map(String.init)
                guard f.count == 12 else { throw HarnessError("walker line with \(f.count) fields: \(l)") }
                let xattrs = f[9].split(separator: ",").map { kv -> String in
                    let parts = kv.split(separator: "=", maxSplits: 1).map(String.init)
                    let name = parts[0], hexValue = parts.count > 1 ? parts[1] : ""
                    if name == "security.capability", let text = capabilityText(hexValue) { return "\(name)=\(text)" }
                    return "\(name)=0x\(hexValue)"
                }.sorted().joined(separator: ",")
                out[f[0]] = [
                    "type": f[1], "mode": String(Int(f[2], radix: 8) ?? -1, radix: 8), "uid": f[3], "gid": f[4], "size": f[5], "sha256": f[6],
                    "link": f[7], "device": f[8], "xattrs": xattrs, "nlink": f[10], "mtime": f[11],
                ]
            }
            return out
        }

        /// One line per difference: entries missing on either side, and each field that differs.
        static func differences(expected: [String: Entry], actual: [String: Entry], ignoring: Set<String> = []) -> [String] {
            var out: [String] = []
            for p in Set(expected.keys).union(actual.keys).sorted() {
                switch (expected[p], actual[p]) {
                case (let e?, nil): out.append("\(p): missing (expected \(e["type"] ?? "?"))")
                case (nil, let a?): out.append("\(p): not expected (found \(a["type"] ?? "?"))")
                case let (e?, a?):
                    let d = fields.filter { !ignoring.contains($0) && e[$0] != a[$0] }.map { "\($0) \(e[$0] ?? "nil") -> \(a[$0] ?? "nil")" }
                    if !d.isEmpty { out.append("\(p): " + d.joined(separator: "; ")) }
                default: break
                }
            }
            return out
        }

        /// `security.capability` (VFS_CAP_REVISION_2/3) as `rootfs ls` prints it (libcap-like text).
        static func capabilityText(_ hex: String) -> String? {
            var b: [UInt8] = []
            var s = Substring(hex)
            while s.count >= 2, let v = UInt8(s.prefix(2), radix: 16) {
                b.append(v)
                s = s.dropFirst(2)
            }
            guard b.count >= 20 else { return nil }
            func le(_ o: Int) -> UInt64 { (0..<4).reduce(UInt64(0)) { $0 | UInt64(b[o + $1]) << (8 * UInt64($1)) } }
            guard le(0) & 0xFF00_0000 >= 0x0200_0000 else { return nil }
            let permitted = le(4) | le(12) << 32, inheritable = le(8) | le(16) << 32
            let effective = le(0) & 1 != 0 ? permitted | inheritable : 0
            var groups: [String: [String]] = [:], order: [String] = []
            for i in 0..<64 {
                let bit: UInt64 = 1 << UInt64(i)
                let f = (effective & bit != 0 ? "e" : "") + (inheritable & bit != 0 ? "i" : "") + (permitted & bit != 0 ? "p" : "")
                guard !f.isEmpty else { continue }
                if groups[f] == nil { order.append(f) }
                groups[f, default: []].append(i < capNames.count ? capNames[i] : String(i))
            }
            return order.map { (groups[$0] ?? []).joined(separator: ",") + "=" + $0 }.joined(separator: " ")
        }

        static let capNames = [
            "cap_chown", "cap_dac_override", "cap_dac_read_search", "cap_fowner", "cap_fsetid", "cap_kill", "cap_setgid",
            "cap_setuid", "cap_setpcap", "cap_linux_immutable", "cap_net_bind_service", "cap_net_broadcast", "cap_net_admin",
            "cap_net_raw", "cap_ipc_lock", "cap_ipc_owner", "cap_sys_module", "cap_sys_rawio", "cap_sys_chroot", "cap_sys_ptrace",
            "cap_sys_pacct", "cap_sys_admin", "cap_sys_boot", "cap_sys_nice", "cap_sys_resource", "cap_sys_time",
            "cap_sys_tty_config", "cap_mknod", "cap_lease", "cap_audit_write", "cap_audit_control", "cap_setfcap",
            "cap_mac_override", "cap_mac_admin", "cap_syslog", "cap_wake_alarm", "cap_block_suspend", "cap_audit_read",
            "cap_perfmon", "cap_bpf", "cap_checkpoint_restore",
        ]

        /// The volume the kernel wrote (after churn and remount), cut out of the dump disk and listed by
        /// Flashsmith's reader: the same tree as the guest's last walk (link counts aside: the
        /// listing has none).
        static func compareDump(_ dump: String, index i: Int, geometry g: Geometry, label: String, guestWalk: [String: Entry], in dir: TempDir) throws {
            let size = g.volumeLEBs * g.leb
            let h = try FileHandle(forReadingFrom: URL(fileURLWithPath: dump))
            defer { try? h.close() }
            try h.seek(toOffset: UInt64(i * size))
            let bytes = [UInt8](try h.read(upToCount: size) ?? Data())
            guard bytes.count == size else { throw HarnessError("\(dump): \(bytes.count) bytes at volume \(i), expected \(size)") }
            let path = try dir.write("dump-\(i).ubifs", bytes)
            let ls = try flashsmith("rootfs", "ls", path, "--json", "--digests")
            guard ls.status == 0 else {
                Issue.record("\(label): rootfs ls of the volume the kernel wrote failed: \(ls.err)")
                return
            }
            let read = try entries(listingJSON: ls.stdout)
            let diffs = differences(expected: guestWalk, actual: read, ignoring: ["nlink"])
            for d in diffs.prefix(40) { Issue.record("\(label): the kernel's volume, guest walk vs rootfs ls: \(d)") }
            if diffs.count > 40 { Issue.record("\(label): … \(diffs.count - 40) more differences") }
            print("E2E UBIFS \(label): rootfs ls of the kernel's volume: \(read.count) entries, \(diffs.count) difference(s) from the guest's walk")
        }

        // MARK: the guest helper's source

        static let helperSource = #"""
            /* ubifs-guest: the UBIFS guest test's helper (static, runs in the busybox guest).
             *   ubifs-guest walk DIR      one line per entry: path|type|mode|uid|gid|size|sha256|link|major:minor|xattrs|nlink|mtime
             *   ubifs-guest churn DIR N SEED   N writes/renames/deletes/links/xattrs…, then fill to ENOSPC and free it */
            #define _GNU_SOURCE
            #include <dirent.h>
            #include <errno.h>
            #include <fcntl.h>
            #include <stdint.h>
            #include <stdio.h>
            #include <stdlib.h>
            #include <string.h>
            #include <sys/stat.h>
            #include <sys/statvfs.h>
            #include <sys/sysmacros.h>
            #include <sys/types.h>
            #include <sys/xattr.h>
            #include <unistd.h>

            typedef struct { uint32_t h[8]; uint64_t n; uint8_t b[64]; size_t k; } sha256;
            static const uint32_t K[64] = {
              0x428a2f98,0x71374491,0xb5c0fbcf,0xe9b5dba5,0x3956c25b,0x59f111f1,0x923f82a4,0xab1c5ed5,0xd807aa98,0x12835b01,0x243185be,0x550c7dc3,
              0x72be5d74,0x80deb1fe,0x9bdc06a7,0xc19bf174,0xe49b69c1,0xefbe4786,0x0fc19dc6,0x240ca1cc,0x2de92c6f,0x4a7484aa,0x5cb0a9dc,0x76f988da,
              0x983e5152,0xa831c66d,0xb00327c8,0xbf597fc7,0xc6e00bf3,0xd5a79147,0x06ca6351,0x14292967,0x27b70a85,0x2e1b2138,0x4d2c6dfc,0x53380d13,
              0x650a7354,0x766a0abb,0x81c2c92e,0x92722c85,0xa2bfe8a1,0xa81a664b,0xc24b8b70,0xc76c51a3,0xd192e819,0xd6990624,0xf40e3585,0x106aa070,
              0x19a4c116,0x1e376c08,0x2748774c,0x34b0bcb5,0x391c0cb3,0x4ed8aa4a,0x5b9cca4f,0x682e6ff3,0x748f82ee,0x78a5636f,0x84c87814,0x8cc70208,
              0x90befffa,0xa4506ceb,0xbef9a3f7,0xc67178f2};
            #define ROR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))
            static void block(sha256 *s, const uint8_t *p) {
              uint32_t w[64], a, b, c, d, e, f, g, h;
              for (int i = 0; i < 16; i++) w[i] = (uint32_t)p[4*i] << 24 | (uint32_t)p[4*i+1] << 16 | (uint32_t)p[4*i+2] << 8 | p[4*i+3];
              for (int i = 16; i < 64; i++) {
                uint32_t s0 = ROR(w[i-15], 7) ^ ROR(w[i-15], 18) ^ (w[i-15] >> 3), s1 = ROR(w[i-2], 17) ^ ROR(w[i-2], 19) ^ (w[i-2] >> 10);
                w[i] = w[i-16] + s0 + w[i-7] + s1;
              }
              a = s->h[0]; b = s->h[1]; c = s->h[2]; d = s->h[3]; e = s->h[4]; f = s->h[5]; g = s->h[6]; h = s->h[7];
              for (int i = 0; i < 64; i++) {
                uint32_t t1 = h + (ROR(e, 6) ^ ROR(e, 11) ^ ROR(e, 25)) + ((e & f) ^ (~e & g)) + K[i] + w[i];
                uint32_t t2 = (ROR(a, 2) ^ ROR(a, 13) ^ ROR(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
                h = g; g = f; f = e; e = d + t1; d = c; c = b; b = a; a = t1 + t2;
              }
              s->h[0] += a; s->h[1] += b; s->h[2] += c; s->h[3] += d; s->h[4] += e; s->h[5] += f; s->h[6] += g; s->h[7] += h;
            }
            static void sha_init(sha256 *s) {
              static const uint32_t iv[8] = {0x6a09e667,0xbb67ae85,0x3c6ef372,0xa54ff53a,0x510e527f,0x9b05688c,0x1f83d9ab,0x5be0cd19};
              memcpy(s->h, iv, sizeof iv); s->n = 0; s->k = 0;
            }
            static void sha_update(sha256 *s, const uint8_t *p, size_t len) {
              s->n += len;
              while (len) {
                size_t t = 64 - s->k; if (t > len) t = len;
                memcpy(s->b + s->k, p, t); s->k += t; p += t; len -= t;
                if (s->k == 64) { block(s, s->b); s->k = 0; }
              }
            }
            static void sha_hex(sha256 *s, char *out) {
              uint64_t bits = s->n * 8; uint8_t pad = 0x80, z = 0, l[8];
              sha_update(s, &pad, 1);
              while (s->k != 56) sha_update(s, &z, 1);
              for (int i = 0; i < 8; i++) l[i] = (uint8_t)(bits >> (56 - 8*i));
              sha_update(s, l, 8);
              for (int i = 0; i < 8; i++) sprintf(out + 8*i, "%08x", s->h[i]);
            }

            static const char *root;
            static int failures;

            static void entry(const char *full, const char *rel) {
              struct stat st;
              if (lstat(full, &st)) { printf("ERROR lstat %s: %s\n", rel, strerror(errno)); failures++; return; }
              const char *type = S_ISDIR(st.st_mode) ? "directory" : S_ISREG(st.st_mode) ? "file" : S_ISLNK(st.st_mode) ? "symlink"
                : S_ISCHR(st.st_mode) ? "char" : S_ISBLK(st.st_mode) ? "block" : S_ISFIFO(st.st_mode) ? "fifo" : S_ISSOCK(st.st_mode) ? "socket" : "?";
              char sha[65] = "-";
              if (S_ISREG(st.st_mode)) {
                int fd = open(full, O_RDONLY | O_NOFOLLOW);
                if (fd < 0) { printf("ERROR open %s: %s\n", rel, strerror(errno)); failures++; return; }
                sha256 s; sha_init(&s); static uint8_t buf[1 << 16]; ssize_t n; long long total = 0;
                while ((n = read(fd, buf, sizeof buf)) > 0) { sha_update(&s, buf, (size_t)n); total += n; }
                if (n < 0) { printf("ERROR read %s: %s\n", rel, strerror(errno)); failures++; }
                if (total != st.st_size) { printf("ERROR %s: read %lld bytes, size %lld\n", rel, total, (long long)st.st_size); failures++; }
                close(fd); sha_hex(&s, sha);
              }
              static char link[8192]; link[0] = 0;
              if (S_ISLNK(st.st_mode)) {
                ssize_t n = readlink(full, link, sizeof link - 1);
                if (n < 0) { printf("ERROR readlink %s: %s\n", rel, strerror(errno)); failures++; n = 0; }
                link[n] = 0;
              }
              static char names[65536], xa[131072]; xa[0] = 0;
              ssize_t nl = llistxattr(full, names, sizeof names);
              if (nl < 0 && errno != ENOTSUP) { printf("ERROR llistxattr %s: %s\n", rel, strerror(errno)); failures++; nl = 0; }
              /* names in sorted order: simple selection over the list */
              const char *last = "";
              for (;;) {
                const char *best = NULL;
                for (ssize_t i = 0; i < nl; i += (ssize_t)strlen(names + i) + 1)
                  if (strcmp(names + i, last) > 0 && (!best || strcmp(names + i, best) < 0)) best = names + i;
                if (!best) break;
                static uint8_t v[65536];
                ssize_t vl = lgetxattr(full, best, v, sizeof v);
                if (vl < 0) { printf("ERROR lgetxattr %s %s: %s\n", rel, best, strerror(errno)); failures++; vl = 0; }
                size_t at = strlen(xa);
                at += (size_t)snprintf(xa + at, sizeof xa - at, "%s%s=", at ? "," : "", best);
                for (ssize_t i = 0; i < vl && at + 3 < sizeof xa; i++) at += (size_t)snprintf(xa + at, sizeof xa - at, "%02x", v[i]);
                last = best;
              }
              printf("%s|%s|%04o|%u|%u|%lld|%s|%s|%u:%u|%s|%lu|%lld\n", rel, type, (unsigned)(st.st_mode & 07777), st.st_uid, st.st_gid,
                     S_ISREG(st.st_mode) ? (long long)st.st_size : 0LL, sha, link, S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) ? major(st.st_rdev) : 0,
                     S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) ? minor(st.st_rdev) : 0, xa, (unsigned long)st.st_nlink, (long long)st.st_mtime);
              if (S_ISDIR(st.st_mode)) {
                struct dirent **list; int n = scandir(full, &list, NULL, alphasort);
                if (n < 0) { printf("ERROR scandir %s: %s\n", rel, strerror(errno)); failures++; return; }
                for (int i = 0; i < n; i++) {
                  const char *d = list[i]->d_name;
                  if (strcmp(d, ".") && strcmp(d, "..")) {
                    char *f, *r;
                    if (asprintf(&f, "%s/%s", full, d) < 0 || asprintf(&r, "%s/%s", strcmp(rel, "/") ? rel : "", d) < 0) exit(2);
                    entry(f, r); free(f); free(r);
                  }
                  free(list[i]);
                }
                free(list);
              }
            }

            static uint64_t rs;
            static uint64_t rnd(void) { rs ^= rs << 13; rs ^= rs >> 7; rs ^= rs << 17; return rs; }
            static uint8_t data[1 << 17];
            static void fill_data(size_t n, int compressible) {
              for (size_t i = 0; i < n; i++) data[i] = compressible ? (uint8_t)("flashsmith ubifs churn "[i % 23] + (i / 4096) % 3) : (uint8_t)rnd();
            }
            static long counts[16], enospc;
            static void count(int op, int rc) { if (rc == 0) counts[op]++; else if (errno == ENOSPC) enospc++; }

            static int write_file(const char *p, size_t n, int flags, off_t at) {
              int fd = open(p, O_WRONLY | O_CREAT | O_NONBLOCK | O_NOFOLLOW | flags, 0644);
              if (fd < 0) return -1;
              fill_data(n, rnd() % 2);
              ssize_t w = at >= 0 ? pwrite(fd, data, n, at) : write(fd, data, n);
              int saved = errno; close(fd); errno = saved;
              return w == (ssize_t)n ? 0 : -1;
            }

            /* Deletes, appends to, and renames the image's own regular files (every third each). */
            static int k3;
            static void touch_image(const char *dir) {
              struct dirent **list; int n = scandir(dir, &list, NULL, alphasort);
              if (n < 0) return;
              for (int i = 0; i < n; i++) {
                const char *d = list[i]->d_name; char p[4096], q[4200]; struct stat st;
                snprintf(p, sizeof p, "%s/%s", dir, d);
                if (strcmp(d, ".") && strcmp(d, "..") && strcmp(d, "churn") && lstat(p, &st) == 0) {
                  if (S_ISDIR(st.st_mode)) touch_image(p);
                  else if (S_ISREG(st.st_mode)) {
                    switch (k3++ % 3) {
                    case 0: count(10, unlink(p)); break;
                    case 1: count(11, write_file(p, 1000 + rnd() % 5000, O_APPEND, -1)); break;
                    default: snprintf(q, sizeof q, "%s.moved", p); count(12, rename(p, q)); break;
                    }
                  }
                }
                free(list[i]);
              }
              free(list);
            }

            static int churn(const char *dir, long ops, uint64_t seed) {
              rs = seed ? seed : 88172645463325252ULL;
              char base[4096], p[4200], q[4200];
              snprintf(base, sizeof base, "%s/churn", dir);
              if (mkdir(base, 0755) && errno != EEXIST) { printf("ERROR mkdir %s: %s\n", base, strerror(errno)); return 1; }
              touch_image(dir);
              for (long i = 0; i < ops; i++) {
                unsigned r = (unsigned)(rnd() % 100), a = (unsigned)(rnd() % 300), b = (unsigned)(rnd() % 300);
                snprintf(p, sizeof p, "%s/%s%u", base, a % 7 ? "f" : "d/f", a);
                snprintf(q, sizeof q, "%s/%s%u", base, b % 7 ? "f" : "d/f", b);
                if (a % 7 == 0 || b % 7 == 0) { snprintf(p + strlen(base), 8, "/d"); mkdir(p, 0755); snprintf(p, sizeof p, "%s/%s%u", base, a % 7 ? "f" : "d/f", a); }
                if (r < 35) count(0, write_file(p, (size_t)(rnd() % (r < 5 ? sizeof data : 9000)), O_TRUNC, -1));
                else if (r < 50) count(1, rename(p, q));
                else if (r < 65) count(2, unlink(p));
                else if (r < 72) count(3, write_file(p, (size_t)(rnd() % 6000), 0, (off_t)(rnd() % 300000)));  /* may leave a hole */
                else if (r < 78) count(4, truncate(p, (off_t)(rnd() % 20000)));
                else if (r < 83) { snprintf(q, sizeof q, "%s/dir%u", base, b % 20); count(5, (b & 1) ? mkdir(q, 0750) : rmdir(q)); }
                else if (r < 88) count(6, symlink(q, p));
                else if (r < 92) count(7, link(p, q));
                else if (r < 97) { char v[64]; int n = snprintf(v, sizeof v, "value-%u-%u", a, b); count(8, lsetxattr(p, b % 2 ? "user.churn" : "trusted.churn", v, (size_t)n, 0)); }
                else count(9, mknod(p, S_IFIFO | 0600, 0));
                if (i % 500 == 499) sync();
              }
              /* Fill the free space with incompressible data, then give it back. */
              snprintf(p, sizeof p, "%s/fill", base);
              int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
              long long filled = 0;
              struct statvfs sv0, sv1, sv2;
              statvfs(dir, &sv0);
              if (fd >= 0) {
                for (;;) {
                  fill_data(sizeof data, 0);
                  ssize_t w = write(fd, data, sizeof data);
                  if (w <= 0) break;
                  filled += w;
                  if (filled > (1LL << 30)) break;
                }
                int e = errno; fsync(fd); close(fd);
                printf("FILL %lld bytes ended with %s\n", filled, strerror(e));
              }
              sync(); statvfs(dir, &sv1);
              unlink(p); sync(); statvfs(dir, &sv2);
              printf("FREE before-fill=%llu full=%llu after=%llu (blocks of %lu)\n", (unsigned long long)sv0.f_bavail, (unsigned long long)sv1.f_bavail,
                     (unsigned long long)sv2.f_bavail, (unsigned long)sv0.f_bsize);
              printf("CHURN writes=%ld renames=%ld deletes=%ld pwrites=%ld truncates=%ld dirs=%ld symlinks=%ld links=%ld xattrs=%ld fifos=%ld "
                     "image-deletes=%ld image-appends=%ld image-renames=%ld enospc=%ld\n",
                     counts[0], counts[1], counts[2], counts[3], counts[4], counts[5], counts[6], counts[7], counts[8], counts[9], counts[10], counts[11], counts[12], enospc);
              return 0;
            }

            int main(int argc, char **argv) {
              if (argc >= 3 && !strcmp(argv[1], "walk")) { root = argv[2]; entry(root, "/"); return failures ? 1 : 0; }
              if (argc >= 5 && !strcmp(argv[1], "churn")) return churn(argv[2], atol(argv[3]), strtoull(argv[4], NULL, 0));
              fprintf(stderr, "usage: ubifs-guest walk DIR | churn DIR OPS SEED\n");
              return 2;
            }
            """#
    }
}

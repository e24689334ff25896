import Foundation
import Testing
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

extension E2E {
    /// `flashsmith serve` to a real U-Boot: Debian's qemu_arm64 U-Boot cannot change its TFTP port (no
    /// `CONFIG_TFTP_PORT`), and QEMU's user network answers port 69 itself, so the server runs on port 69
    /// inside a private network namespace with a tap device (10.0.3.1/24) that QEMU's virtio NIC is
    /// attached to (DEVLOOP.md). The namespace is also a PID namespace whose first process is QEMU:
    /// when the harness kills `unshare` by its PID (`--kill-child`), QEMU and the server go with it.
    ///
    /// The default board is built; U-Boot starts from its chip image, autoboot is interrupted at the
    /// prompt, then U-Boot is told its address, `tftpboot`s `fit.img` from `flashsmith serve` and `bootm`s
    /// it to the board's marker. Once with U-Boot's own TFTP options (blksize 1468, timeout), once with
    /// `tftpblocksize 512` and `tftpwindowsize 4`: the 34 MB FIT is then over 65535 blocks, so the block
    /// number rolls over inside U-Boot's transfer.
    @Suite("flashsmith serve: U-Boot in QEMU fetches the default board's FIT over TFTP (port 69, netns + tap) and boots it")
    struct TFTPServeBootTests {
        static let marker = "flashsmith: rootfs of board qemu-arm64 up"
        static let server = "10.0.3.1"
        static let client = "10.0.3.2"

        func available() -> Bool {
            guard getuid() == 0 else {
                let msg = "flashsmith serve in U-Boot: needs root (a network namespace with a tap device)"
                if isCI { Issue.record(Comment(rawValue: msg)) } else { print("SKIP: \(msg)") }
                return false
            }
            return toolsAvailable("qemu-system-aarch64", "unshare", "ip", "apt-get", "dpkg", "mkimage")
                && filesAvailable(Arm64Virt.uboot, flashsmithPath, "/dev/net/tun")
        }

        /// Sets up the namespace's tap device, starts the server on port 69 in it (JSON lines to
        /// `$3`), waits for it to listen, then becomes QEMU. `$1` flashsmith, `$2` the folder, `$4…` QEMU.
        static let namespaceScript = """
            set -e
            ip link set lo up
            ip tuntap add dev tap0 mode tap
            ip addr add \(server)/24 dev tap0
            ip link set tap0 up
            "$1" serve "$2" --listen \(server):69 --json >"$3" 2>&1 &
            i=0
            until grep -q 'read-only' "$3"; do i=$((i+1)); [ $i -lt 200 ] || { echo "FSE2E-SERVER-FAILED"; cat "$3"; exit 3; }; sleep 0.05; done
            echo "FSE2E-NETNS-READY"
            shift 3
            exec "$@"
            """

        /// QEMU on OUT's chip (a snapshot) with its NIC on the namespace's tap device, and
        /// `flashsmith serve OUT` on port 69 there (JSON lines to `serveLog`); returns once both are up.
        static func startInNamespace(out: String, serveLog: String, log: String) throws -> ConsoleSession {
            var qemu = Arm64Virt.arguments(bios: true)
            if let i = qemu.firstIndex(of: "-nic") { qemu.removeSubrange(i...(i + 1)) }
            qemu += [
                "-drive", "if=pflash,format=raw,index=1,file=\(out)/qemu-arm64.img,snapshot=on",
                "-netdev", "tap,id=n0,ifname=tap0,script=no,downscript=no", "-device", "virtio-net-pci,netdev=n0",
            ]
            let session = try ConsoleSession(
                "unshare", ["--net", "--pid", "--fork", "--kill-child", "sh", "-c", namespaceScript, "sh", flashsmithPath, out, serveLog, which("qemu-system-aarch64")!] + qemu,
                log: log)
            guard session.wait(for: "FSE2E-NETNS-READY", timeout: .seconds(30)) else {
                session.stop()
                throw QEMUError("namespace or server not up:\n\(session.tail())")
            }
            return session
        }

        @Test("U-Boot tftpboots fit.img from flashsmith serve and boots it to the marker", arguments: [nil, (512, 4)] as [(Int, Int)?])
        func bootsOverTFTP(settings: (blockSize: Int, windowSize: Int)?) throws {
            guard available() else { return }
            let dir = try TempDir("flashsmith-e2e-serve")
            let board = DefaultBoardTests()
            let (root, _) = try board.sysroot(dir)
            let out = dir.file("out")
            _ = try board.build(root, to: out)
            let fitSize = try FileManager.default.attributesOfItem(atPath: "\(out)/fit.img")[.size] as? Int ?? -1
            let serveLog = dir.file("serve.jsonl")

            let session = try Self.startInNamespace(out: out, serveLog: serveLog, log: dir.file("console.log"))
            defer { session.stop() }
            try #require(session.hold("\n", until: "=> ", timeout: .seconds(60)), "no U-Boot prompt:\n\(session.tail())")

            var command = "setenv ipaddr \(Self.client); setenv serverip \(Self.server); "
            if let s = settings { command += "setenv tftpblocksize \(s.blockSize); setenv tftpwindowsize \(s.windowSize); " }
            command += "tftpboot 0x44000000 fit.img && bootm 0x44000000#conf-1 0x44000000#conf-1 ${fdtcontroladdr}\n"
            try session.send(command)
            let fetched = session.wait(forAny: ["Bytes transferred = ", "TFTP error", "Retry count exceeded"], timeout: .seconds(300))
            #expect(fetched == "Bytes transferred = ", "tftpboot: \(String(describing: fetched))\n\(session.tail(60))")
            let booted = session.wait(for: Self.marker, timeout: .seconds(180))
            let log = session.log
            let rate = log.split(separator: "\n").first { $0.contains("/s") && $0.hasPrefix("\t") }.map { $0.trimmingCharacters(in: .whitespaces) } ?? "?"
            print("E2E timing: U-Boot tftpboot from flashsmith serve \(settings.map { "blksize \($0.blockSize) windowsize \($0.windowSize)" } ?? "defaults"): \(rate), marker at \(String(format: "%.1f", session.elapsed)) s")
            #expect(booted, "no marker:\n\(session.tail(60))")
            #expect(log.contains("Bytes transferred = \(fitSize) "), "whole FIT (\(fitSize) bytes):\n\(session.tail(60))")
            #expect(log.components(separatedBy: "Verifying Hash Integrity ... sha256+ OK").count - 1 == 2, "both hashes checked")
            session.stop()

            // The server's own account: one transfer, all of it, with the options U-Boot asked for.
            let lines = (try? String(contentsOfFile: serveLog, encoding: .utf8))?.split(separator: "\n").filter { $0.hasPrefix("{") } ?? []
            let json = lines.compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
            #expect(json.count == 1, "serve log: \(lines)")
            let t = json.first ?? [:]
            #expect(t["file"] as? String == "fit.img" && t["ok"] as? Bool == true && t["bytes"] as? Int == fitSize, "\(t)")
            #expect((t["client"] as? String)?.hasPrefix("\(Self.client):") == true, "\(t)")
            #expect(t["blksize"] as? Int == settings?.blockSize ?? 1468, "\(t)")
            #expect(t["windowsize"] as? Int == settings?.windowSize ?? 1, "\(t)")
            print("E2E serve log: \(lines.first ?? "")")
            let left = try run("pgrep", ["-f", "\(out)/qemu-arm64.img"])
            #expect(left.out.isEmpty, "QEMU still running: \(left.out)")
        }

        /// The whole loop with nothing typed: the default board with `boot: tftp` and `network:` naming
        /// the namespace's addresses; U-Boot loads the env from flash, `bootcmd=run netboot` fetches
        /// the FIT from `flashsmith serve` and boots it to the marker.
        @Test("boot: tftp board: env from flash, bootcmd=run netboot, the FIT from flashsmith serve, the marker")
        func bootTFTPBoardFromServe() throws {
            guard available() else { return }
            let dir = try TempDir("flashsmith-e2e-serve-board")
            let defaults = DefaultBoardTests()
            let (root, _) = try defaults.sysroot(dir)
            let board = try NetBootTests().board(dir, adding: "boot: tftp\nnetwork: {server: \(Self.server), client: \(Self.client), netmask: 255.255.255.0}")
            let out = dir.file("out")
            let b = try defaults.build(root, to: out, board: board)
            #expect(b.out.contains("  boots: run netboot (boot: tftp)\n"), "\(b.out)")
            let fitSize = try FileManager.default.attributesOfItem(atPath: "\(out)/fit.img")[.size] as? Int ?? -1
            let serveLog = dir.file("serve.jsonl")
            let session = try Self.startInNamespace(out: out, serveLog: serveLog, log: dir.file("console.log"))
            defer { session.stop() }
            let fetched = session.wait(forAny: ["Bytes transferred = ", "TFTP error", "Retry count exceeded"], timeout: .seconds(300))
            #expect(fetched == "Bytes transferred = ", "tftpboot: \(String(describing: fetched))\n\(session.tail(60))")
            let booted = session.wait(for: Self.marker, timeout: .seconds(180))
            print("E2E timing: boot: tftp board from flashsmith serve, marker at \(String(format: "%.1f", session.elapsed)) s")
            #expect(booted, "no marker:\n\(session.tail(60))")
            let log = session.log
            #expect(log.contains("Loading Environment from Flash... OK"), "\(session.tail(60))")
            #expect(log.contains("Bytes transferred = \(fitSize) "), "whole FIT (\(fitSize) bytes):\n\(session.tail(60))")
            session.stop()
            let lines = (try? String(contentsOfFile: serveLog, encoding: .utf8))?.split(separator: "\n").filter { $0.hasPrefix("{") } ?? []
            let json = lines.compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
            #expect(json.count == 1 && json.first?["file"] as? String == "fit.img" && json.first?["ok"] as? Bool == true, "serve log: \(lines)")
        }
    }
}

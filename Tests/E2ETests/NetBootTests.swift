import Foundation
import Testing
import TestSupport

extension E2E {
    /// The default board over the network, from QEMU's built-in TFTP: with `boot: tftp` (a copy of
    /// its board.yaml with that one key added) U-Boot loads the env Flashsmith wrote into flash, runs
    /// `bootcmd=run netboot`, tftpboots fit.img from OUTDIR over QEMU's user network and boots it to
    /// the board's marker; the same with `client: dhcp` (`setenv autoload no; dhcp` first); and the
    /// shipped board (`boot: flash`) with `flashsmith boot --net`, which boots a private copy of the
    /// chip through netboot, with piped input held until the marker and then run by the board's shell.
    @Suite("Network boot of the default board: U-Boot's netboot from QEMU's TFTP to the rootfs marker")
    struct NetBootTests {
        static let marker = DefaultBoardTests.marker
        static var repo: String { DefaultBoardTests.repo }

        /// A copy of layouts/qemu-arm64 with `lines` added after `name:`.
        func board(_ dir: TempDir, adding lines: String) throws -> String {
            let board = dir.file("board")
            try FileManager.default.copyItem(atPath: "\(Self.repo)/layouts/qemu-arm64", toPath: board)
            let yaml = try String(contentsOfFile: "\(board)/board.yaml", encoding: .utf8)
            try #require(yaml.contains("\nname: qemu-arm64\n"))
            try yaml.replacingOccurrences(of: "\nname: qemu-arm64\n", with: "\nname: qemu-arm64\n\(lines)\n").write(toFile: "\(board)/board.yaml", atomically: true, encoding: .utf8)
            return board
        }

        /// The address `netboot` loads the FIT to (hex digits), read back from the chip's env by
        /// fw_printenv. It depends on the FIT's size and compression (bootm refuses a FIT that
        /// overlaps where it unpacks the kernel), so it is read, and checked to lie past that.
        func netbootAddress(_ out: String) throws -> String {
            let env = try run("fw_printenv", ["-c", "\(out)/chip-fw_env.config", "netboot"])
            let value = env.out.hasPrefix("netboot=") ? String(env.out.dropFirst("netboot=".count)) : env.out
            let fields = value.split(whereSeparator: { $0 == " " || $0 == "\n" }).map(String.init)
            let i = try #require(fields.firstIndex(of: "tftpboot"), "\(env.out)")
            let hex = try #require(fields.dropFirst(i + 1).first.flatMap { $0.hasPrefix("0x") ? String($0.dropFirst(2)) : nil }, "\(env.out)")
            let fit = try FileManager.default.attributesOfItem(atPath: "\(out)/fit.img")[.size] as? Int ?? 0
            #expect((Int(hex, radix: 16) ?? 0) >= 0x4040_0000 + fit, "netboot's FIT at 0x\(hex) overlaps the kernel's load address 0x40400000")
            return hex
        }

        /// Boots OUTDIR with `flashsmith boot ARGS --until MARKER` under the harness; checks the
        /// env came from flash and the FIT over TFTP, returns the log.
        func bootOverTFTP(_ dir: TempDir, out: String, extra: [String] = [], what: String, dhcp: Bool = false) throws -> QEMUResult {
            let fit = try FileManager.default.attributesOfItem(atPath: "\(out)/fit.img")[.size] as? Int ?? 0
            let address = try netbootAddress(out)
            let q = try QEMU.run(
                flashsmithPath, ["boot", out] + extra + ["--until", Self.marker, "--fail-on", "Kernel panic", "--fail-on", "TFTP error", "--fail-on", "Retry count exceeded", "--fail-on", "Wrong Image Format", "--timeout", "150"],
                log: dir.file("boot.log"), timeout: .seconds(180),
                markers: ["Loading Environment from Flash... OK", "TFTP from server 10.0.2.2", "Bytes transferred", "Starting kernel", Self.marker])
            print("E2E timing: \(what) \(q.summary), markers \(q.markerTimes)")
            let ctx = "\(q.summary)\n\(q.tail(60))"
            var lines = [
                "Loading Environment from Flash... OK", "flashsmith: environment of board qemu-arm64 loaded",
                "TFTP from server 10.0.2.2; our IP address is 10.0.2.15", "Filename 'fit.img'.", "Bytes transferred = \(fit) (\(String(fit, radix: 16)) hex)",
                "## Loading kernel from FIT Image at \(address) ...", "Starting kernel ...", Self.marker,
            ]
            if dhcp { lines.append("DHCP client bound to address 10.0.2.15") }
            for line in lines {
                #expect(q.contains(line), "'\(line)' missing: \(ctx)")
            }
            #expect(q.log.components(separatedBy: "Verifying Hash Integrity ... sha256+ OK").count - 1 == 2, "both sha256 hashes checked: \(ctx)")
            #expect(q.exitStatus == 0, "flashsmith boot --until should stop QEMU and exit 0: \(ctx)")
            return q
        }

        @Test("boot: tftp (static and dhcp): env from flash, bootcmd=run netboot, the FIT over QEMU's TFTP, the rootfs marker", arguments: [false, true])
        func tftpBoard(dhcp: Bool) throws {
            let d = DefaultBoardTests()
            guard d.available() else { return }
            let dir = try TempDir("flashsmith-e2e-netboot")
            let (root, _) = try d.sysroot(dir)
            let out = dir.file("out")
            let board = try board(dir, adding: dhcp ? "boot: tftp\nnetwork: {server: 10.0.2.2, client: dhcp}" : "boot: tftp")
            let b = try d.build(root, to: out, board: board)
            #expect(b.out.contains("  boots: run netboot (boot: tftp)\n"), "\(b.out)")
            let args = try String(contentsOfFile: "\(out)/qemu.args", encoding: .utf8)
            #expect(args.contains("-netdev\nuser,id=net0,tftp=.\n") && !args.contains("-nic\nnone"), "\(args)")
            let env = try run("fw_printenv", ["-c", "\(out)/chip-fw_env.config"])
            #expect(env.out.contains("bootcmd=run netboot\n"), "\(env.out)")
            let a = try netbootAddress(out)
            #expect(env.out.contains("netboot=\(dhcp ? "setenv autoload no; dhcp && " : "")tftpboot 0x\(a) fit.img && bootm 0x\(a)#conf-1 0x\(a)#conf-1 ${fdtcontroladdr}\n"), "\(env.out)")
            let q = try bootOverTFTP(dir, out: out, what: "boot: tftp\(dhcp ? " (dhcp)" : "") board from QEMU's TFTP", dhcp: dhcp)
            if !dhcp { #expect(!q.contains("DHCP client bound"), "a static client never asks DHCP") }
        }

        @Test("boot --net on the shipped (flash) board: netboot from a copy of the chip; piped input held until the marker, then run by the shell")
        func bootNetOnTheFlashBoard() throws {
            let d = DefaultBoardTests()
            guard d.available() else { return }
            let dir = try TempDir("flashsmith-e2e-bootnet")
            let (root, _) = try d.sysroot(dir)
            let out = dir.file("out")
            _ = try d.build(root, to: out)
            let chip = try Data(contentsOf: URL(fileURLWithPath: "\(out)/qemu-arm64.img"))
            _ = try bootOverTFTP(dir, out: out, extra: ["--net"], what: "boot --net (flash board) from QEMU's TFTP")
            let unchanged = try Data(contentsOf: URL(fileURLWithPath: "\(out)/qemu-arm64.img")) == chip
            #expect(unchanged, "boot --net changed the build's chip image")

            // Scripting: the commands reach the board's shell, not U-Boot (which would stop autoboot).
            let start = Date()
            let r = try flashsmith(
                ["boot", out, "--net", "--send-after", Self.marker, "--until", "FSE2E-NET-42", "--fail-on", "Kernel panic", "--timeout", "150"],
                stdin: Array("echo FSE2E-NET-$((6*7)); cat /proc/cmdline\n".utf8))
            print("E2E timing: boot --net with piped input to the shell's answer: \(String(format: "%.1f", Date().timeIntervalSince(start))) s")
            #expect(r.status == 0, "\(r.err)\n\(r.out.suffix(3000))")
            #expect(r.out.contains("TFTP from server 10.0.2.2"), "\(r.out.suffix(3000))")
            #expect(!r.out.contains("=> echo"), "the input reached U-Boot: \(r.out.suffix(3000))")
            let left = try run("pgrep", ["-f", "flashsmith-boot.*qemu-arm64.img"])
            #expect(left.out.isEmpty, "QEMU still running: \(left.out)")
        }
    }
}

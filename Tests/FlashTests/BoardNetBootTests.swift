import Board
import Foundation
import Testing
import TestSupport

/// The derived environment of a board for each `boot:`: the network addresses, flashboot, netboot,
/// nfsboot and the bootcmd that runs the chosen one, read back by libubootenv's fw_printenv from the
/// chip image (through the chip-fw_env.config the build writes); qemu.args with QEMU's user network
/// for a board that boots over the network.
@Suite struct BoardNetBootEnvTests {
    /// A 64 MiB NOR board at 0x4000000 (QEMU virt's pflash bank 1) with a FIT of a stand-in kernel
    /// loaded at 0x40400000; `extra` lines go at the top of board.yaml.
    static func board(_ dir: TempDir, _ extra: String, qemu: Bool = true, console: Bool = true, env: String = "bootdelay=0\n", envSize: String = "") throws -> String {
        _ = try BoardBootContentTests.fakeArm64Kernel(dir)
        _ = try dir.write("env.txt", env)
        return try dir.write("board.yaml", """
            name: nb
            \(console ? "console: ttyAMA0" : "")
            kernel: sysroot/boot/vmlinuz-6.1.0-test-arm64
            \(extra)
            \(qemu ? "qemu: {system: qemu-system-aarch64, machine: virt, cpu: cortex-a57, firmware: /usr/lib/u-boot/qemu_arm64/u-boot.bin, pflash: 1}" : "")
            flash: {type: nor, base: 0x4000000, erase-block: 256KiB, chip: 64MiB}
            partitions:
              - {name: env, size: 256KiB, content: {env: env.txt\(envSize)}}
              - {name: fit, size: rest, content: {fit: {load: 0x40400000}}}

            """)
    }

    /// The FIT (200 kB) ends below 0x41000000: netboot fetches it 16 MiB past that boundary.
    static let at = "0x42000000"
    static let bootm = "bootm \(at)#conf-1 - ${fdtcontroladdr}"
    static let nfsStatic = "root=/dev/nfs rw nfsroot=${serverip}:/nfsroot,v3,tcp ip=${ipaddr}:${serverip}:${gatewayip}:${netmask}::eth0:off"

    /// (board.yaml lines, has qemu:, variables expected — nil: absent). `boot: nfs` needs a rootfs
    /// (helper I's part); nfsboot is derived whatever the choice, so it is checked on the others.
    static let cases: [(String, Bool, [String: String?])] = [
        ("", true, [
            "bootcmd": "run flashboot", "flashboot": "bootm 0x4040000#conf-1 - ${fdtcontroladdr}",
            "serverip": "10.0.2.2", "ipaddr": "10.0.2.15", "netmask": "255.255.255.0", "gatewayip": "10.0.2.2",
            "netboot": "tftpboot \(at) fit.img && \(bootm)",
            "nfsboot": "setenv bootargs console=ttyAMA0 \(nfsStatic) && tftpboot \(at) fit.img && \(bootm)",
            "bootargs": "console=ttyAMA0",
        ]),
        ("boot: tftp\nnetwork: {server: 192.168.7.1, client: 192.168.7.20, netmask: 255.255.255.128}", false, [
            "bootcmd": "run netboot", "serverip": "192.168.7.1", "ipaddr": "192.168.7.20", "netmask": "255.255.255.128", "gatewayip": nil,
            "netboot": "tftpboot \(at) fit.img && \(bootm)",
        ]),
        ("boot: tftp\nnetwork: {server: 192.168.7.1, client: dhcp}", true, [
            "bootcmd": "run netboot", "serverip": "192.168.7.1", "ipaddr": nil, "netmask": nil, "gatewayip": nil,
            "netboot": "setenv autoload no; dhcp && tftpboot \(at) fit.img && \(bootm)",
            "nfsboot": "setenv autoload no; dhcp && setenv bootargs console=ttyAMA0 root=/dev/nfs rw nfsroot=${serverip}:/nfsroot,v3,tcp ip=dhcp && tftpboot \(at) fit.img && \(bootm)",
        ]),
        // No network: and no qemu: everything from DHCP (the server too).
        ("", false, ["bootcmd": "run flashboot", "serverip": nil, "ipaddr": nil, "netboot": "setenv autoload no; dhcp && tftpboot \(at) fit.img && \(bootm)"]),
        // override: bootcmd still wins; the commands are there to run by hand.
        ("boot: tftp\noverride: {bootcmd: run netboot; echo FAILED}", true, ["bootcmd": "run netboot; echo FAILED", "netboot": "tftpboot \(at) fit.img && \(bootm)"]),
        ("override: {bootargs: console=ttyS9 quiet}", true, [
            "bootcmd": "run flashboot", "bootargs": "console=ttyS9 quiet",
            "nfsboot": "setenv bootargs console=ttyS9 quiet \(nfsStatic) && tftpboot \(at) fit.img && \(bootm)",
        ]),
    ]

    @Test(arguments: cases)
    func derivedEnvironment(yaml: String, qemu: Bool, expected: [String: String?]) throws {
        guard filesAvailable(flashsmithPath), toolsAvailable("fw_printenv") else { return }
        let dir = try TempDir()
        let b = try Self.board(dir, yaml, qemu: qemu, console: !yaml.contains("bootargs:"))
        let r = try flashsmith("build", b, "-o", dir.file("out"))
        try #require(r.status == 0, "\(r.err)")
        for (name, value) in expected {
            let f = try run("fw_printenv", ["-c", dir.file("out/chip-fw_env.config"), "-n", name])
            if let value {
                #expect(f.status == 0 && f.out == value + "\n", "fw_printenv \(name): \(f.out)\(f.err)")
            } else {
                // fw_printenv -n prints an empty line for a variable that is not there.
                #expect(f.out.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty, "\(name) should be absent: \(f.out)")
            }
        }
        // The report says what bootcmd runs and each command.
        if let cmd = expected["bootcmd"] ?? nil, cmd.hasPrefix("run ") && !cmd.contains(";") {
            #expect(r.out.contains("  boots: \(cmd) ("), "\(r.out)")
        }
        #expect(r.out.contains("  netboot: "), "\(r.out)")
        #expect(r.out.contains("  network: "), "\(r.out)")
    }

    @Test func aBoardThatBootsOverTheNetworkHasANIC() throws {
        guard filesAvailable(flashsmithPath) else { return }
        let dir = try TempDir()
        let b = try Self.board(dir, "boot: tftp")
        #expect(try flashsmith("build", b, "-o", dir.file("out")).status == 0)
        let args = try String(contentsOfFile: dir.file("out/qemu.args"), encoding: .utf8)
        #expect(args.contains("-netdev\nuser,id=net0,tftp=.\n-device\nvirtio-net-pci,netdev=net0,romfile=\n"), "\(args)")
        #expect(!args.contains("-nic\nnone"), "\(args)")
        let out = try #require(realpath(dir.file("out"), nil).map { p in defer { free(p) }; return String(cString: p) })
        let p = try flashsmith("boot", dir.file("out"), "--print")
        #expect(p.out.contains(" -netdev user,id=net0,tftp=\(out) -device virtio-net-pci,netdev=net0,romfile= "), "\(p.out)")

        // A board that boots from flash: no NIC, unless --net.
        let flashBoard = try Self.board(dir, "")
        #expect(try flashsmith("build", flashBoard, "-o", dir.file("flash")).status == 0)
        let f = try flashsmith("boot", dir.file("flash"), "--print")
        #expect(f.out.contains(" -nic none "), "\(f.out)")
        let n = try flashsmith("boot", dir.file("flash"), "--print", "--net")
        #expect(n.out.contains(" -netdev user,id=net0,tftp=") && !n.out.contains("-nic none"), "\(n.out)")
        let both = try flashsmith("boot", dir.file("flash"), "--net", "--persist")
        #expect(both.status == 64 && both.err.contains("--net boots a copy of the chip"), "\(both.err)")
    }

    @Test func bootOverTheNetworkNeedsAnImageToFetch() throws {
        guard filesAvailable(flashsmithPath) else { return }
        let dir = try TempDir()
        _ = try dir.write("env.txt", "bootdelay=0\n")
        let b = try dir.write("board.yaml", """
            name: nb
            boot: tftp
            qemu: {system: qemu-system-aarch64, machine: virt, pflash: 1}
            flash: {type: nor, base: 0x4000000, erase-block: 256KiB, chip: 64MiB}
            partitions:
              - {name: env, size: 256KiB, content: {env: env.txt}}
              - {name: data, size: rest}

            """)
        let r = try flashsmith("build", b, "-o", dir.file("out"))
        #expect(r.status == 65, "\(r.err)")
        #expect(r.err.contains("\(b): boot: tftp needs an image to fetch over TFTP: a partition with content fit: or uimage:"), "\(r.err)")
    }

    /// The boot commands count against the env's size: a small env that held today's variables is
    /// refused with the partition named, not cut.
    @Test func theCommandsMustFitTheEnvironment() throws {
        guard filesAvailable(flashsmithPath) else { return }
        let dir = try TempDir()
        let b = try Self.board(dir, "", envSize: ", size: 0x200")
        let r = try flashsmith("build", b, "-o", dir.file("out"))
        #expect(r.status == 65, "\(r.err)")
        #expect(r.err.contains("partition 'env': env.txt with the derived variables (boot commands included): "), "\(r.err)")
        #expect(r.err.split(separator: "\n").count == 1, "\(r.err)")
    }
    /// `boot --net` boots a copy of the chip whose environment says bootcmd=run netboot with QEMU's
    /// addresses (read by fw_printenv from what a stand-in QEMU was given); the build's chip is
    /// unchanged and the copy's folder gone afterwards; a board with nothing to fetch is refused.
    @Test func bootNetBootsAPatchedCopyOfTheChip() throws {
        guard filesAvailable(flashsmithPath), toolsAvailable("fw_printenv", "bash") else { return }
        let dir = try TempDir()
        let fake = try dir.write("fake-qemu", """
            #!/bin/bash
            for a in "$@"; do case "$a" in if=pflash,*) f=${a#*file=}; f=${f%%,*}; cp "$f" "$(dirname "$0")/seen.img"; echo "$f" > "$(dirname "$0")/seen.path";; esac; done
            echo "args: $*"
            echo "FAKE-UP"
            exec sleep 30

            """)
        chmod(fake, 0o755)
        let b = try Self.board(dir, "network: {server: 192.168.7.1, client: 192.168.7.20}", qemu: false)
        let yaml = try String(contentsOfFile: b, encoding: .utf8)
        try (yaml + "qemu: {system: \(fake), machine: virt, pflash: 1}\n").write(toFile: b, atomically: true, encoding: .utf8)
        #expect(try flashsmith("build", b, "-o", dir.file("out")).status == 0)
        let chip = try readBytes(dir.file("out/nb.img"))
        let r = try flashsmith("boot", dir.file("out"), "--net", "--until", "FAKE-UP", "--timeout", "20")
        #expect(r.status == 0, "\(r.err)")
        let out = try #require(realpath(dir.file("out"), nil).map { p in defer { free(p) }; return String(cString: p) })
        #expect(r.out.contains("-netdev user,id=net0,tftp=\(out) -device virtio-net-pci,netdev=net0,romfile="), "\(r.out)")
        let seenPath = try String(contentsOfFile: dir.file("seen.path"), encoding: .utf8).trimmingCharacters(in: .newlines)
        #expect(!seenPath.hasPrefix(out), "a copy, not the build's chip: \(seenPath)")
        #expect(!FileManager.default.fileExists(atPath: seenPath), "the copy is removed after the boot")
        let cfg = try dir.write("seen.config", "\(dir.file("seen.img")) 0x0 0x40000 0x40000\n")
        let expected = ["bootcmd": "run netboot", "serverip": "10.0.2.2", "ipaddr": "10.0.2.15", "netmask": "255.255.255.0", "gatewayip": "10.0.2.2", "bootdelay": "0"]
        for (name, value) in expected {
            let f = try run("fw_printenv", ["-c", cfg, "-n", name])
            #expect(f.status == 0 && f.out == value + "\n", "fw_printenv \(name): \(f.out)\(f.err)")
        }
        #expect(try readBytes(dir.file("out/nb.img")) == chip, "the build's chip is unchanged")

        // Nothing to fetch: no netboot in the environment, said before QEMU starts.
        _ = try dir.write("env2.txt", "bootdelay=0\n")
        let plain = try dir.write("plain.yaml", """
            name: p
            qemu: {system: \(fake), machine: virt, pflash: 1}
            flash: {type: nor, base: 0x4000000, erase-block: 256KiB, chip: 64MiB}
            partitions:
              - {name: env, size: 256KiB, content: {env: env2.txt}}
              - {name: data, size: rest}

            """)
        try FileManager.default.removeItem(atPath: dir.file("seen.path"))
        #expect(try flashsmith("build", plain, "-o", dir.file("plain")).status == 0)
        let n = try flashsmith("boot", dir.file("plain"), "--net", "--until", "FAKE-UP", "--timeout", "20")
        #expect(n.status == 65 && n.err.contains("the environment has no netboot"), "\(n.err)")
        #expect(!FileManager.default.fileExists(atPath: dir.file("seen.path")), "QEMU was not started")
    }
}

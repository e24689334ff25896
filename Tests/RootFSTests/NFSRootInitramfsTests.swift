import Foundation
import Testing
import TestSupport
@testable import RootFS

/// The NFS-root initramfs: its /init (syntax under busybox's ash and dash; the ip= and nfsroot=
/// parsing run by both shells), the module load order (modules.dep, or each module's .modinfo), and
/// the cpio it writes (listed by cpio -t and bsdtar, the same bytes twice).
@Suite struct NFSRootInitramfsTests {
    static let script = NFSRootInitramfs.initScript(release: "6.1.0-test", modules: ["kernel/a.ko", "kernel/b.ko"], mountTimeout: 60)

    /// The shells the scripts are checked with: busybox's ash (what runs them) and the host's sh.
    func shells() -> [[String]] {
        var s: [[String]] = []
        if let bb = which("busybox") { s.append([bb, "sh"]) }
        if let sh = which("sh") { s.append([sh]) }
        return s
    }

    @Test("/init and the udhcpc script parse (busybox sh -n, sh -n); placeholders all filled")
    func syntax() throws {
        guard toolsAvailable("busybox", "sh") else { return }
        let dir = try TempDir()
        for (name, text) in [("init", Self.script), ("udhcpc.script", NFSRootInitramfs.dhcpScript)] {
            let path = try dir.write(name, text)
            for sh in shells() {
                let r = try run(sh[0], Array(sh.dropFirst()) + ["-n", path])
                #expect(r.status == 0, "\(sh.joined(separator: " ")) -n \(name): \(r.err)")
            }
        }
        for p in ["@RELEASE@", "@MODULES@", "@TIMEOUT@"] { #expect(!Self.script.contains(p), "\(p) left in /init") }
        #expect(Self.script.contains("modules=\"kernel/a.ko kernel/b.ko\"") && Self.script.contains("modules_dir=/lib/modules/6.1.0-test"))
        #expect(Self.script.hasPrefix("#!/bin/sh\n") && Self.script.hasSuffix("\n"))
    }

    /// Runs /init's parsing functions (sourced, not as PID 1) on `commands`; `fail` prints and exits.
    func parse(_ commands: String) throws -> [String: String] {
        let dir = try TempDir()
        let initPath = try dir.write("init", Self.script)
        let test = try dir.write("t.sh", "NFSROOT_INIT_FUNCTIONS=1\n. \(initPath)\nfail() { echo \"FAIL=$*\"; exit 3; }\n\(commands)\n"
            + "for v in root nfsroot ip init access client server gw mask host dev autoconf path opts; do eval \"echo $v=\\${$v-}\"; done\n")
        var results: [[String: String]] = []
        for sh in shells() {
            let r = try run(sh[0], Array(sh.dropFirst()) + [test])
            var vars: [String: String] = [:]
            for line in r.out.split(separator: "\n") {
                guard let eq = line.firstIndex(of: "=") else { continue }
                vars[String(line[..<eq])] = String(line[line.index(after: eq)...])
            }
            vars["status"] = String(r.status)
            results.append(vars)
        }
        try #require(!results.isEmpty)
        #expect(results.allSatisfy { $0 == results[0] }, "the shells disagree: \(results)")
        return results[0]
    }

    struct Case: Sendable, CustomTestStringConvertible {
        var cmdline: String
        var expect: [String: String]
        var testDescription: String { cmdline }
    }

    static let cases: [Case] = [
        // What the derived nfsboot passes (a static client on QEMU's user network).
        Case(
            cmdline: "console=ttyAMA0 panic=-1 root=/dev/nfs rw nfsroot=10.0.2.2:/nfsroot,v3,tcp ip=10.0.2.15:10.0.2.2:10.0.2.2:255.255.255.0::eth0:off",
            expect: [
                "root": "/dev/nfs", "access": "rw", "init": "/sbin/init", "client": "10.0.2.15", "server": "10.0.2.2", "gw": "10.0.2.2",
                "mask": "255.255.255.0", "dev": "eth0", "autoconf": "static", "path": "/nfsroot", "opts": "v3,tcp,mountproto=tcp", "status": "0",
            ]),
        // Defaults: read-only, v3 over TCP; the server from ip=; %s is the client's address.
        Case(
            cmdline: "root=/dev/nfs nfsroot=/srv/boards/%s ip=192.168.1.50:192.168.1.10::255.255.255.0:board1::",
            expect: ["access": "ro", "server": "192.168.1.10", "host": "board1", "autoconf": "static", "path": "/srv/boards/192.168.1.50", "opts": "vers=3,proto=tcp,mountproto=tcp", "status": "0"]),
        // v4 needs no mount protocol; udp v3 asks mountd over udp.
        Case(cmdline: "nfsroot=10.0.0.1:/x,vers=4.2,soft ip=dhcp init=/bin/sh", expect: ["init": "/bin/sh", "autoconf": "dhcp", "server": "10.0.0.1", "opts": "vers=4.2,soft,proto=tcp", "status": "0"]),
        Case(cmdline: "nfsroot=10.0.0.1:/x,udp,v3 ip=::::::dhcp", expect: ["autoconf": "dhcp", "client": "", "opts": "udp,v3,mountproto=udp", "status": "0"]),
        Case(cmdline: "nfsroot=10.0.0.1:/x ip=bootp", expect: ["autoconf": "dhcp", "status": "0"]),
        // Failures: one line saying what is wrong.
        Case(cmdline: "nfsroot=/x ip=dhcp", expect: ["FAIL": "nfsroot=/x: no server (give SERVER:PATH, or the server in ip=)", "status": "3"]),
        Case(cmdline: "nfsroot=1.2.3.4:/x ip=off", expect: ["FAIL": "ip=off: the NFS root needs the network", "status": "3"]),
        Case(cmdline: "nfsroot=1.2.3.4:/x ip=:1.2.3.4:::::off", expect: ["FAIL": "ip=:1.2.3.4:::::off: no client address, and autoconf is 'off'", "status": "3"]),
        Case(cmdline: "nfsroot=1.2.3.4:/x ip=10.0.0.2::::::rarpx", expect: ["FAIL": "ip=10.0.0.2::::::rarpx: autoconf 'rarpx': expected off, none, dhcp, on or any", "status": "3"]),
        Case(cmdline: "nfsroot=1.2.3.4:,v3 ip=dhcp", expect: ["FAIL": "nfsroot=1.2.3.4:,v3: no path", "status": "3"]),
    ]

    @Test("ip= and nfsroot= read as the kernel reads them (busybox ash and dash agree)", arguments: cases)
    func parsing(_ c: Case) throws {
        guard toolsAvailable("busybox", "sh") else { return }
        let vars = try parse("parse_cmdline '\(c.cmdline)'\nparse_ip \"$ip\"\nparse_nfsroot \"$nfsroot\"")
        for (k, v) in c.expect {
            #expect(vars[k] == v, "\(k): expected '\(v)', found '\(vars[k] ?? "nothing")' for \(c.cmdline): \(vars)")
        }
    }

    // MARK: - Module load order

    /// A modules tree: net.ko needs ring.ko and core.ko (modules.dep, transitively); ring.ko needs core.ko.
    func tree(_ dir: TempDir, machine: UInt8 = 62, modulesDep: Bool = true) throws -> String {
        let root = dir.file("lib/modules/6.1.0-test")
        try FileManager.default.createDirectory(atPath: "\(root)/kernel/net", withIntermediateDirectories: true)
        // The ELF identity the architecture check reads: ELFCLASS64, little-endian, e_machine.
        var header = [UInt8](repeating: 0, count: 64)
        header[0...6] = [0x7F, 0x45, 0x4C, 0x46, 2, 1, 1]
        header[16] = 1
        header[18] = machine
        for name in ["net", "ring", "core", "nfs", "nfsv3", "other"] { _ = try dir.write("lib/modules/6.1.0-test/kernel/net/\(name).ko", header) }
        if modulesDep {
            _ = try dir.write(
                "lib/modules/6.1.0-test/modules.dep",
                "kernel/net/net.ko: kernel/net/ring.ko kernel/net/core.ko\nkernel/net/ring.ko: kernel/net/core.ko\nkernel/net/core.ko:\nkernel/net/nfs.ko: kernel/net/core.ko\nkernel/net/nfsv3.ko: kernel/net/nfs.ko kernel/net/core.ko\nkernel/net/other.ko:\n")
        }
        _ = try dir.write("lib/modules/6.1.0-test/modules.builtin", "kernel/drivers/virtio/virtio_pci.ko\n")
        return root
    }

    @Test("load order: each module after what it needs, each once; built-in names apart; unknown names refused")
    func loadOrder() throws {
        let dir = try TempDir()
        let t = try KernelModuleTree.load(try tree(dir))
        let r = try t.loadOrder(["net", "nfsv3", "virtio-pci", "ring", "absent"], optional: ["absent"])
        #expect(r.order == ["kernel/net/core.ko", "kernel/net/ring.ko", "kernel/net/net.ko", "kernel/net/nfs.ko", "kernel/net/nfsv3.ko"])
        #expect(r.builtIn == ["virtio-pci"] && r.absent == ["absent"])
        #expect(throws: RootFSError.self) { try t.loadOrder(["absent"]) }
        do {
            _ = try t.loadOrder(["nosuch"])
        } catch {
            #expect("\(error)".contains("module 'nosuch': expected it among the 6 modules or the kernel's built-in ones"), "\(error)")
        }
    }

    /// Without modules.dep (an unpacked Debian kernel package), dependencies come from each module's
    /// .modinfo: two relocatable objects made by the C compiler with `depends=` there.
    @Test("without modules.dep: modules.order and each module's .modinfo depends=")
    func modinfoFallback() throws {
        guard toolsAvailable("cc") else { return }
        let dir = try TempDir()
        let root = dir.file("lib/modules/6.1.0-test")
        try FileManager.default.createDirectory(atPath: "\(root)/kernel", withIntermediateDirectories: true)
        for (name, depends) in [("top", "mid,low-level"), ("mid", "low_level"), ("low_level", "")] {
            let c = try dir.write("\(name).c", "static const char m[] __attribute__((section(\".modinfo\"), used)) = \"license=GPL\\0depends=\(depends)\\0name=\(name)\";\n")
            let r = try run("cc", ["-c", "-o", "\(root)/kernel/\(name).ko", c])
            try #require(r.status == 0, "cc: \(r.err)")
        }
        _ = try dir.write("lib/modules/6.1.0-test/modules.order", "kernel/top.ko\nkernel/mid.ko\nkernel/low_level.ko\n")
        #expect(try KernelModuleTree.modinfoDepends("\(root)/kernel/top.ko") == ["mid", "low-level"])
        #expect(try KernelModuleTree.modinfo("\(root)/kernel/mid.ko") == ["license=GPL", "depends=low_level", "name=mid"])
        let t = try KernelModuleTree.load(dir.path)
        #expect(t.release == "6.1.0-test")
        #expect(try t.loadOrder(["top"]).order == ["kernel/low_level.ko", "kernel/mid.ko", "kernel/top.ko"])
        // Not an ELF file: one line naming it.
        let bad = try dir.write("bad.ko", "not elf at all, long enough to be read whole")
        #expect(throws: RootFSError.self) { try KernelModuleTree.modinfo(bad) }
    }

    /// A `softdep=pre:` alias (ext4's `pre: crypto-crc32c`) comes before the module, found through
    /// the providing module's `alias=` (no modules.alias without depmod); modules.softdep when
    /// depmod ran; an alias nothing provides is left out.
    @Test("soft dependencies: .modinfo softdep=pre: resolved through alias=, or modules.softdep")
    func softDependencies() throws {
        guard toolsAvailable("cc") else { return }
        let dir = try TempDir()
        let root = dir.file("lib/modules/6.1.0-test")
        try FileManager.default.createDirectory(atPath: "\(root)/kernel", withIntermediateDirectories: true)
        let modules = [
            ("fs4", "depends=mbc\\0softdep=pre: crypto-crcx post: later\\0"), ("mbc", "depends=\\0"),
            ("crcx_generic", "depends=\\0alias=crypto-crcx-generic\\0alias=crypto-crcx\\0"), ("later", "depends=\\0"),
            ("solo", "depends=\\0softdep=pre: crypto-nothing\\0"),
        ]
        for (name, info) in modules {
            let c = try dir.write("\(name).c", "static const char m[] __attribute__((section(\".modinfo\"), used)) = \"license=GPL\\0\(info)name=\(name)\";\n")
            let r = try run("cc", ["-c", "-o", "\(root)/kernel/\(name).ko", c])
            try #require(r.status == 0, "cc: \(r.err)")
        }
        _ = try dir.write("lib/modules/6.1.0-test/modules.order", modules.map { "kernel/\($0.0).ko\n" }.joined())
        let t = try KernelModuleTree.load(dir.path)
        #expect(try t.loadOrder(["fs4"]).order == ["kernel/mbc.ko", "kernel/crcx_generic.ko", "kernel/fs4.ko"])
        #expect(try t.loadOrder(["solo"]).order == ["kernel/solo.ko"])
        // depmod's files: the soft dependency from modules.softdep.
        _ = try dir.write("lib/modules/6.1.0-test/modules.dep", "kernel/fs4.ko: kernel/mbc.ko\nkernel/mbc.ko:\nkernel/crcx_generic.ko:\nkernel/later.ko:\nkernel/solo.ko:\n")
        _ = try dir.write("lib/modules/6.1.0-test/modules.softdep", "# Soft dependencies extracted from modules themselves.\nsoftdep fs4 pre: crypto-crcx post: later\n")
        let d = try KernelModuleTree.load(dir.path)
        #expect(try d.loadOrder(["fs4"]).order == ["kernel/mbc.ko", "kernel/crcx_generic.ko", "kernel/fs4.ko"])
    }

    // MARK: - The archive

    func builder(_ dir: TempDir, machine: UInt8 = 62) throws -> NFSRootInitramfs {
        NFSRootInitramfs(busybox: try #require(which("busybox")), modules: try tree(dir, machine: machine), extraModules: ["net"])
    }

    @Test("the cpio: /init, the udhcpc script, /dev/console, busybox with its applets, the modules in load order; the same bytes twice")
    func archive() throws {
        guard toolsAvailable("busybox", "cpio", "bsdtar") else { return }
        let dir = try TempDir()
        let b = try builder(dir)
        let path = dir.file("initramfs.cpio")
        let r = try b.write(to: path, compression: .none, sourceDateEpoch: 1_700_000_000)
        #expect(r.release == "6.1.0-test")
        #expect(r.modules == ["kernel/net/core.ko", "kernel/net/nfs.ko", "kernel/net/nfsv3.ko", "kernel/net/ring.ko", "kernel/net/net.ko"])
        #expect(r.notes.contains { $0.contains("virtio_pci") && $0.contains("built into the kernel") }, "\(r.notes)")
        #expect(r.notes.contains { $0.contains("left out: virtio_mmio, virtio_net, nfsv4") }, "\(r.notes)")
        let list = try run("cpio", ["-itv", "--quiet", "-F", path])
        try #require(list.status == 0, "\(list.err)")
        let lines = list.out.split(separator: "\n").map(String.init)
        // Names as the archive holds them: ./init, ./bin/sh …
        func line(_ name: String) -> String? { lines.first { $0.hasSuffix(" ./\(name)") || $0.contains(" ./\(name) -> ") } }
        #expect(line("init")?.hasPrefix("-rwxr-xr-x   1 root     root") == true, "\(line("init") ?? "no init")")
        #expect(line("etc/udhcpc.script")?.hasPrefix("-rwxr-xr-x") == true)
        let console = line("dev/console") ?? "no dev/console"
        #expect(console.hasPrefix("crw-------") && console.contains("root") && console.contains(" 5,   1 "), "\(console)")
        #expect(line("bin/busybox")?.hasPrefix("-rwxr-xr-x") == true)
        for applet in ["bin/sh", "sbin/switch_root", "sbin/insmod", "sbin/udhcpc", "bin/mount", "sbin/ifconfig", "sbin/poweroff", "usr/bin/timeout"] {
            #expect(line(applet)?.hasPrefix("lrwxrwxrwx") == true, "\(applet): \(line(applet) ?? "missing")")
        }
        for m in r.modules { #expect(line("lib/modules/6.1.0-test/\(m)") != nil, "\(m) missing") }
        #expect(line("lib/modules/6.1.0-test/kernel/net/other.ko") == nil)
        for d in ["proc", "sys", "dev", "run", "newroot"] { #expect(line(d)?.hasPrefix("drwxr-xr-x") == true, "\(d)") }
        // bsdtar reads the same archive, with the times clamped to SOURCE_DATE_EPOCH.
        let t = try run("bsdtar", ["-tvf", path])
        #expect(t.status == 0 && t.out.contains("init"), "\(t.err)")
        #expect(!t.out.contains("2024") && t.out.contains("Nov 14  2023"), "\(t.out.prefix(400))")
        // /init loads the modules in that order.
        let initText = try run("cpio", ["-i", "--to-stdout", "--quiet", "-F", path, "./init"]).out
        #expect(initText.contains("modules=\"\(r.modules.joined(separator: " "))\""))
        // Reproducible: the same inputs, the same bytes (gzip too).
        let again = dir.file("again.cpio")
        _ = try b.write(to: again, compression: .none, sourceDateEpoch: 1_700_000_000)
        #expect(try readBytes(path) == readBytes(again))
        _ = try b.write(to: dir.file("a.gz"), sourceDateEpoch: 1_700_000_000)
        _ = try b.write(to: dir.file("b.gz"), sourceDateEpoch: 1_700_000_000)
        #expect(try readBytes(dir.file("a.gz")) == readBytes(dir.file("b.gz")))
    }

    @Test("modules of another architecture are refused, naming the module and both architectures")
    func architectureMismatch() throws {
        guard toolsAvailable("busybox") else { return }
        let dir = try TempDir()
        let b = try builder(dir, machine: 183)
        do {
            _ = try b.write(to: dir.file("x.cpio"), compression: .none, sourceDateEpoch: 0)
            Issue.record("an aarch64 module was taken into an x86_64 initramfs")
        } catch {
            #expect("\(error)".contains("kernel module: ") && "\(error)".contains("aarch64") && "\(error)".contains("x86_64"), "\(error)")
        }
    }

    @Test("a kernel without the NFS client is refused")
    func noNFS() throws {
        guard toolsAvailable("busybox") else { return }
        let dir = try TempDir()
        let root = try tree(dir)
        _ = try dir.write("lib/modules/6.1.0-test/modules.dep", "kernel/net/net.ko:\n")
        let b = NFSRootInitramfs(busybox: try #require(which("busybox")), modules: root)
        do {
            _ = try b.write(to: dir.file("x.cpio"), compression: .none, sourceDateEpoch: 0)
            Issue.record("no error for a kernel without nfs")
        } catch {
            #expect("\(error)".contains("expected the NFS client (module nfs, CONFIG_NFS_FS)"), "\(error)")
        }
    }
}

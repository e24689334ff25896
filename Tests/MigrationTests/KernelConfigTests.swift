import Foundation
import Testing
import TestSupport
@testable import Migration

/// `kconfig check` against the config-* of Debian's amd64 and arm64 kernel packages, their gzip'd
/// form (/proc/config.gz), the packages themselves, and a config with options removed.
@Suite struct KernelConfigTests {
    static func debianConfig(_ arch: String) throws -> String {
        let k = arch == "amd64" ? try DebianArtifacts.amd64Kernel() : try DebianArtifacts.arm64Kernel()
        let boot = k.root + "/boot"
        let name = try #require(try FileManager.default.contentsOfDirectory(atPath: boot).first { $0.hasPrefix("config-") })
        return "\(boot)/\(name)"
    }

    static func available() -> Bool { toolsAvailable("apt-get", "dpkg") && filesAvailable(flashsmithPath) }

    @Test func debianAmd64HasWhatCriuNeeds() throws {
        guard Self.available() else { return }
        let path = try Self.debianConfig("amd64")
        let check = KernelCheck(try KernelConfig.load(path), features: [.criu])
        #expect(check.config.architecture == "x86_64")
        #expect(check.failures.isEmpty, "\(check.failures.map(\.requirement.option))")
        // Debian builds the sock_diag bits and tun as modules: they must be loaded first.
        for m in ["tun", "unix_diag", "inet_diag", "tcp_diag", "udp_diag", "af_packet_diag", "netlink_diag"] { #expect(check.modules.contains(m), "\(m)") }
        #expect(check.rows.first { $0.requirement.option == "CONFIG_MEM_SOFT_DIRTY" }?.state == .ok)
        let r = try flashsmith("kconfig", "check", "--for", "criu", path)
        #expect(r.status == 0, "\(r.out)\(r.err)")
        #expect(r.out.contains("load first: modprobe -a") && r.out.contains("every required option is there"), "\(r.out)")
    }

    @Test func debianArm64HasNoSoftDirty() throws {
        guard Self.available() else { return }
        let path = try Self.debianConfig("arm64")
        let check = KernelCheck(try KernelConfig.load(path), features: [.criu])
        #expect(check.config.architecture == "arm64")
        #expect(check.failures.isEmpty)
        let softDirty = try #require(check.rows.first { $0.requirement.option == "CONFIG_MEM_SOFT_DIRTY" })
        #expect(softDirty.state == .notOnArchitecture)
        #expect(check.rows.first { $0.requirement.option == "CONFIG_USERFAULTFD" }?.state == .ok)
        let r = try flashsmith("kconfig", "check", "--for", "criu", path, "--json")
        #expect(r.status == 0)
        #expect(r.out.contains("\"not-on-architecture\"") && r.out.contains("lazy pages"), "\(r.out)")
    }

    /// Debian's kernels mount no NFS root by themselves (NFS is a module, no IP_PNP): said, and fixed by the fragment.
    @Test func nfsrootOnDebianNeedsBuiltInNFS() throws {
        guard Self.available() else { return }
        let path = try Self.debianConfig("amd64")
        let check = KernelCheck(try KernelConfig.load(path), features: [.nfsroot, .ubifs, .devtmpfs])
        let states = Dictionary(uniqueKeysWithValues: check.rows.map { ($0.requirement.option, $0.state) })
        #expect(states["CONFIG_NFS_FS"] == .mustBeBuiltIn)
        #expect(states["CONFIG_IP_PNP"] == .missing && states["CONFIG_ROOT_NFS"] == .missing)
        #expect(states["CONFIG_UBIFS_FS"] == .module && states["CONFIG_DEVTMPFS"] == .ok)
        let f = check.fragment(recommended: false)
        #expect(f.contains("CONFIG_NFS_FS=y\n") && f.contains("CONFIG_IP_PNP=y\n") && f.contains("CONFIG_ROOT_NFS=y\n"), "\(f)")
        let r = try flashsmith("kconfig", "check", "--for", "nfsroot,devtmpfs", path)
        #expect(r.status == 1 && r.out.contains("missing: CONFIG_NFS_FS"), "\(r.out)")
    }

    /// Options removed from a real config: reported missing (exit 1); the fragment, appended, makes it pass.
    @Test func removedOptionsAreReportedAndTheFragmentFixesThem() throws {
        guard Self.available() else { return }
        let dir = try TempDir()
        let text = try String(contentsOfFile: try Self.debianConfig("amd64"), encoding: .utf8)
        let removed = ["CONFIG_CHECKPOINT_RESTORE", "CONFIG_UNIX_DIAG", "CONFIG_TUN", "CONFIG_MEM_SOFT_DIRTY"]
        let cut = text.split(separator: "\n", omittingEmptySubsequences: false).map { line -> String in
            for o in removed where line.hasPrefix("\(o)=") { return "# \(o) is not set" }
            return String(line)
        }.joined(separator: "\n")
        let path = try dir.write("config", cut)
        let r = try flashsmith("kconfig", "check", "--for", "criu", path)
        #expect(r.status == 1)
        #expect(r.out.contains("missing: CONFIG_CHECKPOINT_RESTORE CONFIG_UNIX_DIAG CONFIG_TUN"), "\(r.out)")
        #expect(!r.out.contains("missing: CONFIG_CHECKPOINT_RESTORE CONFIG_UNIX_DIAG CONFIG_TUN CONFIG_MEM_SOFT_DIRTY"), "soft-dirty is only recommended")
        let f = try flashsmith("kconfig", "check", "--for", "criu", path, "--fragment", "--recommended")
        #expect(f.status == 0)
        #expect(f.out.contains("CONFIG_CHECKPOINT_RESTORE=y\n") && f.out.contains("CONFIG_UNIX_DIAG=m\n") && f.out.contains("CONFIG_TUN=m\n") && f.out.contains("CONFIG_MEM_SOFT_DIRTY=y\n"), "\(f.out)")
        let fixed = try dir.write("fixed", cut + "\n" + f.out)
        #expect(try flashsmith("kconfig", "check", "--for", "criu", fixed).status == 0)
        // The same config gzip'd, as /proc/config.gz is.
        if toolsAvailable("gzip") {
            _ = try run(try #require(which("gzip")), ["-k", path])
            let g = try flashsmith("kconfig", "check", "--for", "criu", path + ".gz")
            #expect(g.status == 1 && g.out.contains("missing: CONFIG_CHECKPOINT_RESTORE"), "\(g.out)\(g.err)")
        }
    }

    @Test func theKernelPackageItself() throws {
        guard Self.available() else { return }
        let k = try DebianArtifacts.amd64Kernel()
        let deb = try DebianArtifacts.debs([k.package], architecture: "amd64")[0]
        let r = try flashsmith("kconfig", "check", "--for", "criu", deb)
        #expect(r.status == 0 && r.out.contains("(boot/config-"), "\(r.out)\(r.err)")
    }

    @Test func badInputs() throws {
        guard filesAvailable(flashsmithPath) else { return }
        let dir = try TempDir()
        let notConfig = try dir.write("x", "hello\n")
        let r = try flashsmith("kconfig", "check", notConfig)
        #expect(r.status == 65 && r.err.contains("expected CONFIG_"), "\(r.err)")
        #expect(try flashsmith("kconfig", "check", "--for", "wifi", notConfig).status == 64)
    }
}

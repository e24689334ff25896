import Foundation
import Testing
import TestSupport

/// `rootfs nfsroot --hostname H` writes the tree's /etc/hostname (and checks H: it goes into ip=),
/// and an export to every host with no_root_squash (`--client dhcp`) is said in one warning line
/// with the subnet to put instead.
@Suite struct RootFSNFSRootCLITests {
    @Test func hostnameIsWrittenIntoTheTree() throws {
        guard filesAvailable(flashsmithPath) else { return }
        let dir = try TempDir()
        let r = try flashsmith("rootfs", "nfsroot", "--skeleton", "base", "-o", dir.file("nfs"), "--server", "10.0.0.1", "--client", "10.0.0.9", "--hostname", "bench-7")
        #expect(r.status == 0, "\(r.err)")
        #expect(try String(contentsOfFile: dir.file("nfs/etc/hostname"), encoding: .utf8) == "bench-7\n")
        #expect(r.out.contains("ip=10.0.0.9:10.0.0.1::255.255.255.0:bench-7::off"), "\(r.out)")
        #expect(r.out.contains("  hostname=bench-7\n"), "\(r.out)")
        #expect(!r.err.contains("warning"), "a static client's export names it: \(r.err)")
        // Without --hostname the tree's own file is left as the layers made it.
        let plain = try flashsmith("rootfs", "nfsroot", "--skeleton", "base", "-o", dir.file("plain"), "--server", "10.0.0.1", "--client", "10.0.0.9")
        #expect(plain.status == 0, "\(plain.err)")
        #expect(try String(contentsOfFile: dir.file("plain/etc/hostname"), encoding: .utf8) == "flashsmith\n", "the base skeleton's own")
        #expect(plain.out.contains(":flashsmith::off"), "ip= keeps its default host name: \(plain.out)")
    }

    @Test(arguments: [
        ("bad:name", "expected letters, digits and '-', found ':'"),
        ("a b", "expected letters, digits and '-', found ' '"),
        ("-lead", "a label cannot start or end with '-' ('-lead')"),
        ("x..y", "expected labels of 1 to 63 characters between the dots, found ''"),
        (String(repeating: "a", count: 64), "expected labels of 1 to 63 characters between the dots"),
        (String(repeating: "a.", count: 127) + "a", "expected 1 to 253 characters, found 255"),
    ])
    func badHostnamesAreRefused(name: String, expected: String) throws {
        guard filesAvailable(flashsmithPath) else { return }
        let dir = try TempDir()
        let r = try flashsmith("rootfs", "nfsroot", "--skeleton", "base", "-o", dir.file("nfs"), "--server", "10.0.0.1", "--hostname=\(name)")
        #expect(r.status == 64, "\(r.err)")
        #expect(r.err.contains("--hostname '\(name)': \(expected)"), "\(r.err)")
        #expect(!FileManager.default.fileExists(atPath: dir.file("nfs")))
    }

    @Test(arguments: [
        ("192.168.1.10", "255.255.255.0", "192.168.1.0/24"),
        ("10.1.2.3", "255.255.0.0", "10.1.0.0/16"),
        ("10.1.2.3", "255.0.255.0", "your LAN's subnet"),
    ])
    func dhcpExportToEveryoneIsWarnedAbout(server: String, netmask: String, subnet: String) throws {
        guard filesAvailable(flashsmithPath) else { return }
        let dir = try TempDir()
        let r = try flashsmith("rootfs", "nfsroot", "--skeleton", "base", "-o", dir.file("nfs"), "--server", server, "--netmask", netmask, "--client", "dhcp")
        #expect(r.status == 0, "\(r.err)")
        #expect(r.out.contains(" *(rw,sync,no_root_squash,no_subtree_check)"), "\(r.out)")
        let warnings = r.err.split(separator: "\n").filter { $0.hasPrefix("flashsmith: warning: ") }
        #expect(warnings.count == 1, "\(r.err)")
        #expect(warnings.first?.contains("to every host (*) with no_root_squash") == true, "\(r.err)")
        #expect(warnings.first?.hasSuffix("put the board's subnet instead of *, e.g. \(subnet)") == true, "\(r.err)")
    }
}

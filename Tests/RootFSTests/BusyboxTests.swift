import Foundation
import Testing
import TestSupport
@testable import RootFS

/// Applets read from the binary: Debian's busybox-static for amd64 (checked against its own
/// `--list-full`) and for arm64 (fetched as a package, never run; the same version must give the
/// same list).
@Suite struct BusyboxTests {
    @Test func amd64MatchesListFull() throws {
        guard toolsAvailable("busybox"), filesAvailable("/bin/busybox") else { return }
        let full = try run("/bin/busybox", ["--list-full"]).out.split(separator: "\n").map { "/" + $0 }
        let ours = try BusyboxApplets.read("/bin/busybox")
        #expect(ours.map(\.path) == full)
        #expect(ours.count > 200)
        let cli = try flashsmith("rootfs", "applets", "/bin/busybox")
        #expect(cli.out.split(separator: "\n").map { "/" + $0 } == full)
    }

    @Test func arm64ReadWithoutRunning() throws {
        guard toolsAvailable("apt-get", "dpkg", "busybox"), filesAvailable("/bin/busybox") else { return }
        let arm64 = try DebianArtifacts.busybox(architecture: "arm64")
        let ours = try BusyboxApplets.read(arm64)
        #expect(ours.count > 200)
        #expect(ours.contains(BusyboxApplets.Applet(name: "modprobe", path: "/sbin/modprobe")))
        #expect(ours.contains(BusyboxApplets.Applet(name: "sh", path: "/bin/sh")))
        // When both binaries are the same busybox version, they must list the same applets in the same places.
        func version(_ bytes: [UInt8]) -> String? {
            guard let r = bytes.firstRange(of: Array("BusyBox v".utf8)) else { return nil }
            return String(decoding: bytes[r.upperBound...].prefix { $0 != 0 && $0 != UInt8(ascii: " ") }, as: UTF8.self)
        }
        let hostBytes = try readBytes("/bin/busybox"), armBytes = try readBytes(arm64)
        let hv = version(hostBytes), av = version(armBytes)
        #expect(av != nil)
        if let hv, hv == av {
            #expect(ours == (try BusyboxApplets.read("/bin/busybox")))
        } else {
            print("NOTE: host busybox \(hv ?? "?") and arm64 \(av ?? "?") differ: lists not compared")
        }
    }

    @Test func notBusyboxIsAClearError() throws {
        let dir = try TempDir()
        let f = try dir.write("x", [UInt8](repeating: 0x41, count: 1000))
        #expect(throws: ELFError.self) { try BusyboxApplets.read(f) }
    }
}

import Board
import Foundation
import Testing
import TestSupport

/// `network:` and `boot:` in board.yaml: addresses checked as U-Boot and the kernel will use them,
/// each mistake one line naming the file, the line and what was expected (the nearest key or value).
@Suite struct BoardNetworkParseTests {
    static let nor = "flash: {type: nor, base: 0x4000000, erase-block: 256KiB, chip: 64MiB}\npartitions:\n  - {name: a, size: rest}\n"
    static let qemu = "qemu: {system: qemu-system-aarch64, machine: virt}\n"

    static func load(_ yaml: String) throws -> BoardLayout {
        let dir = try TempDir()
        return try BoardLayout.load(try dir.write("board.yaml", yaml))
    }

    static let goodCases: [(String, BootMethod, String)] = [
        // No network: a QEMU board gets QEMU's user network; any other board asks DHCP.
        ("name: t\n" + qemu + nor, .flash, "client 10.0.2.15/24, server 10.0.2.2, gateway 10.0.2.2 (QEMU's user network (no network: given))"),
        ("name: t\nboot: tftp\n" + qemu + nor, .tftp, "client 10.0.2.15/24, server 10.0.2.2, gateway 10.0.2.2 (QEMU's user network (no network: given))"),
        ("name: t\n" + nor, .flash, "client dhcp, server from the DHCP reply (DHCP (no network: given))"),
        ("name: t\nboot: flash\n" + nor, .flash, "client dhcp, server from the DHCP reply (DHCP (no network: given))"),
        ("name: t\nboot: nfs\nnetwork: {server: 192.168.1.10, client: 192.168.1.50}\n" + nor, .nfs, "client 192.168.1.50/24, server 192.168.1.10 (network:)"),
        ("name: t\nboot: tftp\nnetwork: {server: 192.168.1.10, client: dhcp}\n" + nor, .tftp, "client dhcp, server 192.168.1.10 (network:)"),
        ("name: t\nnetwork:\n  server: 10.1.2.3\n  client: 10.1.200.4\n  netmask: 255.255.0.0\n  gateway: 10.1.0.1\n" + nor, .flash, "client 10.1.200.4/16, server 10.1.2.3, gateway 10.1.0.1 (network:)"),
        // A server outside the subnet is reached through the gateway.
        ("name: t\nnetwork: {server: 172.16.0.5, client: 192.168.1.50, gateway: 192.168.1.1}\n" + nor, .flash, "client 192.168.1.50/24, server 172.16.0.5, gateway 192.168.1.1 (network:)"),
        ("name: t\nnetwork: {server: '192.168.1.10', client: \"192.168.1.50\", netmask: 255.255.255.128}\n" + nor, .flash, "client 192.168.1.50/25, server 192.168.1.10 (network:)"),
    ]

    @Test(arguments: goodCases)
    func goodNetworks(yaml: String, boot: BootMethod, summary: String) throws {
        let b = try Self.load(yaml)
        #expect(b.boot == boot)
        #expect(b.network.summary == summary)
    }

    static let badCases: [(String, String)] = [
        ("name: t\nnetwrok: {server: 10.0.0.1, client: dhcp}\n" + nor, "2: unknown key 'netwrok' in the board; did you mean 'network'?"),
        ("name: t\nbot: tftp\n" + nor, "2: unknown key 'bot' in the board; did you mean 'boot'?"),
        ("name: t\nnetwork:\n  server: 10.0.0.1\n  clinet: 10.0.0.2\n" + nor, "4: unknown key 'clinet' in network:; did you mean 'client'?"),
        ("name: t\nnetwork:\n  sever: 10.0.0.1\n  client: 10.0.0.2\n" + nor, "3: unknown key 'sever' in network:; did you mean 'server'?"),
        ("name: t\nnetwork:\n  server: 10.0.0.1\n  client: 10.0.0.2\n  getway: 10.0.0.254\n" + nor, "5: unknown key 'getway' in network:; did you mean 'gateway'?"),
        ("name: t\nnetwork:\n  server: 10.0.0.1\n  client: 10.0.0.2\n  netmsk: 255.0.0.0\n" + nor, "5: unknown key 'netmsk' in network:; did you mean 'netmask'?"),
        ("name: t\nnetwork:\n  server: 10.0.0.1\n  client: 10.0.0.2\n  dns: 10.0.0.1\n" + nor, "5: unknown key 'dns' in network:; expected one of: server, client, netmask, gateway"),
        ("name: t\nboot: tfpt\n" + qemu + nor, "2: boot: expected flash, tftp or nfs, found 'tfpt'; did you mean 'tftp'?"),
        ("name: t\nboot: usb\n" + qemu + nor, "2: boot: expected flash, tftp or nfs, found 'usb'"),
        ("name: t\nboot: [tftp]\n" + qemu + nor, "2: boot: expected flash, tftp or nfs, found a list"),
        // boot: over the network without network: on a board QEMU does not run.
        ("name: t\nboot: tftp\n" + nor, "2: boot: tftp needs network: (server: the TFTP server's address, client: the board's or dhcp); only a board with qemu: gets QEMU's user network by default"),
        ("name: t\nboot: nfs\n" + nor, "2: boot: nfs needs network: (server: the TFTP/NFS server's address"),
        ("name: t\nnetwork: 10.0.0.1\n" + nor, "2: network:: expected a mapping (server, client, netmask, gateway), found '10.0.0.1'"),
        ("name: t\nnetwork:\n  client: 10.0.0.2\n" + nor, "3: network: server: (the TFTP/NFS server's address, as the board reaches it) is missing"),
        ("name: t\nnetwork:\n  server: 10.0.0.1\n" + nor, "3: network: client: (the board's address, or dhcp) is missing"),
        ("name: t\nnetwork:\n  server: 10.0.0.256\n  client: dhcp\n" + nor, "3: network: server: expected an IPv4 address (four numbers 0…255, e.g. 192.168.1.10), found '10.0.0.256'"),
        ("name: t\nnetwork:\n  server: 10.0.0.1\n  client: 10.0.1\n" + nor, "4: network: client: expected an IPv4 address (four numbers 0…255, e.g. 192.168.1.10), found '10.0.1'"),
        ("name: t\nnetwork:\n  server: 10.0.0.1\n  client: 10.0.0.02\n" + nor, "4: network: client: expected an IPv4 address (four numbers 0…255, e.g. 192.168.1.10), found '10.0.0.02'"),
        ("name: t\nnetwork:\n  server: 10.0.0.1\n  client: dhcpp\n" + nor, "4: network: client: expected an IPv4 address (four numbers 0…255, e.g. 192.168.1.10), found 'dhcpp'"),
        ("name: t\nnetwork:\n  server: [10.0.0.1]\n  client: dhcp\n" + nor, "3: network: server: expected an IPv4 address (192.168.1.10), found a list"),
        ("name: t\nnetwork:\n  server: 127.0.0.1\n  client: dhcp\n" + nor, "3: network: server: 127.0.0.1 is a loopback address (the board's own)"),
        ("name: t\nnetwork:\n  server: 0.0.0.0\n  client: dhcp\n" + nor, "3: network: server: 0.0.0.0 is no host's address"),
        ("name: t\nnetwork:\n  server: 10.0.0.1\n  client: 239.1.1.1\n" + nor, "4: network: client: 239.1.1.1 is a multicast address"),
        ("name: t\nnetwork:\n  server: 255.255.255.255\n  client: dhcp\n" + nor, "3: network: server: 255.255.255.255 is a reserved or broadcast address"),
        ("name: t\nnetwork:\n  server: 10.0.0.1\n  client: 10.0.0.2\n  netmask: 255.0.255.0\n" + nor, "5: network: netmask: 255.0.255.0 is not contiguous (expected ones then zeros, e.g. 255.255.255.0)"),
        ("name: t\nnetwork:\n  server: 10.0.0.1\n  client: 10.0.0.2\n  netmask: 255.255.255.255\n" + nor, "5: network: netmask: expected a prefix of 8 to 30 bits, found 255.255.255.255 (/32)"),
        ("name: t\nnetwork:\n  server: 10.0.0.1\n  client: 10.0.0.2\n  netmask: 0.0.0.0\n" + nor, "5: network: netmask: expected a prefix of 8 to 30 bits, found 0.0.0.0 (/0)"),
        ("name: t\nnetwork:\n  server: 192.168.2.1\n  client: 192.168.1.50\n" + nor,
         "3: network: server 192.168.2.1 is outside the client's subnet 192.168.1.0/24 (client 192.168.1.50, netmask 255.255.255.0); give a netmask that holds both, or a gateway:"),
        ("name: t\nnetwork:\n  server: 192.168.1.10\n  client: 192.168.1.50\n  netmask: 255.255.255.252\n" + nor,
         "5: network: server 192.168.1.10 is outside the client's subnet 192.168.1.48/30 (client 192.168.1.50, netmask 255.255.255.252); give a netmask that holds both, or a gateway:"),
        ("name: t\nnetwork:\n  server: 192.168.1.10\n  client: 192.168.1.255\n" + nor, "4: network: client: 192.168.1.255 is the broadcast address of 192.168.1.0/24"),
        ("name: t\nnetwork:\n  server: 192.168.1.10\n  client: 192.168.1.0\n" + nor, "4: network: client: 192.168.1.0 is the network address of 192.168.1.0/24"),
        ("name: t\nnetwork:\n  server: 192.168.1.10\n  client: 192.168.1.10\n" + nor, "4: network: client: 192.168.1.10 is also the server's address"),
        ("name: t\nnetwork:\n  server: 192.168.1.10\n  client: 192.168.1.50\n  gateway: 192.168.7.1\n" + nor, "5: network: gateway: 192.168.7.1 is outside the client's subnet 192.168.1.0/24"),
        ("name: t\nnetwork:\n  server: 192.168.1.10\n  client: 192.168.1.50\n  gateway: 192.168.1.50\n" + nor, "5: network: gateway: 192.168.1.50 is the client's own address"),
        ("name: t\nnetwork:\n  server: 192.168.1.10\n  client: dhcp\n  netmask: 255.255.255.0\n" + nor,
         "5: network: netmask: a dhcp client gets its netmask from the DHCP server; give client: an address, or leave netmask: out"),
        ("name: t\nnetwork:\n  server: 192.168.1.10\n  client: dhcp\n  gateway: 192.168.1.1\n" + nor,
         "5: network: gateway: a dhcp client gets its gateway from the DHCP server; give client: an address, or leave gateway: out"),
    ]

    @Test(arguments: badCases)
    func badNetworks(yaml: String, expected: String) throws {
        try BoardStrictTests.expectRefused(yaml, expected)
    }

    @Test(arguments: [
        ("1.2.3.4", UInt32(0x0102_0304)), ("255.255.255.0", 0xFFFF_FF00), ("0.0.0.0", 0),
    ])
    func addressesRoundTrip(text: String, value: UInt32) {
        #expect(IPv4Address(text)?.value == value)
        #expect(IPv4Address(value).description == text)
    }

    @Test(arguments: ["", "1.2.3", "1.2.3.4.5", "1..3.4", "256.1.1.1", "01.2.3.4", "1.2.3.-4", "1.2.3.4 ", "١.2.3.4", "+1.2.3.4", "1.2.3.0x4"])
    func badAddresses(text: String) {
        #expect(IPv4Address(text) == nil)
    }

    @Test(arguments: [("255.255.255.0", 24), ("255.255.255.255", 32), ("0.0.0.0", 0), ("255.128.0.0", 9)] as [(String, Int)])
    func prefixLengths(mask: String, length: Int) {
        #expect(IPv4Address(mask)?.prefixLength == length)
    }

    @Test func nonContiguousMasksHaveNoPrefix() {
        #expect(IPv4Address("255.0.255.0")?.prefixLength == nil)
        #expect(IPv4Address("0.255.255.255")?.prefixLength == nil)
    }

    /// The shipped default board boots from flash and, having qemu:, QEMU's user network.
    @Test func theDefaultBoardBootsFromFlash() throws {
        let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
        let b = try BoardLayout.load("\(repo)/layouts/qemu-arm64", sysroot: "/nonexistent")
        #expect(b.boot == .flash)
        #expect(b.network == .qemuUser)
    }
}

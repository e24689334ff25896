import FlashsmithCore
import YAML

/// How U-Boot boots the board (`boot:` in board.yaml): from its own flash (the default), its kernel
/// image fetched over TFTP, or that and its root filesystem over NFS. The derived environment holds
/// a command for each (`flashboot`, `netboot`, `nfsboot`); `bootcmd` runs the chosen one.
public enum BootMethod: String, Sendable, CaseIterable, Equatable {
    case flash, tftp, nfs

    /// The derived environment's variable that boots this way.
    public var command: String {
        switch self {
        case .flash: return "flashboot"
        case .tftp: return "netboot"
        case .nfs: return "nfsboot"
        }
    }

    /// Whether the boot needs the network (and so QEMU a NIC).
    public var usesNetwork: Bool { self != .flash }
}

/// An IPv4 address as U-Boot and the kernel's `ip=` read it: four decimal parts 0…255, no leading
/// zeros (`010` is octal to inet_aton and decimal to people: refused rather than guessed).
public struct IPv4Address: Sendable, Equatable, Hashable, CustomStringConvertible {
    public var value: UInt32

    public init(_ value: UInt32) { self.value = value }

    public init?(_ text: String) {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var v: UInt32 = 0
        for p in parts {
            guard (1...3).contains(p.count), p.allSatisfy({ $0.isASCII && $0.isNumber }), p == "0" || !p.hasPrefix("0"), let b = UInt8(p) else { return nil }
            v = v << 8 | UInt32(b)
        }
        value = v
    }

    public var description: String { [24, 16, 8, 0].map { String((value >> UInt32($0)) & 0xFF) }.joined(separator: ".") }

    /// The prefix length of a netmask (ones, then zeros), else nil.
    public var prefixLength: Int? {
        let ones = (~value).leadingZeroBitCount
        guard ones == 32 || value << UInt32(ones) == 0 else { return nil }
        return ones
    }
}

/// The board's network (`network:` in board.yaml): the TFTP/NFS server as the board reaches it, the
/// board's own address (or `dhcp`), netmask and gateway. Checked when read: IPv4 addresses, a
/// contiguous netmask, a client that is neither the subnet's network nor its broadcast address, the
/// server in the client's subnet (or reached through a gateway that is), the gateway in the subnet.
/// ```yaml
/// boot: tftp                # flash (default) | tftp | nfs
/// network:
///   server: 192.168.1.10    # TFTP (and NFS) server
///   client: 192.168.1.50    # or dhcp
///   netmask: 255.255.255.0  # default for a static client
///   gateway: 192.168.1.1    # optional
/// ```
/// A board with `qemu:` and no `network:` gets QEMU's user network (``qemuUser``); any other board
/// without `network:` has network commands that ask DHCP for everything, and cannot choose
/// `boot: tftp` or `nfs` (it must say where its server is).
public struct BoardNetwork: Sendable, Equatable {
    public enum Client: Sendable, Equatable {
        case dhcp
        case address(IPv4Address)
    }

    /// nil: the DHCP server's reply names the server (no `network:` on a board without `qemu:`).
    public var server: IPv4Address?
    public var client: Client
    /// For a static client (a DHCP client gets its own).
    public var netmask: IPv4Address?
    public var gateway: IPv4Address?
    /// Where the values come from, for the report ("network:", "QEMU's user network", "DHCP").
    public var origin: String

    public init(server: IPv4Address?, client: Client, netmask: IPv4Address? = nil, gateway: IPv4Address? = nil, origin: String = "network:") {
        self.server = server
        self.client = client
        self.netmask = netmask
        self.gateway = gateway
        self.origin = origin
    }

    public static let keys = ["server", "client", "netmask", "gateway"]
    /// A static client's netmask when `netmask:` is not given.
    public static let defaultNetmask = IPv4Address(0xFFFF_FF00)

    /// QEMU's user network (`-netdev user`): its gateway, DNS and TFTP/host side answer at 10.0.2.2,
    /// its DHCP hands out 10.0.2.15 first, in 10.0.2.0/24.
    public static let qemuUser = BoardNetwork(
        server: IPv4Address(0x0A00_0202), client: .address(IPv4Address(0x0A00_020F)), netmask: defaultNetmask, gateway: IPv4Address(0x0A00_0202),
        origin: "QEMU's user network (no network: given)")

    /// Everything from DHCP (a board without `qemu:` and without `network:`).
    public static let dhcpOnly = BoardNetwork(server: nil, client: .dhcp, origin: "DHCP (no network: given)")

    /// The NFS root's path on the server (`nfsroot=${serverip}:PATH`): `flashsmith build` writes the
    /// tree into OUT/nfsroot and the server it starts exports it under this path.
    public static let nfsRootPath = "/nfsroot"

    public var isDHCP: Bool { client == .dhcp }

    /// `client 10.0.2.15/24, server 10.0.2.2, gateway 10.0.2.2 (network:)`.
    public var summary: String {
        var s: String
        switch client {
        case .dhcp: s = "client dhcp"
        case let .address(a): s = "client \(a)/\(netmask?.prefixLength ?? 32)"
        }
        s += ", server \(server.map { "\($0)" } ?? "from the DHCP reply")"
        if let gateway { s += ", gateway \(gateway)" }
        return s + " (\(origin))"
    }

    /// `network:` as board.yaml writes it; every problem is `FILE:LINE: network: …`.
    static func parse(_ n: YAMLNode, source: String) throws -> BoardNetwork {
        func fail(_ node: YAMLNode, _ m: String) -> BoardLayout.Failure { BoardLayout.Failure(message: "\(source):\(node.line): network: \(m)") }
        try n.strictMapping(keys, in: "network:", source: source)
        func address(_ key: String) throws -> (IPv4Address, YAMLNode)? {
            guard let v = n[key] else { return nil }
            guard let s = v.string else { throw fail(v, "\(key): expected an IPv4 address (192.168.1.10), found \(v.kind)") }
            guard let a = IPv4Address(s) else { throw fail(v, "\(key): expected an IPv4 address (four numbers 0…255, e.g. 192.168.1.10), found '\(s)'") }
            return (a, v)
        }
        guard let (server, serverNode) = try address("server") else { throw fail(n, "server: (the TFTP/NFS server's address, as the board reaches it) is missing") }
        try usable(server, serverNode, "server", fail)
        guard let clientNode = n["client"] else { throw fail(n, "client: (the board's address, or dhcp) is missing") }
        if clientNode.string == "dhcp" {
            for key in ["netmask", "gateway"] {
                if let v = n[key] { throw fail(v, "\(key): a dhcp client gets its \(key) from the DHCP server; give client: an address, or leave \(key): out") }
            }
            return BoardNetwork(server: server, client: .dhcp)
        }
        guard let (client, _) = try address("client") else { throw fail(clientNode, "client: expected an IPv4 address or dhcp") }
        try usable(client, clientNode, "client", fail)
        var mask = defaultNetmask
        var maskNode: YAMLNode?
        if let (m, node) = try address("netmask") {
            guard let len = m.prefixLength else { throw fail(node, "netmask: \(m) is not contiguous (expected ones then zeros, e.g. 255.255.255.0)") }
            guard (8...30).contains(len) else { throw fail(node, "netmask: expected a prefix of 8 to 30 bits, found \(m) (/\(len))") }
            mask = m
            maskNode = node
        }
        let subnet = client.value & mask.value
        let width = "\(IPv4Address(subnet))/\(mask.prefixLength ?? 0)"
        guard client.value != subnet, client.value != subnet | ~mask.value else {
            throw fail(clientNode, "client: \(client) is the \(client.value == subnet ? "network" : "broadcast") address of \(width)")
        }
        guard client != server else { throw fail(clientNode, "client: \(client) is also the server's address") }
        var gateway: IPv4Address?
        if let (g, node) = try address("gateway") {
            guard g.value & mask.value == subnet, g != client else {
                throw fail(node, "gateway: \(g) is \(g == client ? "the client's own address" : "outside the client's subnet \(width)")")
            }
            gateway = g
        }
        if server.value & mask.value != subnet && gateway == nil {
            throw fail(maskNode ?? serverNode, "server \(server) is outside the client's subnet \(width) (client \(client), netmask \(mask)); give a netmask that holds both, or a gateway:")
        }
        return BoardNetwork(server: server, client: .address(client), netmask: mask, gateway: gateway)
    }

    /// An address a board can talk to: not 0.0.0.0, loopback, multicast or broadcast.
    static func usable(_ a: IPv4Address, _ n: YAMLNode, _ key: String, _ fail: (YAMLNode, String) -> BoardLayout.Failure) throws {
        let first = a.value >> 24
        let problem: String? =
            a.value == 0 ? "0.0.0.0 is no host's address"
            : first == 127 ? "\(a) is a loopback address (the board's own)"
            : (224...239).contains(first) ? "\(a) is a multicast address"
            : first >= 240 ? "\(a) is a reserved or broadcast address" : nil
        if let problem { throw fail(n, "\(key): \(problem)") }
    }

    /// `boot:`: flash, tftp or nfs (a typo named with the nearest).
    static func parseBoot(_ n: YAMLNode, source: String) throws -> BootMethod {
        guard let s = n.string, let m = BootMethod(rawValue: s) else {
            let hint = n.string.flatMap { Spelling.nearest(to: $0, among: BootMethod.allCases.map(\.rawValue)) }.map { "; did you mean '\($0)'?" } ?? ""
            throw BoardLayout.Failure(message: "\(source):\(n.line): boot: expected flash, tftp or nfs, found \(n.kind)\(hint)")
        }
        return m
    }
}

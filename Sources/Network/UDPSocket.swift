import FlashsmithCore
#if canImport(Glibc)
import Glibc
#endif

/// An IPv4 or IPv6 address and UDP port, as given on the command line (`ADDR:PORT`, `[ADDR6]:PORT`)
/// and as the kernel reports peers.
public struct SocketAddress: Equatable, Hashable, Sendable, CustomStringConvertible {
    /// The raw socket address (`sockaddr_in` or `sockaddr_in6`), `length` bytes of it.
    var storage: sockaddr_storage
    var length: socklen_t

    /// Parses `ADDR:PORT` (IPv4 dotted quad) or `[ADDR]:PORT` (IPv6). Nil when it is neither.
    public init?(_ text: String) {
        let host: Substring, port: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]"), text[text.index(after: close)...].hasPrefix(":") else { return nil }
            host = text[text.index(after: text.startIndex)..<close]
            port = text[text.index(close, offsetBy: 2)...]
        } else {
            guard let colon = text.lastIndex(of: ":") else { return nil }
            host = text[..<colon]
            guard !host.contains(":") else { return nil }  // IPv6 needs its brackets: [::1]:69
            port = text[text.index(after: colon)...]
        }
        guard port.count <= 5, port.allSatisfy({ $0.isASCII && $0.isNumber }), let p = UInt16(port) else { return nil }
        self.init(host: String(host), port: p)
    }

    /// A numeric IPv4 or IPv6 host and a port; nil when `host` is not numeric.
    public init?(host: String, port: UInt16) {
        storage = sockaddr_storage()
        var v4 = sockaddr_in()
        var v6 = sockaddr_in6()
        if inet_pton(AF_INET, host, &v4.sin_addr) == 1 {
            v4.sin_family = sa_family_t(AF_INET)
            v4.sin_port = port.bigEndian
            length = socklen_t(MemoryLayout<sockaddr_in>.size)
            withUnsafeMutableBytes(of: &storage) { $0.storeBytes(of: v4, as: sockaddr_in.self) }
        } else if inet_pton(AF_INET6, host, &v6.sin6_addr) == 1 {
            v6.sin6_family = sa_family_t(AF_INET6)
            v6.sin6_port = port.bigEndian
            length = socklen_t(MemoryLayout<sockaddr_in6>.size)
            withUnsafeMutableBytes(of: &storage) { $0.storeBytes(of: v6, as: sockaddr_in6.self) }
        } else {
            return nil
        }
    }

    init(storage: sockaddr_storage, length: socklen_t) {
        self.storage = storage
        self.length = length
    }

    public var family: Int32 { Int32(storage.ss_family) }

    public var port: UInt16 {
        withUnsafeBytes(of: storage) { raw in
            family == AF_INET6 ? UInt16(bigEndian: raw.load(as: sockaddr_in6.self).sin6_port) : UInt16(bigEndian: raw.load(as: sockaddr_in.self).sin_port)
        }
    }

    /// The numeric host (`10.0.3.2`, `::1`).
    public var host: String {
        var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
        withUnsafeBytes(of: storage) { raw in
            if family == AF_INET6 {
                var a = raw.load(as: sockaddr_in6.self).sin6_addr
                _ = inet_ntop(AF_INET6, &a, &text, socklen_t(text.count))
            } else {
                var a = raw.load(as: sockaddr_in.self).sin_addr
                _ = inet_ntop(AF_INET, &a, &text, socklen_t(text.count))
            }
        }
        return String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The same host with another port (0: an ephemeral one).
    public func with(port: UInt16) -> SocketAddress {
        SocketAddress(host: host, port: port) ?? self
    }

    public var description: String { family == AF_INET6 ? "[\(host)]:\(port)" : "\(host):\(port)" }

    public static func == (a: SocketAddress, b: SocketAddress) -> Bool {
        a.family == b.family && a.port == b.port && a.host == b.host
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(family)
        hasher.combine(port)
        hasher.combine(host)
    }
}

/// Why a socket could not be set up.
public struct SocketError: FlashsmithError {
    public let address: String
    public let operation: String
    public let code: Int32

    public var category: ErrorCategory { code == EACCES || code == EPERM || code == EADDRINUSE || code == EADDRNOTAVAIL ? .unavailable : .io }

    public var description: String {
        if code == EACCES || code == EPERM, operation == "bind", let p = SocketAddress(address)?.port, p < 1024 {
            return "cannot listen on \(address): ports below 1024 need root or CAP_NET_BIND_SERVICE; use --listen 0.0.0.0:6969 "
                + "(for clients that can choose a port) or `sudo setcap cap_net_bind_service=+ep <flashsmith>`"
        }
        return "\(operation) \(address): \(String(cString: strerror(code)))"
    }
}

/// A non-blocking UDP socket, closed on deinit.
public final class UDPSocket {
    public let fd: Int32
    public let localAddress: SocketAddress

    /// A socket bound to `address` (port 0: an ephemeral port).
    public init(binding address: SocketAddress) throws(SocketError) {
        let s = socket(address.family, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard s >= 0 else { throw SocketError(address: address.description, operation: "socket", code: errno) }
        var one: Int32 = 1
        if address.family == AF_INET6 {
            setsockopt(s, Int32(IPPROTO_IPV6), IPV6_V6ONLY, &one, socklen_t(MemoryLayout<Int32>.size))
        }
        var storage = address.storage
        let rc = withUnsafePointer(to: &storage) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(s, $0, address.length) } }
        guard rc == 0 else {
            let e = errno
            close(s)
            throw SocketError(address: address.description, operation: "bind", code: e)
        }
        var bound = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = withUnsafeMutablePointer(to: &bound) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(s, $0, &length) } }
        fd = s
        localAddress = SocketAddress(storage: bound, length: length)
    }

    deinit { close(fd) }

    /// Sends one datagram; a full send buffer or a vanished peer is not an error (TFTP resends).
    @discardableResult
    public func send(_ bytes: UnsafeRawBufferPointer, to peer: SocketAddress) -> Bool {
        var storage = peer.storage
        let n = withUnsafePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { sendto(fd, bytes.baseAddress, bytes.count, Int32(MSG_NOSIGNAL), $0, peer.length) }
        }
        return n == bytes.count
    }

    @discardableResult
    public func send(_ bytes: [UInt8], to peer: SocketAddress) -> Bool {
        bytes.withUnsafeBytes { send($0, to: peer) }
    }

    /// Whether the socket is bound to 0.0.0.0 or ::.
    public var isWildcard: Bool { localAddress.host == "0.0.0.0" || localAddress.host == "::" }

    /// IPv4 `IP_PKTINFO` (glibc's `struct in_pktinfo` is only declared with _GNU_SOURCE): option 8,
    /// the header's destination address at offset 8 of the 12-byte payload.
    static let ipPacketInfo: Int32 = 8
    static let packetInfoDestinationOffset = 8
    /// `struct cmsghdr`: `size_t len; int level; int type;`, data aligned to `size_t`.
    static let controlHeaderSize = MemoryLayout<cmsghdr>.size

    /// Asks the kernel for each IPv4 datagram's destination address (``receiveWithDestination(into:)``).
    public func enableDestinationAddresses() {
        var one: Int32 = 1
        if localAddress.family == AF_INET { setsockopt(fd, Int32(IPPROTO_IP), Self.ipPacketInfo, &one, socklen_t(MemoryLayout<Int32>.size)) }
    }

    /// As ``receive(into:)``, plus the address the datagram was sent to (IPv4 with
    /// ``enableDestinationAddresses()``; nil otherwise), so a wildcard server answers from it.
    public func receiveWithDestination(into buffer: UnsafeMutableRawBufferPointer) -> (count: Int, from: SocketAddress, to: SocketAddress?)? {
        var storage = sockaddr_storage()
        var control = [UInt64](repeating: 0, count: 8)  // 64 bytes, 8-aligned: room for one in_pktinfo
        var iov = iovec(iov_base: buffer.baseAddress, iov_len: buffer.count)
        var nameLength = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let n: Int = withUnsafeMutablePointer(to: &storage) { sp in
            withUnsafeMutablePointer(to: &iov) { ip in
                control.withUnsafeMutableBytes { cp in
                    var m = msghdr()
                    m.msg_name = UnsafeMutableRawPointer(sp)
                    m.msg_namelen = nameLength
                    m.msg_iov = ip
                    m.msg_iovlen = 1
                    m.msg_control = cp.baseAddress
                    m.msg_controllen = cp.count
                    let r = recvmsg(fd, &m, 0)
                    nameLength = m.msg_namelen
                    return r
                }
            }
        }
        guard n >= 0 else { return nil }
        let from = SocketAddress(storage: storage, length: nameLength)
        return (n, from, destination(in: control, port: localAddress.port))
    }

    /// The IPv4 destination from the first `IP_PKTINFO` control message, if any.
    func destination(in control: [UInt64], port: UInt16) -> SocketAddress? {
        control.withUnsafeBytes { raw in
            guard raw.count >= Self.controlHeaderSize + 12 else { return nil }
            let length = raw.load(as: Int.self)
            let level = raw.load(fromByteOffset: MemoryLayout<Int>.size, as: Int32.self)
            let type = raw.load(fromByteOffset: MemoryLayout<Int>.size + 4, as: Int32.self)
            guard length >= Self.controlHeaderSize + 12, level == Int32(IPPROTO_IP), type == Self.ipPacketInfo else { return nil }
            let o = Self.controlHeaderSize + Self.packetInfoDestinationOffset
            let host = "\(raw[o]).\(raw[o + 1]).\(raw[o + 2]).\(raw[o + 3])"
            return SocketAddress(host: host, port: port)
        }
    }

    /// Receives one datagram into `buffer`: its length (a longer one is cut to the buffer) and sender,
    /// or nil when none is waiting.
    public func receive(into buffer: UnsafeMutableRawBufferPointer) -> (count: Int, from: SocketAddress)? {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let n = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { recvfrom(fd, buffer.baseAddress, buffer.count, 0, $0, &length) }
        }
        guard n >= 0 else { return nil }
        return (n, SocketAddress(storage: storage, length: length))
    }
}

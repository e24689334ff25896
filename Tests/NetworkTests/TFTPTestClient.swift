import Foundation
import Network
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// A `TFTPServer` on 127.0.0.1 and an ephemeral port, running on its own thread until the value goes away.
final class LoopbackServer: @unchecked Sendable {
    let server: TFTPServer
    let reports = Locked<[TFTPTransferReport]>([])
    private let done = DispatchSemaphore(value: 0)

    init(folder: String, settings: TFTPServerSettings = TFTPServerSettings(), listen: String = "127.0.0.1:0") throws {
        server = try TFTPServer(folder: folder, listen: SocketAddress(listen)!, settings: settings)
        let t = Thread { [server, reports, done] in
            server.run { r in
                reports.withLock { $0.append(r) }
                return true
            }
            done.signal()
        }
        t.start()
    }

    var address: SocketAddress { server.localAddress }
    var port: UInt16 { server.localAddress.port }

    /// The reports once `count` transfers have finished (waits up to `timeout`).
    func waitForReports(_ count: Int, timeout: Double = 10) -> [TFTPTransferReport] {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            let r = reports.withLock { $0 }
            if r.count >= count { return r }
            Thread.sleep(forTimeInterval: 0.01)
        }
        return reports.withLock { $0 }
    }

    deinit {
        server.stop()
        done.wait()
    }
}

/// A value behind a lock, shareable between threads.
final class Locked<T>: @unchecked Sendable {
    private var value: T
    private let lock = NSLock()
    init(_ value: T) { self.value = value }
    func withLock<R>(_ body: (inout T) -> R) -> R {
        lock.lock()
        defer { lock.unlock() }
        return body(&value)
    }
}

/// What the test client saw.
struct ClientResult {
    var data: [UInt8] = []
    var error: (code: UInt16, message: String)?
    var oack: [TFTPOption]?
    /// Every DATA datagram received, by wire block number, in order (duplicates included).
    var blocks: [UInt16] = []
    var acksSent = 0
    /// Datagrams that arrived after the transfer ended (within the linger time).
    var late: [TFTPPacket] = []
    /// Raw payloads of everything received (to check nothing secret ever arrived).
    var everything: [UInt8] = []
}

/// An RFC 1350/2347/7440 read client with knobs to misbehave: drop one ACK, send an ACK twice.
struct TestClient {
    let socket: UDPSocket
    let server: SocketAddress
    var timeout: Double = 5

    init(server: SocketAddress, bind: SocketAddress? = nil) throws {
        self.server = server
        socket = try UDPSocket(binding: bind ?? server.with(port: 0))
    }

    func receive(timeout: Double) -> ([UInt8], SocketAddress)? {
        var p = pollfd(fd: socket.fd, events: Int16(POLLIN), revents: 0)
        guard poll(&p, 1, Int32(timeout * 1000)) > 0 else { return nil }
        var buffer = [UInt8](repeating: 0, count: 65536)
        guard let (n, from) = buffer.withUnsafeMutableBytes({ socket.receive(into: $0) }) else { return nil }
        return (Array(buffer[..<n]), from)
    }

    func send(_ packet: TFTPPacket, to peer: SocketAddress) {
        socket.send(packet.encoded(), to: peer)
    }

    /// Reads `name`. `dropAck`: the ACK of this block index is not sent the first time.
    /// `duplicateAck`: the ACK of this block index is sent twice. `linger`: seconds to keep listening after the end.
    func get(_ name: String, mode: String = "octet", options: [TFTPOption] = [], write: Bool = false, dropAck: Int? = nil, duplicateAck: Int? = nil, linger: Double = 0) -> ClientResult {
        var r = ClientResult()
        send(.request(TFTPRequest(isWrite: write, filename: Array(name.utf8), mode: mode, options: options)), to: server)
        var peer: SocketAddress?
        var blockSize = 512, window = 1
        var next = 1  // index of the next block expected
        var inWindow = 0
        var dropped = false
        func ack(_ index: Int) {
            if index == dropAck && !dropped {
                dropped = true
                return
            }
            let n = index == duplicateAck ? 2 : 1
            for _ in 0..<n { send(.ack(block: UInt16(truncatingIfNeeded: index)), to: peer!) }
            r.acksSent += n
        }
        while let (d, from) = receive(timeout: timeout) {
            r.everything += d
            if peer == nil { peer = from }
            guard from == peer, let p = try? TFTPPacket.parse(d) else { continue }
            switch p {
            case let .oack(o):
                r.oack = o
                for x in o {
                    if x.name == "blksize" { blockSize = Int(x.value) ?? 512 }
                    if x.name == "windowsize" { window = Int(x.value) ?? 1 }
                }
                ack(0)
            case let .error(code, message):
                r.error = (code, message)
                return r
            case let .data(block, payload):
                r.blocks.append(block)
                if block == UInt16(truncatingIfNeeded: next) {
                    r.data += payload
                    next += 1
                    inWindow += 1
                    if payload.count < blockSize {
                        ack(next - 1)
                        lingerFor(linger, &r)
                        return r
                    }
                    if inWindow == window {
                        inWindow = 0
                        ack(next - 1)
                    }
                } else if block == UInt16(truncatingIfNeeded: next - 1) {
                    inWindow = 0
                    ack(next - 1)  // the server resent: it lost our ACK
                }
            default:
                continue
            }
        }
        r.error = (0xFFFF, "client timed out")
        return r
    }

    func lingerFor(_ seconds: Double, _ r: inout ClientResult) {
        guard seconds > 0 else { return }
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline, let (d, _) = receive(timeout: max(0.01, deadline.timeIntervalSinceNow)) {
            if let p = try? TFTPPacket.parse(d) { r.late.append(p) }
        }
    }
}

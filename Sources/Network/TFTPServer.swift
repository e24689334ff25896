import FlashsmithCore
#if canImport(Glibc)
import Glibc
#endif

/// What one finished (or refused) transfer did: one log line.
public struct TFTPTransferReport: Sendable, Equatable {
    public var client: SocketAddress
    /// The requested name, escaped for display.
    public var file: String
    public var bytes: Int
    public var seconds: Double
    public var blockSize: Int
    public var windowSize: Int
    /// Nil when the whole file was acknowledged.
    public var error: String?

    public var succeeded: Bool { error == nil }
    public var bytesPerSecond: Double { seconds > 0 ? Double(bytes) / seconds : 0 }
}

public struct TFTPServerSettings: Sendable {
    public var limits = TFTPOptionLimits()
    /// Time to wait for an ACK when the client did not negotiate `timeout`.
    public var defaultTimeout: Duration = .seconds(1)
    /// Resends of one window (or OACK) before the transfer is abandoned.
    public var maxRetries = 5
    /// Transfers at once; more requests are answered with an ERROR.
    public var maxTransfers = 128

    public init() {}
}

/// A read-only TFTP server for one folder: one listening socket, one socket per transfer, one
/// `poll` loop on one thread (every transfer's timer included). Stopped by ``stop()`` (async-signal
/// safe: it writes one byte to a pipe the loop polls).
public final class TFTPServer: @unchecked Sendable {
    public let folder: ConfinedFolder
    public let settings: TFTPServerSettings
    let listener: UDPSocket
    let wakeRead: Int32
    /// Written by ``stop()``; readable from a signal handler.
    public let wakeWrite: Int32
    var transfers: [TFTPTransfer] = []

    /// The address the server listens on (the actual port when port 0 was asked for).
    public var localAddress: SocketAddress { listener.localAddress }

    public init(folder path: String, listen: SocketAddress, settings: TFTPServerSettings = TFTPServerSettings()) throws {
        folder = try ConfinedFolder(path)
        self.settings = settings
        listener = try UDPSocket(binding: listen)
        listener.enableDestinationAddresses()
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { throw SocketError(address: listen.description, operation: "pipe", code: errno) }
        for fd in fds {
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            _ = fcntl(fd, F_SETFL, O_NONBLOCK)
        }
        wakeRead = fds[0]
        wakeWrite = fds[1]
    }

    deinit {
        close(wakeRead)
        close(wakeWrite)
    }

    /// Makes ``run(_:)`` return (from any thread or a signal handler).
    public func stop() {
        var b: UInt8 = 1
        _ = write(wakeWrite, &b, 1)
    }

    /// Serves until ``stop()``, or until `report` (called once per finished or refused transfer) returns false.
    public func run(_ report: (TFTPTransferReport) -> Bool) {
        let clock = ContinuousClock()
        var datagram = [UInt8](repeating: 0, count: 65536)
        while true {
            var fds = [pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0), pollfd(fd: listener.fd, events: Int16(POLLIN), revents: 0)]
            fds += transfers.map { pollfd(fd: $0.socket.fd, events: Int16(POLLIN), revents: 0) }
            let rc = poll(&fds, nfds_t(fds.count), pollTimeout(now: clock.now))
            if rc < 0 && errno != EINTR { return }
            if fds[0].revents != 0 { return }
            let now = clock.now
            // Transfers first (a final ACK ends one before a new request from the same client is seen).
            for (i, t) in transfers.enumerated() where fds[i + 2].revents != 0 {
                while let (n, from) = datagram.withUnsafeMutableBytes({ t.socket.receive(into: $0) }) {
                    t.receive(Array(datagram[..<n]), from: from, now: now)
                }
            }
            if fds[1].revents != 0 { acceptRequests(&datagram, now: now, report: report) }
            for t in transfers { t.tick(now: clock.now) }
            if !reapFinished(now: clock.now, report: report) { return }
        }
    }

    /// Milliseconds until the nearest transfer deadline (-1: none).
    func pollTimeout(now: ContinuousClock.Instant) -> Int32 {
        guard let next = transfers.map(\.deadline).min() else { return -1 }
        let d = next - now
        if d <= .zero { return 0 }
        let ms = d.components.seconds * 1000 + d.components.attoseconds / 1_000_000_000_000_000 + 1
        return Int32(min(ms, 60_000))
    }

    /// Removes finished transfers, reporting each; false when `report` asked to stop.
    func reapFinished(now: ContinuousClock.Instant, report: (TFTPTransferReport) -> Bool) -> Bool {
        var keepGoing = true
        transfers.removeAll { t in
            guard t.isDone else { return false }
            var error: String?
            if case let .failed(message) = t.phase { error = message }
            let r = TFTPTransferReport(
                client: t.peer, file: t.request.displayName, bytes: error == nil ? t.file.size : t.bytesAcknowledged,
                seconds: seconds(now - t.started), blockSize: t.negotiation.blockSize, windowSize: t.negotiation.windowSize, error: error)
            if keepGoing && !report(r) { keepGoing = false }
            return true
        }
        return keepGoing
    }

    func acceptRequests(_ datagram: inout [UInt8], now: ContinuousClock.Instant, report: (TFTPTransferReport) -> Bool) {
        while let (n, from, to) = datagram.withUnsafeMutableBytes({ listener.receiveWithDestination(into: $0) }) {
            // Listening on 0.0.0.0: answer from the address the client sent to (a multi-homed host
            // would otherwise pick a source by its routes, and a client may ignore that reply).
            let local = listener.isWildcard ? to?.with(port: 0) ?? listener.localAddress.with(port: 0) : listener.localAddress.with(port: 0)
            if let refused = handleRequest(Array(datagram[..<n]), from: from, local: local, now: now), !report(refused) {
                stop()
                return
            }
        }
    }

    /// Starts a transfer for one datagram on the listening socket, or answers it with an ERROR (from a
    /// new socket, as RFC 1350 has errors come from a new transfer ID) and returns the refusal's report.
    func handleRequest(_ bytes: [UInt8], from client: SocketAddress, local: SocketAddress, now: ContinuousClock.Instant) -> TFTPTransferReport? {
        let packet: TFTPPacket
        do {
            packet = try TFTPPacket.parse(bytes)
        } catch {
            if bytes.count >= 2 && bytes[1] == UInt8(TFTPOpcode.error.rawValue) && bytes[0] == 0 { return nil }  // never answer an ERROR
            return refuse(client, local, name: "?", .illegalOperation, error.description)
        }
        guard case let .request(request) = packet else {
            if case .error = packet { return nil }
            return refuse(client, local, name: "?", .illegalOperation, "expected a read request on the server port")
        }
        let name = request.displayName
        if request.isWrite { return refuse(client, local, name: name, .accessViolation, "read-only server: write requests are refused") }
        guard request.mode == "octet" else {
            return refuse(client, local, name: name, .illegalOperation, "mode \(request.mode) not served: binary only, ask for octet (tftp -m binary)")
        }
        // A repeated request (the client resent it before our answer came): that transfer answers it.
        if transfers.contains(where: { $0.peer == client && $0.request.filename == request.filename && $0.base == 1 && !$0.isDone }) { return nil }
        guard transfers.count < settings.maxTransfers else { return refuse(client, local, name: name, .notDefined, "server busy: \(settings.maxTransfers) transfers running") }
        let file: ConfinedFolder.OpenFile
        switch folder.open(request.filename) {
        case let .success(f): file = f
        case let .failure(r): return refuse(client, local, name: name, r.code, r.message)
        }
        let socket: UDPSocket
        do {
            socket = try (try? UDPSocket(binding: local)) ?? UDPSocket(binding: listener.localAddress.with(port: 0))
        } catch {
            close(file.fd)
            return refuse(client, local, name: name, .notDefined, "\(error)")
        }
        let negotiation = TFTPNegotiation.negotiate(request.options, fileSize: file.size, limits: settings.limits)
        let t = TFTPTransfer(socket: socket, peer: client, file: file, request: request, negotiation: negotiation, defaultTimeout: settings.defaultTimeout, maxRetries: settings.maxRetries, now: now)
        transfers.append(t)
        t.start(now: now)
        return nil
    }

    func refuse(_ client: SocketAddress, _ local: SocketAddress, name: String, _ code: TFTPErrorCode, _ message: String) -> TFTPTransferReport {
        let packet = TFTPPacket.error(code: code.rawValue, message: message).encoded()
        if let s = try? UDPSocket(binding: local) {
            s.send(packet, to: client)
        } else {
            listener.send(packet, to: client)
        }
        return TFTPTransferReport(client: client, file: name, bytes: 0, seconds: 0, blockSize: TFTPOptionLimits.defaultBlockSize, windowSize: 1, error: "refused (\(code.rawValue)): \(message)")
    }

    func seconds(_ d: Duration) -> Double {
        Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }
}

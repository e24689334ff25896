import FlashsmithCore
#if canImport(Glibc)
import Glibc
#endif

/// One read transfer (server side): its own socket (its transfer ID), the open file, and the state
/// machine of RFC 1350 with RFC 2347's OACK and RFC 7440's windows.
///
/// Blocks are counted with a 64-bit index (1, 2, …; the last one is shorter than `blockSize`, maybe
/// empty); the wire number is the index modulo 65536, so past block 65535 it rolls over to 0 as
/// tftp-hpa and U-Boot expect. An ACK is mapped back to the one index in `base-1 … base+window-1`
/// with that wire number (a window is at most 65535 blocks, so the mapping is unique).
///
/// - OACK sent: wait for ACK 0, resend the OACK on timeout.
/// - Sending: blocks `base …` (a window) go out at once; an ACK for index `k ≥ base` moves `base` to
///   `k+1` and the next window goes out (an ACK inside the window means the client lost what followed:
///   RFC 7440 resumes from there). An ACK for `base-1`, or any older block, is a duplicate and is
///   ignored: duplicate ACKs never trigger sends ("sorcerer's apprentice", RFC 1123 4.2.3.1).
/// - Nothing acknowledged within the timeout: the window (or OACK) is sent again, up to `maxRetries`
///   times, then the transfer fails with an ERROR to the client.
/// Files are read block by block with `pread` into one buffer: memory does not grow with the file.
final class TFTPTransfer {
    enum Phase: Equatable {
        case awaitingOACKAck
        case sending
        case finished
        case failed(String)
    }

    let socket: UDPSocket
    let peer: SocketAddress
    let file: ConfinedFolder.OpenFile
    let request: TFTPRequest
    let negotiation: TFTPNegotiation
    let timeout: Duration
    let maxRetries: Int
    let started: ContinuousClock.Instant
    /// Index of the last (short) block.
    let lastIndex: Int

    private(set) var phase: Phase
    /// The first block not yet acknowledged.
    private(set) var base = 1
    private(set) var deadline: ContinuousClock.Instant
    private(set) var retries = 0
    private(set) var sentBlocks = 0
    private var buffer: [UInt8]

    init(socket: UDPSocket, peer: SocketAddress, file: ConfinedFolder.OpenFile, request: TFTPRequest, negotiation: TFTPNegotiation, defaultTimeout: Duration, maxRetries: Int, now: ContinuousClock.Instant) {
        self.socket = socket
        self.peer = peer
        self.file = file
        self.request = request
        self.negotiation = negotiation
        self.timeout = negotiation.timeoutSeconds.map { .seconds($0) } ?? defaultTimeout
        self.maxRetries = maxRetries
        started = now
        lastIndex = file.size / negotiation.blockSize + 1
        phase = negotiation.reply.isEmpty ? .sending : .awaitingOACKAck
        deadline = now
        buffer = [UInt8](repeating: 0, count: TFTPPacket.Layout.headerSize + negotiation.blockSize)
    }

    deinit { close(file.fd) }

    var isDone: Bool {
        switch phase {
        case .finished, .failed: return true
        default: return false
        }
    }

    /// Bytes the client has acknowledged.
    var bytesAcknowledged: Int { min(file.size, (base - 1) * negotiation.blockSize) }

    /// The first packet(s): the OACK, or the first window.
    func start(now: ContinuousClock.Instant) {
        sendCurrent(now: now)
    }

    /// Handles one datagram that arrived on this transfer's socket.
    func receive(_ bytes: [UInt8], from sender: SocketAddress, now: ContinuousClock.Instant) {
        guard sender == peer else {
            socket.send(TFTPPacket.error(code: TFTPErrorCode.unknownTransferID.rawValue, message: "unknown transfer ID").encoded(), to: sender)
            return
        }
        guard !isDone else { return }
        switch try? TFTPPacket.parse(bytes) {
        case let .ack(block):
            acknowledge(block, now: now)
        case let .error(code, message):
            phase = .failed("client sent error \(code): \(message)")
        default:
            fail(.illegalOperation, "expected an ACK")
        }
    }

    /// Called when `deadline` has passed: resend, or give up.
    func tick(now: ContinuousClock.Instant) {
        guard !isDone, now >= deadline else { return }
        retries += 1
        if retries > maxRetries {
            fail(.notDefined, "no acknowledgement after \(maxRetries + 1) tries")
            return
        }
        sendCurrent(now: now)
    }

    func acknowledge(_ block: UInt16, now: ContinuousClock.Instant) {
        if phase == .awaitingOACKAck {
            guard block == 0 else { return }
            phase = .sending
            retries = 0
            sendCurrent(now: now)
            return
        }
        guard let k = index(ofAck: block), k >= base else { return }  // duplicate or stale: nothing is sent
        base = k + 1
        retries = 0
        if base > lastIndex {
            phase = .finished
        } else {
            sendCurrent(now: now)
        }
    }

    /// The block index with wire number `block` among `base-1 … base+window-1`, or nil.
    func index(ofAck block: UInt16) -> Int? {
        let low = base - 1
        let high = min(lastIndex, base + negotiation.windowSize - 1)
        let offset = Int(block &- UInt16(truncatingIfNeeded: low))
        return low + offset <= high ? low + offset : nil
    }

    /// Sends what the current phase is waiting on and sets the deadline.
    func sendCurrent(now: ContinuousClock.Instant) {
        switch phase {
        case .awaitingOACKAck:
            socket.send(TFTPPacket.oack(negotiation.reply).encoded(), to: peer)
        case .sending:
            let end = min(lastIndex, base + negotiation.windowSize - 1)
            for index in base...end where !isDone {
                sendBlock(index)
            }
        case .finished, .failed:
            return
        }
        deadline = now + timeout
    }

    func sendBlock(_ index: Int) {
        let offset = (index - 1) * negotiation.blockSize
        let wanted = max(0, min(negotiation.blockSize, file.size - offset))
        let sent: Bool? = buffer.withUnsafeMutableBytes { raw in
            TFTPPacket.writeDataHeader(block: UInt16(truncatingIfNeeded: index), into: raw)
            var got = 0
            while got < wanted {
                let n = pread(file.fd, raw.baseAddress! + TFTPPacket.Layout.headerSize + got, wanted - got, off_t(offset + got))
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { return nil }
                got += n
            }
            return socket.send(UnsafeRawBufferPointer(rebasing: raw[0..<(TFTPPacket.Layout.headerSize + wanted)]), to: peer)
        }
        guard sent != nil else {
            fail(.notDefined, "read error at offset \(offset) of the file")
            return
        }
        sentBlocks += 1
    }

    func fail(_ code: TFTPErrorCode, _ message: String) {
        socket.send(TFTPPacket.error(code: code.rawValue, message: message).encoded(), to: peer)
        phase = .failed(message)
    }
}

import Foundation
import Network
import Testing
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

@Suite("TFTP server on loopback: transfers, windows, rollover, resends, no duplicate sends")
struct TFTPServerTests {
    static func pattern(_ count: Int, seed: UInt64 = 1) -> [UInt8] {
        var rng = SplitMix(seed: seed)
        return (0..<count).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
    }

    static func fastSettings() -> TFTPServerSettings {
        var s = TFTPServerSettings()
        s.defaultTimeout = .milliseconds(200)
        s.maxRetries = 3
        return s
    }

    @Test("whole files arrive byte for byte, with and without options", arguments: [
        (0, [] as [(String, String)]), (1, []), (511, []), (512, []), (513, []), (100_000, []),
        (1468 * 20, [("blksize", "1468"), ("tsize", "0")]), (1468 * 20 + 1, [("blksize", "1468")]), (0, [("blksize", "1468"), ("tsize", "0")]),
        (70_000, [("windowsize", "4"), ("blksize", "1024")]), (8 * 4 * 3, [("windowsize", "4"), ("blksize", "8")]), (65464 * 3 + 5, [("blksize", "65464")]),
    ] as [(Int, [(String, String)])])
    func transfers(size: Int, options: [(String, String)]) throws {
        let dir = try TempDir("flashsmith-tftp")
        let content = Self.pattern(size)
        _ = try dir.write("file.bin", content)
        let server = try LoopbackServer(folder: dir.path, settings: Self.fastSettings())
        let client = try TestClient(server: server.address)
        let r = client.get("file.bin", options: options.map { TFTPOption($0.0, $0.1) })
        #expect(r.error == nil, "\(String(describing: r.error))")
        #expect(r.data == content)
        if options.isEmpty {
            #expect(r.oack == nil)
        } else {
            #expect(r.oack?.first(where: { $0.name == "tsize" })?.value ?? "\(size)" == "\(size)")
        }
        let reports = server.waitForReports(1)
        #expect(reports.count == 1 && reports.first?.succeeded == true && reports.first?.bytes == size, "\(reports)")
    }

    @Test("windowsize 4: one ACK per window, each block sent once")
    func window() throws {
        let dir = try TempDir("flashsmith-tftp-window")
        let content = Self.pattern(512 * 40 + 100)  // 41 blocks: 10 full windows and one of 1
        _ = try dir.write("w.bin", content)
        let server = try LoopbackServer(folder: dir.path, settings: Self.fastSettings())
        let r = try TestClient(server: server.address).get("w.bin", options: [TFTPOption("windowsize", "4")], linger: 0.5)
        #expect(r.data == content)
        #expect(r.oack == [TFTPOption("windowsize", "4")])
        #expect(r.blocks == (1...41).map { UInt16($0) }, "each block exactly once")
        #expect(r.acksSent == 1 + 10 + 1, "ACK 0, one per window, the last")
        #expect(r.late.isEmpty)
    }

    /// 32 MiB + 1000 bytes at blksize 512: 65538 blocks, the wire numbers go …65534, 65535, 0, 1, 2.
    /// The file is sparse with marks around the wrap, so a block sent from the wrong offset shows.
    @Test("files over 32 MiB: block numbers roll over to 0", arguments: [1, 16])
    func rollover(window: Int) throws {
        let dir = try TempDir("flashsmith-tftp-rollover")
        let path = dir.file("big.bin")
        let size = 32 << 20 + 1000
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        try #require(fd >= 0)
        #expect(ftruncate(fd, off_t(size)) == 0)
        var marks: [(Int, [UInt8])] = []
        for block in [1, 65534, 65535, 65536, 65537, 65538] {
            let text = Array("block \(block)".utf8)
            marks.append(((block - 1) * 512, text))
            _ = text.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, off_t((block - 1) * 512)) }
        }
        close(fd)
        let server = try LoopbackServer(folder: dir.path, settings: Self.fastSettings())
        var client = try TestClient(server: server.address)
        client.timeout = 10
        let r = client.get("big.bin", options: [TFTPOption("blksize", "512"), TFTPOption("windowsize", String(window))])
        #expect(r.error == nil, "\(String(describing: r.error))")
        #expect(r.data.count == size)
        for (offset, text) in marks {
            let same = r.data.count >= offset + text.count && Array(r.data[offset..<(offset + text.count)]) == text
            #expect(same, "mark at \(offset) (\(String(decoding: text, as: UTF8.self)))")
        }
        #expect(r.blocks.count == 65538, "each block once")
        #expect(Array(r.blocks[65533...]) == [65534, 65535, 0, 1, 2])
        #expect(server.waitForReports(1).first?.bytes == size)
    }

    @Test("a lost ACK: the server resends the block after its timeout, and the transfer completes")
    func resend() throws {
        let dir = try TempDir("flashsmith-tftp-resend")
        let content = Self.pattern(512 * 5 + 3)
        _ = try dir.write("r.bin", content)
        let server = try LoopbackServer(folder: dir.path, settings: Self.fastSettings())
        let r = try TestClient(server: server.address).get("r.bin", dropAck: 3)
        #expect(r.data == content)
        #expect(r.blocks == [1, 2, 3, 3, 4, 5, 6], "block 3 sent again after the ACK was lost")
    }

    @Test("a client that stops answering: the server gives up after its retries and says so")
    func givesUp() throws {
        let dir = try TempDir("flashsmith-tftp-giveup")
        _ = try dir.write("g.bin", Self.pattern(5000))
        let server = try LoopbackServer(folder: dir.path, settings: Self.fastSettings())
        let client = try TestClient(server: server.address)
        client.send(.request(TFTPRequest(filename: Array("g.bin".utf8))), to: server.address)
        var blocks: [UInt16] = []
        var error: String?
        while let (d, _) = client.receive(timeout: 3) {
            switch try? TFTPPacket.parse(d) {
            case let .data(b, _): blocks.append(b)
            case let .error(_, m): error = m
            default: break
            }
            if error != nil { break }
        }
        #expect(blocks == [1, 1, 1, 1], "first send and 3 resends")
        #expect(error?.contains("no acknowledgement after 4 tries") == true, "\(String(describing: error))")
        let reports = server.waitForReports(1)
        #expect(reports.first?.succeeded == false && reports.first?.error?.contains("no acknowledgement") == true, "\(reports)")
    }

    /// The sorcerer's apprentice (RFC 1123 4.2.3.1): a duplicated ACK must not make the server send the
    /// next block twice (that would double every later block).
    @Test("duplicate ACKs produce no duplicate DATA", arguments: [1, 4])
    func duplicateAck(window: Int) throws {
        let dir = try TempDir("flashsmith-tftp-dupack")
        let content = Self.pattern(512 * 12 + 7)
        _ = try dir.write("d.bin", content)
        let server = try LoopbackServer(folder: dir.path, settings: Self.fastSettings())
        let options = window > 1 ? [TFTPOption("windowsize", String(window))] : []
        let r = try TestClient(server: server.address).get("d.bin", options: options, duplicateAck: 4, linger: 0.6)
        #expect(r.data == content)
        #expect(r.blocks == (1...13).map { UInt16($0) }, "each block exactly once: \(r.blocks)")
        #expect(r.late.isEmpty, "nothing after the end: \(r.late)")
    }

    @Test("several clients at once, each on its own transfer socket")
    func concurrent() throws {
        let dir = try TempDir("flashsmith-tftp-many")
        let files = (0..<6).map { Self.pattern(200_000 + $0 * 1000, seed: UInt64($0)) }
        for (i, f) in files.enumerated() { _ = try dir.write("f\(i)", f) }
        let server = try LoopbackServer(folder: dir.path, settings: Self.fastSettings())
        let address = server.address
        let results = Locked<[Int: [UInt8]]>([:])
        DispatchQueue.concurrentPerform(iterations: files.count) { i in
            guard let c = try? TestClient(server: address) else { return }
            let r = c.get("f\(i)", options: [TFTPOption("blksize", "1024")])
            results.withLock { $0[i] = r.data }
        }
        let got = results.withLock { $0 }
        for (i, f) in files.enumerated() { #expect(got[i] == f, "file \(i)") }
        #expect(server.waitForReports(files.count).filter(\.succeeded).count == files.count)
    }

    @Test("packets from a stranger on a transfer's port get ERROR 5 and do not disturb it")
    func unknownTID() throws {
        let dir = try TempDir("flashsmith-tftp-tid")
        let content = Self.pattern(512 * 3)
        _ = try dir.write("t.bin", content)
        var settings = TFTPServerSettings()
        settings.defaultTimeout = .seconds(30)  // no resend while the stranger is being answered (a loaded machine is slow)
        let server = try LoopbackServer(folder: dir.path, settings: settings)
        let client = try TestClient(server: server.address)
        client.send(.request(TFTPRequest(filename: Array("t.bin".utf8))), to: server.address)
        guard let (first, transferPort) = client.receive(timeout: 10) else { Issue.record("no answer"); return }
        #expect(try TFTPPacket.parse(first) == .data(block: 1, payload: Array(content[0..<512])))
        let stranger = try TestClient(server: transferPort)
        stranger.send(.ack(block: 1), to: transferPort)
        let answer = stranger.receive(timeout: 10).flatMap { try? TFTPPacket.parse($0.0) }
        guard case let .error(code, _) = answer else { Issue.record("stranger got \(String(describing: answer))"); return }
        #expect(code == 5)
        client.send(.ack(block: 1), to: transferPort)
        let next = client.receive(timeout: 10).flatMap { try? TFTPPacket.parse($0.0) }
        #expect(next == .data(block: 2, payload: Array(content[512..<1024])))
    }

    @Test("IPv6: a transfer over [::1]")
    func ipv6() throws {
        guard (try? UDPSocket(binding: SocketAddress("[::1]:0")!)) != nil else {
            print("SKIP: no IPv6 loopback here")
            return
        }
        let dir = try TempDir("flashsmith-tftp-v6")
        let content = Self.pattern(5000)
        _ = try dir.write("v6.bin", content)
        let server = try LoopbackServer(folder: dir.path, settings: Self.fastSettings(), listen: "[::1]:0")
        let r = try TestClient(server: server.address).get("v6.bin", options: [TFTPOption("blksize", "1024")])
        #expect(r.data == content)
        #expect(server.waitForReports(1).first?.client.description.hasPrefix("[::1]:") == true)
    }

    /// Listening on 0.0.0.0, a request sent to 127.0.0.2 is answered from 127.0.0.2 (IP_PKTINFO), not
    /// from the address the routes would pick for the client (127.0.0.1).
    @Test("wildcard listener: the answer comes from the address the client sent to")
    func answersFromDestination() throws {
        let dir = try TempDir("flashsmith-tftp-pktinfo")
        _ = try dir.write("p.bin", Self.pattern(100))
        let server = try LoopbackServer(folder: dir.path, settings: Self.fastSettings(), listen: "0.0.0.0:0")
        let client = try TestClient(server: SocketAddress(host: "127.0.0.2", port: server.port)!, bind: SocketAddress("127.0.0.1:0")!)
        let r = client.get("p.bin")
        #expect(r.error == nil && r.data.count == 100, "\(String(describing: r.error))")
        // Until the server has seen the last ACK, a new request from the same port for the same file
        // is a resent one (its transfer answers it): wait for the first transfer's end.
        #expect(server.waitForReports(1).count == 1)
        client.send(.request(TFTPRequest(filename: Array("p.bin".utf8))), to: client.server)
        let from = client.receive(timeout: 10)?.1
        #expect(from?.host == "127.0.0.2", "\(String(describing: from))")
    }
}

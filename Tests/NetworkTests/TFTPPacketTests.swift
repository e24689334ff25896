import Network
import Testing

@Suite("TFTP packets (RFC 1350/2347) and option negotiation (RFC 2348/2349/7440)")
struct TFTPPacketTests {
    @Test("well-formed datagrams parse to their packet", arguments: [
        (bytes(0, 1, "fit.img", 0, "octet", 0), TFTPPacket.request(TFTPRequest(filename: Array("fit.img".utf8)))),
        (bytes(0, 1, "a", 0, "OCTET", 0, "BlkSize", 0, "1468", 0, "tsize", 0, "0", 0),
         .request(TFTPRequest(filename: [UInt8(ascii: "a")], options: [TFTPOption("blksize", "1468"), TFTPOption("tsize", "0")]))),
        (bytes(0, 2, "w", 0, "octet", 0), .request(TFTPRequest(isWrite: true, filename: [UInt8(ascii: "w")]))),
        // A trailing option name without its value, and NUL padding: ignored (some clients pad).
        (bytes(0, 1, "a", 0, "octet", 0, "blksize", 0), .request(TFTPRequest(filename: [UInt8(ascii: "a")]))),
        (bytes(0, 1, "a", 0, "octet", 0, 0, 0, 0, 0), .request(TFTPRequest(filename: [UInt8(ascii: "a")]))),
        (bytes(0, 1, "a", 0, "octet", 0, "blksize", 0, "14"), .request(TFTPRequest(filename: [UInt8(ascii: "a")]))),
        (bytes(0, 3, 0xFF, 0xFE, "xyz"), .data(block: 0xFFFE, payload: Array("xyz".utf8))),
        (bytes(0, 3, 0, 0), .data(block: 0, payload: [])),
        (bytes(0, 4, 1, 2), .ack(block: 0x0102)),
        (bytes(0, 4, 1, 2, 9, 9), .ack(block: 0x0102)),
        (bytes(0, 5, 0, 1, "File not found", 0), .error(code: 1, message: "File not found")),
        (bytes(0, 5, 0, 8, "no NUL"), .error(code: 8, message: "no NUL")),
        (bytes(0, 6, "blksize", 0, "512", 0), .oack([TFTPOption("blksize", "512")])),
    ])
    func parses(datagram: [UInt8], expected: TFTPPacket) throws {
        #expect(try TFTPPacket.parse(datagram) == expected)
    }

    @Test("hostile datagrams are refused with the offset and reason, never a trap", arguments: [
        ([], 0, "expected at least an opcode"),
        ([0], 0, "expected at least an opcode"),
        ([0, 0], 0, "unknown opcode 0"),
        ([0xFF, 0xFF, 0, 0], 0, "unknown opcode 65535"),
        (bytes(0, 1), 2, "without a NUL-terminated filename"),
        (bytes(0, 1, "fit.img"), 2, "without a NUL-terminated filename"),
        (bytes(0, 1, 0, "octet", 0), 2, "empty filename"),
        (bytes(0, 1, "fit.img", 0), 10, "without a NUL-terminated mode"),
        (bytes(0, 1, "fit.img", 0, "oct"), 10, "without a NUL-terminated mode"),
        (bytes(0, 4, 0), 3, "ACK of 3 bytes"),
        (bytes(0, 5), 2, "ERROR of 2 bytes"),
        (bytes(0, 3, 0), 3, "DATA of 3 bytes"),
        ([0, 3, 0, 1] + [UInt8](repeating: 7, count: 65465), 4, "at most 65464"),
        (bytes(0, 1, "a", 0, "octet", 0) + Array(repeating: bytes("x", 0, "1", 0), count: 65).flatMap { $0 }, 270, "more than 64 options"),
    ] as [([UInt8], Int, String)])
    func refuses(datagram: [UInt8], offset: Int, reason: String) {
        #expect {
            try TFTPPacket.parse(datagram)
        } throws: { e in
            guard let m = e as? TFTPMalformed else { return false }
            return m.offset == offset && m.reason.contains(reason)
        }
    }

    @Test("every packet survives encode → parse")
    func roundTrip() throws {
        let packets: [TFTPPacket] = [
            .request(TFTPRequest(filename: [0xC3, 0xA9, 0x2F, 0x78], options: [TFTPOption("windowsize", "4")])),
            .data(block: 65535, payload: Array(repeating: 0xAA, count: 1468)), .ack(block: 0), .error(code: 2, message: "denied"),
            .oack([TFTPOption("tsize", "123"), TFTPOption("timeout", "5")]),
        ]
        for p in packets { #expect(try TFTPPacket.parse(p.encoded()) == p) }
    }

    /// Random datagrams and mutations of valid ones: parse returns or throws (a trap ends the test process).
    @Test("10,000 random and mutated datagrams: no trap")
    func noTrap() {
        var rng = SplitMix(seed: 12)
        let seeds = [bytes(0, 1, "fit.img", 0, "octet", 0, "blksize", 0, "1468", 0), bytes(0, 3, 0, 1, "data"), bytes(0, 5, 0, 1, "x", 0)]
        var parsed = 0
        for i in 0..<10_000 {
            var d: [UInt8]
            if i % 2 == 0 {
                d = (0..<Int(rng.next() % 80)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
                if d.count >= 2 { d[0] = 0; d[1] = UInt8(rng.next() % 8) }
            } else {
                d = seeds[i % seeds.count]
                for _ in 0..<3 where !d.isEmpty { d[Int(rng.next() % UInt64(d.count))] = UInt8(truncatingIfNeeded: rng.next()) }
                d = Array(d.prefix(Int(rng.next() % UInt64(d.count + 1))))
            }
            if (try? TFTPPacket.parse(d)) != nil { parsed += 1 }
        }
        #expect(parsed > 0)
    }

    @Test("negotiation: ranges, clamping, unknown and repeated options", arguments: [
        ([("blksize", "1468")], 1468, 1, nil, [("blksize", "1468")]),
        ([("blksize", "99999999999999999999999999")], 65464, 1, nil, [("blksize", "65464")]),
        ([("blksize", "65465")], 65464, 1, nil, [("blksize", "65464")]),
        ([("blksize", "8")], 8, 1, nil, [("blksize", "8")]),
        ([("blksize", "7")], 512, 1, nil, []),
        ([("blksize", "-5")], 512, 1, nil, []),
        ([("blksize", "1e3")], 512, 1, nil, []),
        ([("blksize", "")], 512, 1, nil, []),
        ([("blksize", "1024"), ("blksize", "2048")], 1024, 1, nil, [("blksize", "1024")]),
        ([("timeout", "5")], 512, 1, 5, [("timeout", "5")]),
        ([("timeout", "0")], 512, 1, nil, []),
        ([("timeout", "256")], 512, 1, nil, []),
        ([("windowsize", "4")], 512, 4, nil, [("windowsize", "4")]),
        ([("windowsize", "1000")], 512, 64, nil, [("windowsize", "64")]),
        ([("windowsize", "0")], 512, 1, nil, []),
        ([("windowsize", "65536")], 512, 1, nil, []),
        ([("tsize", "0")], 512, 1, nil, [("tsize", "123456")]),
        ([("tsize", "x")], 512, 1, nil, []),
        ([("multicast", ""), ("rollover", "0"), ("utimeout", "500"), ("blksize", "1432")], 1432, 1, nil, [("blksize", "1432")]),
        ([("tsize", "0"), ("blksize", "512"), ("timeout", "1")], 512, 1, 1, [("tsize", "123456"), ("blksize", "512"), ("timeout", "1")]),
    ] as [([(String, String)], Int, Int, Int?, [(String, String)])])
    func negotiates(asked: [(String, String)], blockSize: Int, windowSize: Int, timeout: Int?, reply: [(String, String)]) {
        let n = TFTPNegotiation.negotiate(asked.map { TFTPOption($0.0, $0.1) }, fileSize: 123456)
        #expect(n.blockSize == blockSize)
        #expect(n.windowSize == windowSize)
        #expect(n.timeoutSeconds == timeout)
        #expect(n.reply == reply.map { TFTPOption($0.0, $0.1) })
    }

    @Test("listen addresses: IPv4 and [IPv6] with a port; anything else refused", arguments: [
        ("0.0.0.0:69", "0.0.0.0:69"), ("127.0.0.1:6969", "127.0.0.1:6969"), ("[::1]:69", "[::1]:69"), ("[::]:0", "[::]:0"),
        ("0.0.0.0", nil), ("localhost:69", nil), ("1.2.3.4:65536", nil), ("1.2.3.4:-1", nil), ("::1:69", nil), ("[::1]69", nil), (":69", nil),
    ] as [(String, String?)])
    func addresses(text: String, expected: String?) {
        #expect(SocketAddress(text)?.description == expected)
    }
}

/// Bytes from strings (UTF-8), byte arrays and small integers, in order.
func bytes(_ parts: Any...) -> [UInt8] {
    var out: [UInt8] = []
    for p in parts {
        if let s = p as? String { out += Array(s.utf8) } else if let b = p as? [UInt8] { out += b } else if let i = p as? Int { out.append(UInt8(i)) }
    }
    return out
}

/// A small seeded generator (SplitMix64).
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

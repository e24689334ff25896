import Archive
import Foundation
import Testing
import TestSupport

/// Numbers from tar headers (octal, GNU base-256, pax) can be anything up to 2^64: each beyond what
/// it stands for is an error naming the entry (the old reader trapped converting device numbers
/// ≥ 2^32 and silently truncated owners).
@Suite struct ArchiveReaderLimitsTests {
    /// One ustar header block for `name` of `type`, with raw 8-byte device fields.
    static func header(_ name: String, type: UInt8, uid: [UInt8]? = nil, devmajor: [UInt8], devminor: [UInt8]) -> [UInt8] {
        var h = [UInt8](repeating: 0, count: 512)
        func put(_ at: Int, _ bytes: [UInt8]) { h.replaceSubrange(at..<(at + bytes.count), with: bytes) }
        func octal(_ at: Int, _ width: Int, _ v: Int) { put(at, Array(String(format: "%0\(width - 1)o", v).utf8) + [0]) }
        put(0, Array(name.utf8))
        octal(100, 8, 0o600)
        if let uid { put(108, uid) } else { octal(108, 8, 0) }
        octal(116, 8, 0)
        octal(124, 12, 0)
        octal(136, 12, 0)
        h[156] = type
        put(257, Array("ustar\u{0}00".utf8))
        put(329, devmajor)
        put(337, devminor)
        put(148, [UInt8](repeating: 0x20, count: 8))
        let sum = h.reduce(0) { $0 + Int($1) }
        put(148, Array(String(format: "%06o", sum).utf8) + [0, 0x20])
        return h
    }

    /// GNU base-256: 0x80, then the value big-endian in the remaining bytes.
    static func base256(_ v: UInt64, width: Int = 8) -> [UInt8] {
        [0x80] + (0..<(width - 1)).map { i in UInt8(truncatingIfNeeded: v >> (8 * UInt64(width - 2 - i))) }
    }

    static func octal8(_ v: Int) -> [UInt8] { Array(String(format: "%07o", v).utf8) + [0] }

    func archive(_ dir: TempDir, _ headers: [[UInt8]]) throws -> String {
        try dir.write("a.tar", headers.flatMap { $0 } + [UInt8](repeating: 0, count: 1024))
    }

    @Test(arguments: [
        ("major 2^40", base256(1 << 40), octal8(1), "device major 1099511627776: expected 0…4095"),
        ("major 2^32", base256(1 << 32), octal8(1), "device major 4294967296: expected 0…4095"),
        ("minor 2^56", octal8(1), base256(1 << 55), "device minor 36028797018963968: expected 0…1048575"),
        ("major 4096", octal8(4096), octal8(1), "device major 4096: expected 0…4095"),
    ])
    func deviceNumbersBeyondDevTAreErrors(name: String, major: [UInt8], minor: [UInt8], message: String) throws {
        let dir = try TempDir()
        let path = try archive(dir, [Self.header("dev/x", type: UInt8(ascii: "3"), devmajor: major, devminor: minor)])
        let r = try ArchiveReader(path: path)
        #expect {
            _ = try r.next()
        } throws: { error in
            "\(error)" == "\(path): entry 1 'dev/x': \(message)"
        }
    }

    @Test func ownersBeyond32BitsAreErrors() throws {
        let dir = try TempDir()
        let path = try archive(dir, [Self.header("x", type: UInt8(ascii: "0"), uid: Self.base256(1 << 33), devmajor: Self.octal8(0), devminor: Self.octal8(0))])
        let r = try ArchiveReader(path: path)
        #expect(throws: ArchiveFailure.self) { _ = try r.next() }
    }

    @Test func largestDeviceNumbersAreRead() throws {
        let dir = try TempDir()
        let path = try archive(dir, [Self.header("dev/x", type: UInt8(ascii: "4"), devmajor: Self.octal8(4095), devminor: Self.base256(0xF_FFFF))])
        let m = try #require(try ArchiveReader(path: path).next())
        #expect(m.kind == .blockDevice && m.deviceMajor == 4095 && m.deviceMinor == 0xF_FFFF)
    }

    /// A FIFO named as an archive is refused at once (opening it used to wait for a writer forever).
    @Test(.timeLimit(.minutes(1))) func fifoIsRefusedWithoutBlocking() throws {
        let dir = try TempDir()
        let fifo = dir.file("f.tar")
        #expect(mkfifo(fifo, 0o600) == 0)
        #expect(throws: (any Error).self) { _ = try ArchiveReader(path: fifo) }
    }
}

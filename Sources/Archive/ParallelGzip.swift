import CZlib
import Dispatch
import FlashsmithCore
#if canImport(Glibc)
import Glibc
#endif

/// gzip (RFC 1952) written on every core, as pigz does: the input is cut into 128 KiB blocks,
/// each compressed on its own (raw deflate, RFC 1951) with the previous 32 KiB of input as its
/// dictionary and ended by a sync flush (an empty stored block, so blocks end on a byte); the
/// last block ends the deflate stream. The blocks' deflate data, concatenated, is one ordinary
/// deflate stream in one gzip member, which gzip, zlib, busybox and the kernel's initramfs
/// unpacker read like any other.
/// ```
/// 1f 8b 08 00 | mtime 00000000 | xfl 00 | os 03 | deflate(block 0) … deflate(block n, final) | crc32 le | isize le
/// ```
/// The bytes depend on the input, the level and the block size only (not on the number of
/// threads), and memory is a few blocks in flight however large the input.
public final class ParallelGzip: @unchecked Sendable {
    public static let blockSize = 128 << 10
    static let window = 32 << 10
    /// Blocks compressing or waiting to be written at most (2 MiB of input): the producer fills
    /// the next block while the others compress, and waits only when this many are out.
    static let inFlightBlocks = 16

    final class Block: @unchecked Sendable {
        var input: [UInt8] = []
        var dictionary: [UInt8] = []
        var output: [UInt8] = []
        var crc: UInt = 0
        var count = 0
        var last = false
        var error: Int32 = Z_OK
        let done = DispatchSemaphore(value: 0)
    }

    let fd: Int32
    let path: String
    let level: Int32
    var current = Block()
    /// In input order; the head is written first.
    var inFlight: [Block] = []
    var head = 0
    var crc: UInt = 0
    var size: UInt64 = 0
    var offset = 0
    var previousTail: [UInt8] = []
    /// A failure inside libarchive's write callback, reported when libarchive returns.
    var failure: (any Error)?

    public init(descriptor: Int32, path: String, level: Int = 6) throws {
        // zlib's levels; checked here, so a level from the command line never reaches Int32(_:) unchecked.
        guard (0...9).contains(level) else {
            throw ArchiveFailure(path: path, message: "gzip level \(level): expected 0…9", category: .usage)
        }
        fd = descriptor
        self.path = path
        self.level = Int32(level)
        crc = UInt(crc32(0, nil, 0))
        current.input.reserveCapacity(Self.blockSize)
        try emit([0x1F, 0x8B, 0x08, 0x00, 0, 0, 0, 0, 0x00, 0x03])
    }

    func emit(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try FileIO.writeAll(fd, $0, path: path, offset: offset) }
        offset += bytes.count
    }

    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        var rest = bytes[...]
        while !rest.isEmpty {
            let n = min(Self.blockSize - current.input.count, rest.count)
            current.input.append(contentsOf: rest.prefix(n))
            rest = rest.dropFirst(n)
            size &+= UInt64(n)
            if current.input.count == Self.blockSize { try seal(last: false) }
        }
    }

    /// Closes the current block and hands it to a worker; writes finished blocks out in order
    /// while too many are out.
    func seal(last: Bool) throws {
        let b = current
        b.last = last
        b.dictionary = previousTail
        previousTail = Array(b.input.suffix(Self.window))
        current = Block()
        current.input.reserveCapacity(Self.blockSize)
        inFlight.append(b)
        let level = level
        DispatchQueue.global().async {
            Self.compress(b, level: level)
            b.done.signal()
        }
        while inFlight.count - head >= Self.inFlightBlocks { try writeHead() }
    }

    /// Waits for the oldest block and writes it.
    func writeHead() throws {
        let b = inFlight[head]
        b.done.wait()
        head += 1
        if head > 64 {
            inFlight.removeFirst(head)
            head = 0
        }
        guard b.error == Z_OK || b.error == Z_STREAM_END else {
            throw ArchiveFailure(path: path, message: "zlib deflate failed (\(b.error)) at output offset \(hex(offset))", category: .io)
        }
        try emit(b.output)
        b.output = []
        crc = UInt(crc32_combine(uLong(crc), uLong(b.crc), off_t(b.count)))
    }

    /// Writes every block still out.
    func drain() throws {
        while head < inFlight.count { try writeHead() }
        inFlight = []
        head = 0
    }

    static func compress(_ b: Block, level: Int32) {
        var s = z_stream()
        guard flashsmith_deflate_init_raw(&s, level) == Z_OK else {
            b.error = Z_STREAM_ERROR
            return
        }
        defer { deflateEnd(&s) }
        if !b.dictionary.isEmpty {
            b.dictionary.withUnsafeBufferPointer { _ = deflateSetDictionary(&s, $0.baseAddress, uInt($0.count)) }
        }
        b.crc = b.input.withUnsafeBufferPointer { UInt(crc32(0, $0.baseAddress, uInt($0.count))) }
        let bound = Int(deflateBound(&s, uLong(b.input.count))) + 16
        b.output = [UInt8](repeating: 0, count: bound)
        var rc: Int32 = Z_OK
        b.input.withUnsafeMutableBufferPointer { inp in
            b.output.withUnsafeMutableBufferPointer { out in
                s.next_in = inp.baseAddress
                s.avail_in = uInt(inp.count)
                s.next_out = out.baseAddress
                s.avail_out = uInt(out.count)
                rc = deflate(&s, b.last ? Z_FINISH : Z_SYNC_FLUSH)
            }
        }
        let produced = bound - Int(s.avail_out)
        b.output.removeLast(bound - produced)
        b.error = (b.last ? rc == Z_STREAM_END : (rc == Z_OK && s.avail_in == 0)) ? Z_OK : (rc == Z_OK ? Z_BUF_ERROR : rc)
        b.count = b.input.count
        b.input = []
    }

    /// Ends the stream: the last block, then CRC-32 and size.
    public func finish() throws {
        try seal(last: true)
        try drain()
        var trailer: [UInt8] = []
        for v in [UInt32(truncatingIfNeeded: crc), UInt32(truncatingIfNeeded: size)] {
            trailer += [UInt8(v & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v >> 16 & 0xFF), UInt8(v >> 24)]
        }
        try emit(trailer)
    }
}

import FlashsmithCore
import Foundation
import Testing
import TestSupport

/// Sizes from options, configs and headers: signs are no part of a size, ranges are checked where
/// the size is read, and a read never allocates more than the file holds; a FIFO is never opened
/// as if it were a file.
@Suite struct InputLimitsTests {
    @Test(arguments: ["0x-10", "0x+10", "+5", "0x 10", "0x１０", "-0x10"])
    func signsAndStrayCharactersAreNoSize(text: String) {
        #expect(throws: ByteSize.ParseError.self) { try ByteSize(parsing: text) }
    }

    @Test(arguments: [
        ("0x7fffffffffffffff", 1...(16 << 20), "size '0x7fffffffffffffff': expected 1…16MiB, found 9223372036854775807"),
        ("0", 512...(16 << 20), "size '0': expected 512…16MiB, found 0"),
        ("3GiB", 0...(1 << 20), "size '3GiB': expected at most 1MiB, found 3GiB"),
        ("99999999999999999999", 0...1, "size '99999999999999999999': too large (expected e.g. 131072, 0x20000, 128KiB, 128k, 2MiB)"),
    ])
    func rangesAreCheckedWhereTheSizeIsRead(text: String, range: ClosedRange<Int>, message: String) {
        #expect {
            _ = try ByteSize(parsing: text, in: range)
        } throws: { error in
            "\(error)" == message
        }
        #expect((try? ByteSize(parsing: "4KiB", in: 1...(8 << 10)))?.bytes == 4096)
    }

    /// A count from a config or a header far beyond the file: a short read, nothing allocated
    /// (the old read allocated the count first: 2^50 bytes trapped, 1 GiB for a 4 KiB file).
    @Test(arguments: [1 << 50, Int.max, Int.max - 10, 1 << 30])
    func readsBeyondTheFileAllocateNothing(count: Int) throws {
        let dir = try TempDir()
        let f = try dir.write("small", [UInt8](repeating: 7, count: 4096))
        #expect {
            _ = try FileIO.read(f, offset: 16, count: count)
        } throws: { error in
            (error as? FileError) == .shortRead(path: f, offset: 16, expected: count, found: 4080)
        }
        #expect(throws: FileError.self) { _ = try FileIO.read(f, offset: Int.max - 1, count: 16) }
        #expect(throws: FileError.self) { _ = try FileIO.read(f, offset: 0, count: -1) }
        #expect(try FileIO.read(f, offset: -16, count: 16) == [UInt8](repeating: 7, count: 16))
    }

    /// A FIFO (no writer) given as an input: refused at once, by every reading helper.
    @Test(.timeLimit(.minutes(1))) func fifoIsRefusedWithoutBlocking() throws {
        let dir = try TempDir()
        let fifo = dir.file("fifo")
        #expect(mkfifo(fifo, 0o600) == 0)
        let expected = FileError.notARegularFile(path: fifo, kind: "a special file")
        #expect(throws: expected) { _ = try FileIO.readAll(fifo) }
        #expect(throws: expected) { _ = try FileIO.read(fifo, offset: 0, count: 4) }
        #expect(throws: expected) { _ = try FileIO.size(of: fifo) }
        #expect(throws: expected) { try FileIO.forEachChunk(fifo, offset: 0, count: 4) { _ in } }
        #expect(throws: FileError.notARegularFile(path: dir.path, kind: "a directory")) { _ = try FileIO.readAll(dir.path) }
        // A device where a file is read whole: refused unless the caller means a device.
        #expect(throws: FileError.notARegularFile(path: "/dev/zero", kind: "a character device")) { _ = try FileIO.readAll("/dev/zero") }
        #expect(try FileIO.read("/dev/zero", offset: 0, count: 8) == [UInt8](repeating: 0, count: 8))
    }
}

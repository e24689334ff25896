import Foundation
import Testing
import TestSupport
@testable import Archive

/// gzip written on every core: what gzip(1), Python's zlib and busybox read back is the input, for
/// sizes around the block boundaries; the bytes do not depend on anything but the input.
@Suite struct ParallelGzipTests {
    static func compress(_ input: [UInt8], to path: String, chunk: Int = 10_000) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        try #require(fd >= 0)
        defer { close(fd) }
        let gz = try ParallelGzip(descriptor: fd, path: path)
        var i = 0
        while i < input.count {
            let n = min(chunk, input.count - i)
            try input[i..<i + n].withUnsafeBytes { try gz.write($0) }
            i += n
        }
        try gz.finish()
    }

    static func sample(_ n: Int) -> [UInt8] {
        var rng = SystemRandomNumberGenerator()
        var out: [UInt8] = []
        out.reserveCapacity(n)
        let words = ["flash", "smith", "nand", "ubi", "erase", "block", "page", "oob"]
        while out.count < n {
            if Int.random(in: 0..<4, using: &rng) == 0 {
                out += (0..<64).map { _ in UInt8.random(in: 0...255, using: &rng) }
            } else {
                out += Array((words.randomElement(using: &rng) ?? "x").utf8) + [32]
            }
        }
        return Array(out.prefix(n))
    }

    @Test(arguments: [0, 1, 1000, ParallelGzip.blockSize - 1, ParallelGzip.blockSize, ParallelGzip.blockSize + 1, 17 * ParallelGzip.blockSize + 5, 5 << 20])
    func gzipReadsItBack(size: Int) throws {
        guard toolsAvailable("gzip") else { return }
        let dir = try TempDir()
        let input = Self.sample(size)
        _ = try dir.write("in", input)
        try Self.compress(input, to: dir.file("a.gz"))
        let d = try run(try #require(which("gzip")), ["-dc", dir.file("a.gz")])
        #expect(d.status == 0, "\(d.err)")
        #expect(d.stdout == input)
        // gzip -l reads the trailer's size; -t checks the CRC.
        #expect(try run(try #require(which("gzip")), ["-t", dir.file("a.gz")]).status == 0)
        if toolsAvailable("python3") {
            let p = try run(try #require(which("python3")), ["-c", "import zlib,sys; d=open(sys.argv[1],'rb').read(); print(zlib.decompress(d, 31) == open(sys.argv[2],'rb').read())", dir.file("a.gz"), dir.file("in")])
            #expect(p.out.hasPrefix("True"), "\(p.out)\(p.err)")
        }
        if toolsAvailable("busybox") {
            let b = try run(try #require(which("busybox")), ["gunzip", "-c", dir.file("a.gz")])
            #expect(b.stdout == input, "busybox gunzip: \(b.err)")
        }
    }

    @Test func sameBytesWhateverTheWriteSizes() throws {
        let dir = try TempDir()
        let input = Self.sample(3 << 20)
        try Self.compress(input, to: dir.file("a.gz"), chunk: 4096)
        try Self.compress(input, to: dir.file("b.gz"), chunk: 1 << 20)
        #expect(try readBytes(dir.file("a.gz")) == (try readBytes(dir.file("b.gz"))))
        // gzip header: deflate, no name, mtime 0, Unix.
        #expect(Array(try readBytes(dir.file("a.gz")).prefix(10)) == [0x1F, 0x8B, 8, 0, 0, 0, 0, 0, 0, 3])
    }
}

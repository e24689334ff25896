import ArgumentParser
import FlashsmithCore
#if canImport(Glibc)
import Glibc
#endif

/// `flashsmith crc32 FILE…`: the CRCs every format here uses, streamed in 1 MiB chunks.
struct CRC32Command: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "crc32",
        abstract: "Print the CRC-32 of files (zlib convention, as gzip, uImage and env blobs use; --raw for UBI/JFFS2's non-inverted one)."
    )

    @Argument(help: "Files ('-' for standard input).")
    var files: [String]

    @Flag(name: .long, help: "Non-inverted CRC (Linux crc32_le) starting from --seed (UBI: 0xffffffff, JFFS2: 0).")
    var raw = false

    @Option(name: .long, help: "Initial register for --raw (default 0xffffffff).")
    var seed: String = "0xffffffff"

    @OptionGroup var json: JSONOption

    func run() throws {
        guard let s = parseUInt32(seed) else { throw ValidationError("--seed: expected a 32-bit number, found '\(seed)'") }
        var results: [JSON] = []
        var text = ""
        for f in files {
            let fd: Int32 = f == "-" ? STDIN_FILENO : try FileIO.openForReading(f, devices: true)
            defer { if fd != STDIN_FILENO { close(fd) } }
            var crc: UInt32 = raw ? s : ~UInt32(0)
            var total = 0
            let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
            defer { chunk.deallocate() }
            while true {
                let n = read(fd, chunk.baseAddress, chunk.count)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw FileError.readFailed(path: f, offset: total, reason: FileIO.errnoText())
                }
                if n == 0 { break }
                crc = CRC32.raw(UnsafeRawBufferPointer(rebasing: chunk[0..<n]), seed: crc)
                total += n
            }
            if !raw { crc = ~crc }
            let h = String(crc, radix: 16)
            let hexText = "0x" + String(repeating: "0", count: 8 - h.count) + h
            results.append(.object([("file", .string(f)), ("crc32", .string(hexText)), ("bytes", .int(total))]))
            text += "\(hexText)  \(f)\n"
        }
        try output(json.json ? JSON.array(results).encoded() + "\n" : text)
    }
}

/// A 32-bit unsigned number written as C does (`0x…`, decimal).
private func parseUInt32(_ s: String) -> UInt32? {
    let t = s.lowercased()
    if t.hasPrefix("0x") { return UInt32(t.dropFirst(2), radix: 16) }
    return UInt32(t)
}

import FlashsmithCore
#if canImport(Glibc)
import Glibc
#endif

/// The `inspect` registry entry for raw NAND images with OOB (page + OOB per page): recognised when,
/// for one of the common geometries (512+16, 2048+64, 4096+128, 4096+224), the size is a whole number
/// of pages and the OOB of the first written pages holds the ECC Linux computes for them (Hamming,
/// BCH-4 or BCH-8), or every page is erased. Reports the geometry, the ECC, how many pages are
/// written, and the blocks marked bad (OOB byte 0, or 5 on small pages, of a block's first page).
public enum NANDRawFormat: InspectableFormat {
    public static let name = "nand-raw"
    public static let summary = "raw NAND image with OOB"

    static let geometries: [(Int, Int)] = [(2048, 64), (4096, 128), (4096, 224), (512, 16)]

    public static func probe(path: String, prefix: [UInt8], fileSize: Int) -> FormatDescription? {
        for (page, oob) in geometries where fileSize % (page + oob) == 0 && fileSize >= 64 * (page + oob) {
            guard let g = try? NANDGeometry(pageSize: page, oobSize: oob, eraseBlockSize: page * 64) else { continue }
            let raw = page + oob
            for ecc in [NANDRawImage.ECC.hamming, .bch8, .bch4] {
                guard let enc = try? NANDRawImage.encoder(ecc, g) else { continue }
                // The first few written pages (searched through the first 256 MiB, 1 MiB at a time) must
                // carry exactly this ECC; an image erased all the way is accepted as such.
                var checked = 0
                var ok = true
                var code = [UInt8](repeating: 0, count: enc.positions.count)
                let window = (1 << 20) / raw * raw
                var base = 0
                scan: while base < min(fileSize, 256 << 20) && checked < 4 {
                    guard let chunk = try? FileIO.read(path, offset: base, count: min(window, fileSize - base)) else { return nil }
                    var offset = 0
                    while offset + raw <= chunk.count && checked < 4 {
                        let data = chunk[offset..<(offset + page)]
                        if !data.allSatisfy({ $0 == 0xFF }) {
                            data.withUnsafeBytes { d in code.withUnsafeMutableBufferPointer { enc.compute(d, $0) } }
                            for (i, pos) in enc.positions.enumerated() where chunk[offset + page + pos] != code[i] {
                                ok = false
                                break scan
                            }
                            checked += 1
                        }
                        offset += raw
                    }
                    base += window
                }
                guard ok else { continue }
                // All erased: only a size that is whole erase blocks of page + OOB says NAND.
                if checked == 0 && fileSize % (64 * raw) != 0 { continue }
                let pages = fileSize / raw
                let bbm = page == 512 ? 5 : 0
                guard let found = try? blockGeometry(path, page: page, raw: raw, pages: pages, bbm: bbm) else { return nil }
                let ppb = found.pagesPerBlock
                let blocks = pages / ppb
                let bad = found.marked.map { $0 / ppb }
                let lines: [(String, String)] = [
                    ("geometry", "\(page)-byte pages + \(oob) OOB; \(pages) pages (\(blocks) blocks of \(ppb) pages, \(found.how))"),
                    ("ECC", checked == 0 ? "unknown (every page erased)" : "\(ecc.rawValue) (checked on the first \(checked) written page(s))"),
                    ("main area", "\(pages * page) bytes (\((pages * page) >> 20) MiB)"),
                    ("bad blocks", bad.isEmpty ? "none marked" : bad.prefix(20).map(String.init).joined(separator: ", ") + (bad.count > 20 ? " …" : "")),
                ]
                let json = JSON.object([
                    ("format", .string(name)), ("pageSize", .int(page)), ("oobSize", .int(oob)), ("pages", .int(pages)), ("pagesPerBlock", .int(ppb)),
                    ("ecc", .string(checked == 0 ? "unknown" : ecc.rawValue)),
                    ("badBlocks", .array(bad.map { .int($0) })),
                ])
                return FormatDescription(format: name, title: "\(path): raw NAND image with OOB", lines: lines, json: json)
            }
        }
        return nil
    }

    /// Pages per erase block that chips have (a block is 32 … 512 pages).
    static let blockSizes = [32, 64, 128, 256, 512]
    /// Blocks whose marker is read (the report lists bad blocks of the first 2^16 × 32 pages).
    static let maxSampledPages = 65536 * 32

    /// Pages per erase block, read from the image: every block starts with a UBI EC header in a
    /// UBI image (the smallest spacing between two is the block), else each page marked bad starts
    /// a bad block, which is erased after its marker up to the data that nandwrite moved past it
    /// (the block is at most that run, and its first page's number is a multiple of it), else 64,
    /// said to be assumed. Also returns the marked pages (OOB byte `bbm` of a block's first page
    /// not 0xff). One descriptor: two small reads per 32 pages, one read per marked page.
    static func blockGeometry(_ path: String, page: Int, raw: Int, pages: Int, bbm: Int) throws -> (pagesPerBlock: Int, how: String, marked: [Int]) {
        let fd = try FileIO.openForReading(path)
        defer { close(fd) }
        func readAt(_ offset: Int, _ count: Int) -> [UInt8]? {
            var b = [UInt8](repeating: 0, count: count)
            let n = b.withUnsafeMutableBytes { pread(fd, $0.baseAddress, count, off_t(offset)) }
            return n == count ? b : nil
        }
        var ubiPages: [Int] = []
        var marked: [Int] = []
        var p = 0
        while p < min(pages, maxSampledPages) {
            if let head = readAt(p * raw, 4), head == [0x55, 0x42, 0x49, 0x23] { ubiPages.append(p) }
            if let m = readAt(p * raw + page + bbm, 1), m[0] != 0xFF { marked.append(p) }
            p += blockSizes[0]
        }
        let spacings = zip(ubiPages, ubiPages.dropFirst()).map { $1 - $0 }
        if let s = spacings.min(), blockSizes.contains(s), ubiPages.allSatisfy({ $0 % s == 0 }) {
            return (s, "from the UBI headers' spacing", marked.filter { $0 % s == 0 })
        }
        var candidates = Set(blockSizes.filter { $0 <= pages })
        for m in marked.prefix(16) {
            let after = min(blockSizes.last ?? 512, pages - m - 1)
            guard after > 0, let bytes = readAt((m + 1) * raw, after * raw) else { continue }
            var run = 0
            while run < after, bytes[(run * raw)..<((run + 1) * raw)].allSatisfy({ $0 == 0xFF }) { run += 1 }
            let bound = run < after ? run + 1 : Int.max
            candidates = candidates.filter { $0 <= bound && m % $0 == 0 }
        }
        if !marked.isEmpty, let s = candidates.max() {
            return (s, "from the bad-block markers", marked.filter { $0 % s == 0 })
        }
        let assumed = 64
        return (assumed, "assumed: nothing in the image tells the block size", marked.filter { $0 % assumed == 0 })
    }
}

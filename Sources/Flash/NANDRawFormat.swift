import FlashsmithCore

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
                let blocks = pages / 64
                var bad: [Int] = []
                let bbm = page == 512 ? 5 : 0
                for b in 0..<min(blocks, 65536) {
                    if let x = try? FileIO.read(path, offset: b * 64 * raw + page + bbm, count: 1), x.first != 0xFF { bad.append(b) }
                }
                let lines: [(String, String)] = [
                    ("geometry", "\(page)-byte pages + \(oob) OOB; \(pages) pages (\(blocks) blocks of 64 pages)"),
                    ("ECC", checked == 0 ? "unknown (every page erased)" : "\(ecc.rawValue) (checked on the first \(checked) written page(s))"),
                    ("main area", "\(pages * page) bytes (\((pages * page) >> 20) MiB)"),
                    ("bad blocks", bad.isEmpty ? "none marked" : bad.prefix(20).map(String.init).joined(separator: ", ") + (bad.count > 20 ? " …" : "")),
                ]
                let json = JSON.object([
                    ("format", .string(name)), ("pageSize", .int(page)), ("oobSize", .int(oob)), ("pages", .int(pages)), ("ecc", .string(checked == 0 ? "unknown" : ecc.rawValue)),
                    ("badBlocks", .array(bad.map { .int($0) })),
                ])
                return FormatDescription(format: name, title: "\(path): raw NAND image with OOB", lines: lines, json: json)
            }
        }
        return nil
    }
}

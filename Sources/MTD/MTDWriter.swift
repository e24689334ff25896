import Flash
import FlashsmithCore
#if canImport(Glibc)
import Glibc
#endif

/// Writing images to MTD devices as `nandwrite`/`ubiformat` do, through libmtd: bad blocks skipped
/// (checked before anything is erased, so an image that no longer fits fails without touching the
/// device), each block erased, written and read back.
public enum MTDWriter {
    public struct Report: Sendable {
        public var blocksWritten: Int
        public var skippedBad: [Int]
        public var erasedOnly: Int = 0
        public var meanEraseCounter: UInt64 = 0
    }

    static func goodBlocks(_ dev: MTDDevice) throws -> (good: [Int], bad: [Int]) {
        var good: [Int] = []
        var bad: [Int] = []
        for b in 0..<dev.eraseBlockCount {
            if try dev.isBad(b) { bad.append(b) } else { good.append(b) }
        }
        return (good, bad)
    }

    /// The image in erase-block chunks (the last padded with 0xff to a page).
    static func chunks(_ image: String, blockSize: Int, page: Int, _ body: (Int, [UInt8]) throws -> Void) throws {
        let size = try FileIO.size(of: image)
        var k = 0
        var off = 0
        while off < size {
            let n = min(blockSize, size - off)
            var data = try FileIO.read(image, offset: off, count: n)
            let padded = (n + page - 1) / page * page
            if padded > n { data += [UInt8](repeating: 0xFF, count: padded - n) }
            try body(k, data)
            k += 1
            off += n
        }
    }

    /// `flash write`: the image into consecutive good blocks from the start, verified by reading back.
    public static func write(_ dev: MTDDevice, image: String, progress: (Int, Int) -> Void = { _, _ in }) throws -> Report {
        let size = try FileIO.size(of: image)
        guard size > 0 else { throw MTDError(device: dev.path, operation: "write", block: nil, reason: "\(image) is empty", category: .data) }
        let needed = (size + dev.eraseBlockSize - 1) / dev.eraseBlockSize
        let (good, bad) = try goodBlocks(dev)
        guard good.count >= needed else {
            throw MTDError(device: dev.path, operation: "write", block: nil, reason: "\(image) needs \(needed) good erase blocks, the device has \(good.count) (\(dev.eraseBlockCount) blocks, \(bad.isEmpty ? "none bad" : "bad: " + bad.map(String.init).joined(separator: ",")))", category: .data)
        }
        try chunks(image, blockSize: dev.eraseBlockSize, page: dev.minIOSize) { k, data in
            let b = good[k]
            try dev.erase(b)
            try dev.write(block: b, data)
            let back = try dev.read(block: b, count: data.count)
            guard back == data else { throw MTDError(device: dev.path, operation: "verify", block: b, reason: "read back differs from \(image) at block \(k) of it") }
            progress(k + 1, needed)
        }
        // Blocks after the image are left as they were (nandwrite does the same).
        let last = good[needed - 1]
        return Report(blocksWritten: needed, skippedBad: bad.filter { $0 < last })
    }

    /// `flash ubiformat`: a UBI image written as ubiformat writes it: every good PEB's erase counter
    /// kept and incremented (the mean for PEBs without a valid EC header), the image's PEBs written
    /// without their trailing 0xff pages, the PEBs past the image formatted (EC header only).
    public static func ubiformat(_ dev: MTDDevice, image: String, progress: (Int, Int) -> Void = { _, _ in }) throws -> Report {
        let size = try FileIO.size(of: image)
        guard size % dev.eraseBlockSize == 0 else {
            throw MTDError(device: dev.path, operation: "ubiformat", block: nil, reason: "\(image) is \(size) bytes, not a whole number of \(dev.eraseBlockSize)-byte PEBs", category: .data)
        }
        let pebs = size / dev.eraseBlockSize
        let (good, bad) = try goodBlocks(dev)
        guard good.count >= pebs else {
            throw MTDError(device: dev.path, operation: "ubiformat", block: nil, reason: "\(image) has \(pebs) PEBs, the device has \(good.count) good ones (bad: \(bad.map(String.init).joined(separator: ",")))", category: .data)
        }
        let headerSize = UBIMedia.headerSize
        let first = try FileIO.read(image, offset: 0, count: headerSize)
        guard let template = UBIMedia.ECHeader.decode(first) else {
            throw MTDError(device: dev.path, operation: "ubiformat", block: nil, reason: "\(image): expected a UBI image (EC header UBI# at 0)", category: .data)
        }
        // Erase counters on the device now.
        var counters: [Int: UInt64] = [:]
        for b in good {
            if let h = UBIMedia.ECHeader.decode(try dev.read(block: b, count: headerSize)) { counters[b] = h.ec }
        }
        let mean = counters.isEmpty ? 0 : counters.values.reduce(0, +) / UInt64(counters.count)
        // The image's EC header (offsets, image sequence, version) with this PEB's erase counter.
        func header(ec: UInt64) -> [UInt8] {
            var h = template
            h.ec = ec
            return h.encode()
        }
        for (k, b) in good.enumerated() {
            let ec = (counters[b] ?? mean) + 1
            try dev.erase(b)
            if k < pebs {
                var data = try FileIO.read(image, offset: k * dev.eraseBlockSize, count: dev.eraseBlockSize)
                data.replaceSubrange(0..<headerSize, with: header(ec: ec))
                // Not the trailing all-0xff pages: they stay erased, as UBI expects.
                var end = data.count
                while end >= dev.minIOSize, data[(end - dev.minIOSize)..<end].allSatisfy({ $0 == 0xFF }) { end -= dev.minIOSize }
                if end > 0 { try dev.write(block: b, Array(data[0..<end])) }
            } else {
                var h = header(ec: ec)
                h += [UInt8](repeating: 0xFF, count: max(0, dev.minIOSize - h.count))
                try dev.write(block: b, Array(h.prefix(max(dev.minIOSize, headerSize))))
            }
            progress(k + 1, good.count)
        }
        return Report(blocksWritten: pebs, skippedBad: bad, erasedOnly: good.count - pebs, meanEraseCounter: mean)
    }

    /// `flash read`: the whole device (bad blocks as 0xff), with `oob` each page followed by its OOB.
    public static func read(_ dev: MTDDevice, to path: String, oob: Bool) throws -> Report {
        var out = try AtomicFile(destination: path, durable: false)
        var bad: [Int] = []
        let pages = dev.eraseBlockSize / dev.minIOSize
        for b in 0..<dev.eraseBlockCount {
            if try dev.isBad(b) {
                bad.append(b)
                let blank = [UInt8](repeating: 0xFF, count: oob ? pages * (dev.minIOSize + dev.oobSize) : dev.eraseBlockSize)
                try out.write(blank)
                continue
            }
            let data = try dev.read(block: b, count: dev.eraseBlockSize)
            if oob {
                for p in 0..<pages {
                    try out.write(Array(data[(p * dev.minIOSize)..<((p + 1) * dev.minIOSize)]))
                    try out.write(try dev.readOOB(pageAt: b * dev.eraseBlockSize + p * dev.minIOSize))
                }
            } else {
                try out.write(data)
            }
        }
        try out.commit()
        return Report(blocksWritten: dev.eraseBlockCount, skippedBad: bad)
    }
}

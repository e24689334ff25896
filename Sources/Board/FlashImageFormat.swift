import BootImage
import Flash
import FlashsmithCore
#if canImport(Glibc)
import Glibc
#endif

/// The `inspect` registry entry for raw flash images without OOB (a chip's main area, as `flashsmith
/// build` writes NAME.img, `nanddump --omitoob` reads, or a NOR bank is dumped): nothing in such an
/// image says "flash", so it is recognised by what lies on its erase-block boundaries. Every 4 KiB
/// boundary is looked at (the smallest erase block: SPI NOR sectors; 16 KiB NAND blocks and 64 KiB
/// NOR sectors are multiples), the file read once in 1 MiB windows:
/// ```
/// "UBI#" EC header with a good CRC ........ UBI (a run of PEBs; PEB size from the spacing)
/// uImage header with a good header CRC .... uImage (name, type, size)
/// FDT header (0xd00dfeed) of sane size .... FIT or device tree (totalsize)
/// CRC-32 of a U-Boot env (single or redundant layout, 8 KiB … 256 KiB) ... environment
/// ```
/// and it is claimed when the size is whole 4 KiB blocks, at least 256 KiB, and something was found.
/// Registered last: a file that is one of those formats from its first byte is that format.
public enum FlashImageFormat: InspectableFormat {
    public static let name = "flash-image"
    public static let summary = "raw flash image without OOB (partitions found on erase-block boundaries)"

    static let step = 4 << 10
    static let window = 1 << 20
    /// The largest PEB looked for after a UBI run's first EC header.
    static let maxPEB = 4 << 20

    /// Sequential reads through one descriptor, a 1 MiB window at a time (offsets only grow).
    final class Reader {
        let fd: Int32
        let fileSize: Int
        var base = 0
        var bytes: [UInt8] = []

        init(_ path: String, fileSize: Int) throws {
            fd = try FileIO.openForReading(path)
            self.fileSize = fileSize
        }

        deinit { close(fd) }

        /// `count` bytes at `offset` (≤ a window), or nil past the end or on a read error.
        func bytes(at offset: Int, count: Int) -> ArraySlice<UInt8>? {
            guard offset >= 0, count <= window, offset <= fileSize - count else { return nil }
            if offset < base || offset + count > base + bytes.count {
                let n = min(window, fileSize - offset)
                var b = [UInt8](repeating: 0, count: n)
                var got = 0
                while got < n {
                    let r = b.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + got, n - got, off_t(offset + got)) }
                    if r < 0 && errno == EINTR { continue }
                    guard r > 0 else { return nil }
                    got += r
                }
                base = offset
                bytes = b
            }
            return bytes[(offset - base)..<(offset - base + count)]
        }
    }
    static let envSizes = [0x2000, 0x4000, 0x8000, 0x10000, 0x20000, 0x40000]

    struct Found {
        var offset: Int
        var kind: String
        var size: Int
        var detail: String
    }

    public static func probe(path: String, prefix: [UInt8], fileSize: Int) -> FormatDescription? {
        guard fileSize >= 256 << 10, fileSize % step == 0 else { return nil }
        var found: [Found] = []
        // A UBI run: PEBs with EC headers of one image sequence number; the PEB size is the
        // smallest distance between two of them (4 KiB boundaries inside PEBs have no header).
        var ubi: (start: Int, last: Int, pebs: Int, peb: Int, seq: UInt32)?
        func closeUBI() {
            if let u = ubi {
                let peb = u.pebs > 1 ? u.peb : step
                found.append(Found(offset: u.start, kind: "ubi", size: u.last - u.start + peb, detail: "UBI: \(u.pebs) PEB(s) with EC headers\(u.pebs > 1 ? " of \(peb >> 10) KiB" : ""), image sequence \(u.seq)"))
            }
            ubi = nil
        }
        guard let reader = try? Reader(path, fileSize: fileSize) else { return nil }
        var offset = 0
        while offset < fileSize {
            guard let slice = reader.bytes(at: offset, count: 64) else { return nil }
            let head = Array(slice)
            if let ec = UBIMedia.ECHeader.decode(head) {
                if var u = ubi, u.seq == ec.imageSeq {
                    u.peb = u.pebs == 1 ? offset - u.last : min(u.peb, offset - u.last)
                    u.pebs += 1
                    u.last = offset
                    ubi = u
                } else {
                    closeUBI()
                    ubi = (offset, offset, 1, 0, ec.imageSeq)
                }
                offset += step
                continue
            }
            // Inside a UBI run's PEBs only the next EC header counts (a FIT in a static volume may sit
            // on a 4 KiB boundary of its PEB); a run ends where no header follows its last PEB.
            if let u = ubi {
                if offset - u.last < (u.pebs > 1 ? u.peb : maxPEB) {
                    offset += step
                    continue
                }
                closeUBI()
            }
            if let item = identify(path: path, offset: offset, head: head, fileSize: fileSize) {
                found.append(item)
                offset += max(step, (item.size + step - 1) / step * step)
                continue
            }
            offset += step
        }
        closeUBI()
        guard !found.isEmpty else { return nil }
        var lines: [(String, String)] = [("size", "\(fileSize) bytes (\(fileSize >> 20) MiB)")]
        for f in found { lines.append((hex(f.offset), f.detail)) }
        var erased = 0
        // How much of the image is erased (0xff), in 4 KiB blocks past what was found.
        var block = 0
        while block < fileSize / step {
            let at = block * step
            if !found.contains(where: { at >= $0.offset && at < $0.offset + $0.size }),
               let b = reader.bytes(at: at, count: step), b.allSatisfy({ $0 == 0xFF }) {
                erased += 1
            }
            block += 1
        }
        lines.append(("erased", "\(erased * step) bytes in \(erased) block(s) of 4 KiB outside what is listed"))
        let json = JSON.object([
            ("format", .string(name)), ("size", .int(fileSize)), ("erasedBytes", .int(erased * step)),
            ("found", .array(found.map { .object([("offset", .int($0.offset)), ("kind", .string($0.kind)), ("size", .int($0.size)), ("detail", .string($0.detail))]) })),
        ])
        return FormatDescription(format: name, title: "\(path): raw flash image without OOB", lines: lines, json: json)
    }

    static func identify(path: String, offset: Int, head: [UInt8], fileSize: Int) -> Found? {
        func be32(_ i: Int) -> Int { Int(head[i]) << 24 | Int(head[i + 1]) << 16 | Int(head[i + 2]) << 8 | Int(head[i + 3]) }
        // uImage: magic and a header CRC that checks.
        if be32(0) == 0x2705_1956 {
            var h = head
            let crc = UInt32(be32(4))
            h.replaceSubrange(4..<8, with: [0, 0, 0, 0])
            if CRC32.zlib(h) == crc, let hdr = try? UImage.Header.decode(head) {
                let name = String(decoding: hdr.name, as: UTF8.self)
                return Found(offset: offset, kind: "uimage", size: 64 + Int(hdr.size), detail: "uImage '\(name)': \(hdr.typeDescription), \(hdr.size) bytes of data")
            }
        }
        // Flattened device tree: a FIT or a DTB (a sane header: version 16 or 17, blocks inside it).
        if be32(0) == 0xD00D_FEED {
            let total = be32(4), structs = be32(8), strings = be32(12), version = be32(20)
            if total >= 40, offset + total <= fileSize, (16...17).contains(version), structs < total, strings <= total,
               let blob = try? FileIO.read(path, offset: offset, count: min(total, 1 << 20)) {
                // A FIT has an /images node: FDT_BEGIN_NODE then "images" (near the start: only the
                // root's properties come before it).
                let isFIT = blob.firstRange(of: [0, 0, 0, 1] + Array("images\0".utf8)) != nil
                return Found(offset: offset, kind: isFIT ? "fit" : "dtb", size: total, detail: isFIT ? "FIT, \(total) bytes" : "device tree blob, \(total) bytes")
            }
        }
        // U-Boot environment: CRC-32 over the data, single (data at 4) or redundant (flag at 4, data
        // at 5). Only where the data looks like one (name=value text) is a CRC computed: one read of
        // the largest size, the CRC carried from size to size.
        let crc = UInt32(head[0]) | UInt32(head[1]) << 8 | UInt32(head[2]) << 16 | UInt32(head[3]) << 24
        guard crc != 0xFFFF_FFFF, crc != 0 else { return nil }
        func looksLikeEnv(_ start: Int) -> Bool {
            let text = head[start...]
            guard let end = text.firstIndex(of: 0), end > start, let eq = text[..<end].firstIndex(of: 0x3D), eq > start else { return false }
            return text[..<end].allSatisfy { $0 >= 0x20 && $0 < 0x7F }
        }
        for (dataStart, layout) in [(4, "single"), (5, "redundant")] where looksLikeEnv(dataStart) {
            let largest = envSizes.last { offset + $0 <= fileSize } ?? 0
            guard largest > 0, let env = try? FileIO.read(path, offset: offset, count: largest) else { continue }
            var running: UInt32 = 0
            var done = dataStart
            for size in envSizes where size <= largest {
                running = CRC32.zlib(env[done..<size], previous: running)
                done = size
                guard running == crc else { continue }
                var count = 0
                var i = dataStart
                while i < size, env[i] != 0 {
                    while i < size, env[i] != 0 { i += 1 }
                    count += 1
                    i += 1
                }
                let flag = layout == "redundant" ? ", flag \(env[4])" : ""
                return Found(offset: offset, kind: "uboot-env", size: size, detail: "U-Boot environment (\(layout) copy\(flag)), \(hex(size)) bytes, \(count) variables")
            }
        }
        return nil
    }
}

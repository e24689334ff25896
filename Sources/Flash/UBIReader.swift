import FlashsmithCore
#if canImport(Glibc)
import Glibc
#endif

/// Reads any UBI image (ubinize's, Flashsmith's, a dump of a UBI partition), PEB by PEB: every EC
/// and VID header CRC, every static LEB's data CRC, both copies of the volume table and each of its
/// records. The PEB size is found from where the next EC header starts, unless given.
public struct UBIImageInfo: Sendable {
    public struct Volume: Sendable {
        public var id: Int
        public var record: UBIMedia.VolumeRecord
        public var name: String
        public var lebs: Int
        public var dataBytes: Int
    }

    public var path: String
    public var pebSize: Int
    public var pebs: Int
    public var vidHeaderOffset: Int
    public var dataOffset: Int
    public var imageSeqs: [UInt32]
    public var ecRange: (UInt64, UInt64)
    public var freePEBs: Int
    public var volumes: [Volume]
    /// Every problem found, one line each ("PEB 12: VID header CRC …").
    public var problems: [String]

    public struct Failure: FlashsmithError, Equatable {
        public var message: String
        public var category: ErrorCategory { .data }
        public var description: String { message }
        public init(message: String) { self.message = message }
    }

    /// An EC header with a good CRC (whatever its counter says: that is reported as a problem).
    public static func looksLikeUBI(_ prefix: [UInt8]) -> Bool {
        prefix.count >= UBIMedia.headerSize && UBIMedia.headerProblem(prefix, magic: UBIMedia.ecMagic, name: "EC") == nil
    }

    /// PEB sizes `read` takes when given one.
    public static let pebSizeRange = 512...(16 << 20)

    /// The PEB size: the smallest power of two (4 KiB … 2 MiB) at which another valid EC header sits.
    static func findPEBSize(_ path: String, fileSize: Int) throws -> Int {
        var p = 4096
        while p <= 2 << 20 && p < fileSize {
            let h = try FileIO.read(path, offset: p, count: 64)
            if looksLikeUBI(h) { return p }
            p <<= 1
        }
        if fileSize <= 2 << 20 && fileSize.nonzeroBitCount == 1 { return fileSize }
        throw Failure(message: "\(path): cannot tell the PEB size (no second EC header at a power of two up to 2 MiB): give it")
    }

    public static func read(_ path: String, pebSize given: Int? = nil) throws -> UBIImageInfo {
        let size = try FileIO.size(of: path)
        let head = try FileIO.read(path, offset: 0, count: min(size, 64))
        guard looksLikeUBI(head) else {
            throw Failure(message: "\(path): expected a UBI EC header (\"UBI#\" with a valid CRC) at offset 0, found \(hexString(head.prefix(4)))")
        }
        if let given, !pebSizeRange.contains(given) {
            throw Failure(message: "\(path): PEB size \(given): expected \(ByteSize.describe(pebSizeRange))")
        }
        let peb = try given ?? findPEBSize(path, fileSize: size)
        guard size % peb == 0 else { throw Failure(message: "\(path): \(size) bytes is not a whole number of \(peb)-byte PEBs") }
        let vidOff = Int(UBIMedia.get(head, UInt32.self, at: UBIMedia.ecVIDOffset))
        let dataOff = Int(UBIMedia.get(head, UInt32.self, at: UBIMedia.ecDataOffset))
        guard vidOff + 64 <= peb, dataOff < peb, dataOff >= vidOff + 64 else {
            throw Failure(message: "\(path): EC header at 0: VID offset \(vidOff), data offset \(dataOff) do not fit a \(peb)-byte PEB")
        }
        var info = UBIImageInfo(path: path, pebSize: peb, pebs: size / peb, vidHeaderOffset: vidOff, dataOffset: dataOff, imageSeqs: [], ecRange: (UInt64.max, 0), freePEBs: 0, volumes: [], problems: [])
        var seqs = Set<UInt32>()
        var lebs: [Int: (count: Int, bytes: Int)] = [:]
        var vtblCopies: [[UInt8]] = []
        let fd = try FileIO.openForReading(path, devices: true)
        defer { close(fd) }
        var buf = [UInt8](repeating: 0, count: peb)
        for n in 0..<info.pebs {
            try buf.withUnsafeMutableBytes { b in
                var got = 0
                while got < peb {
                    let r = pread(fd, b.baseAddress! + got, peb - got, off_t(n * peb + got))
                    if r < 0 && errno == EINTR { continue }
                    guard r > 0 else { throw FileError.shortRead(path: path, offset: n * peb + got, expected: peb, found: got) }
                    got += r
                }
            }
            let ec = buf[0..<64]
            if ec.allSatisfy({ $0 == 0xFF }) {
                info.freePEBs += 1
                continue
            }
            if let p = UBIMedia.headerProblem(ec, magic: UBIMedia.ecMagic, name: "EC") {
                info.problems.append("PEB \(n): \(p)")
                continue
            }
            let count = UBIMedia.get(ec, UInt64.self, at: UBIMedia.ecCount)
            if count > UInt64(UBIMedia.maxEraseCounter) {
                info.problems.append("PEB \(n): erase counter \(count): expected at most \(UBIMedia.maxEraseCounter) (UBI_MAX_ERASECOUNTER)")
            } else {
                info.ecRange = (min(info.ecRange.0, count), max(info.ecRange.1, count))
            }
            seqs.insert(UBIMedia.get(ec, UInt32.self, at: UBIMedia.ecImageSeq))
            let vid = buf[vidOff..<(vidOff + 64)]
            if vid.allSatisfy({ $0 == 0xFF }) {
                info.freePEBs += 1
                continue
            }
            if let p = UBIMedia.headerProblem(vid, magic: UBIMedia.vidMagic, name: "VID") {
                info.problems.append("PEB \(n): \(p) (at \(hex(vidOff)))")
                continue
            }
            let volID = UBIMedia.get(vid, UInt32.self, at: UBIMedia.vidVolID)
            let lnum = UBIMedia.get(vid, UInt32.self, at: UBIMedia.vidLnum)
            if volID == UBIMedia.layoutVolumeID {
                vtblCopies.append(Array(buf[dataOff..<peb]))
                continue
            }
            var bytes = 0
            if vid[vid.startIndex + UBIMedia.vidVolType] == UBIMedia.staticVolume {
                let dataSize = Int(UBIMedia.get(vid, UInt32.self, at: UBIMedia.vidDataSize))
                guard dataOff + dataSize <= peb else {
                    info.problems.append("PEB \(n): volume \(volID) LEB \(lnum): data size \(dataSize) runs past the PEB")
                    continue
                }
                if UBIMedia.crc(buf[dataOff..<(dataOff + dataSize)]) != UBIMedia.get(vid, UInt32.self, at: UBIMedia.vidDataCRC) {
                    info.problems.append("PEB \(n): volume \(volID) LEB \(lnum): data CRC mismatch")
                }
                bytes = dataSize
            }
            lebs[Int(volID), default: (0, 0)].count += 1
            lebs[Int(volID), default: (0, 0)].bytes += bytes
        }
        info.imageSeqs = seqs.sorted()
        if seqs.count > 1 { info.problems.append("image sequence numbers differ between PEBs: \(info.imageSeqs.map { String($0) }.joined(separator: ", "))") }
        guard let vtbl = vtblCopies.first else {
            info.problems.append("no layout volume (volume table) found")
            return info
        }
        if vtblCopies.count != 2 { info.problems.append("expected 2 copies of the volume table, found \(vtblCopies.count)") }
        let records = min((peb - dataOff) / UBIMedia.vtblRecordSize, UBIMedia.maxVolumes)
        if vtblCopies.count == 2, vtblCopies[0].prefix(records * 172) != vtblCopies[1].prefix(records * 172) { info.problems.append("the two copies of the volume table differ") }
        for i in 0..<records {
            let r = vtbl[(i * 172)..<(i * 172 + 172)]
            guard UBIMedia.get(r, UInt32.self, at: UBIMedia.vtCRC) == UBIMedia.crc(r.prefix(UBIMedia.vtblRecordCRCSize)) else {
                info.problems.append("volume table record \(i): CRC mismatch")
                continue
            }
            var rec = UBIMedia.VolumeRecord()
            rec.reservedPEBs = UBIMedia.get(r, UInt32.self, at: UBIMedia.vtReservedPEBs)
            guard rec.reservedPEBs > 0 else { continue }
            rec.alignment = UBIMedia.get(r, UInt32.self, at: UBIMedia.vtAlignment)
            rec.dataPad = UBIMedia.get(r, UInt32.self, at: UBIMedia.vtDataPad)
            rec.volType = r[r.startIndex + UBIMedia.vtVolType]
            rec.updMarker = r[r.startIndex + UBIMedia.vtUpdMarker]
            let nameLen = min(Int(UBIMedia.get(r, UInt16.self, at: UBIMedia.vtNameLen)), 127)
            rec.name = Array(r[(r.startIndex + UBIMedia.vtName)..<(r.startIndex + UBIMedia.vtName + nameLen)])
            rec.flags = r[r.startIndex + UBIMedia.vtFlags]
            let l = lebs[i] ?? (0, 0)
            if l.count > Int(rec.reservedPEBs) { info.problems.append("volume \(i): \(l.count) LEBs written, \(rec.reservedPEBs) reserved") }
            info.volumes.append(Volume(id: i, record: rec, name: String(decoding: rec.name, as: UTF8.self), lebs: l.count, dataBytes: l.bytes))
        }
        for (id, _) in lebs where !info.volumes.contains(where: { $0.id == id }) {
            info.problems.append("volume \(id) has LEBs but no volume table record")
        }
        if info.ecRange.0 == UInt64.max { info.ecRange = (0, 0) }
        return info
    }

    public var json: JSON {
        .object([
            ("format", .string("ubi")), ("pebSize", .int(pebSize)), ("pebs", .int(pebs)), ("vidHeaderOffset", .int(vidHeaderOffset)),
            ("dataOffset", .int(dataOffset)), ("lebSize", .int(pebSize - dataOffset)), ("imageSeq", .array(imageSeqs.map { .int(Int($0)) })),
            // Erase counters are 64-bit on flash: garbage past Int.max is clamped, not trapped on (fuzzing: ubi #709393).
            ("eraseCounters", .array([.int(Int(clamping: ecRange.0)), .int(Int(clamping: ecRange.1))])), ("freePEBs", .int(freePEBs)),
            (
                "volumes",
                .array(
                    volumes.map { v in
                        .object([
                            ("id", .int(v.id)), ("name", .string(v.name)), ("type", .string(v.record.volType == UBIMedia.staticVolume ? "static" : "dynamic")),
                            ("reservedPEBs", .int(Int(v.record.reservedPEBs))), ("alignment", .int(Int(v.record.alignment))),
                            ("autoresize", .bool(v.record.flags & UBIMedia.autoresizeFlag != 0)), ("lebs", .int(v.lebs)), ("dataBytes", .int(v.dataBytes)),
                        ])
                    }
                )
            ),
            ("problems", .array(problems.map { .string($0) })),
        ])
    }

    public var lines: [(String, String)] {
        var out: [(String, String)] = [
            ("geometry", "PEB \(pebSize) (\(hex(pebSize))), VID header at \(vidHeaderOffset), data at \(dataOffset), LEB \(pebSize - dataOffset)"),
            ("PEBs", "\(pebs) (\(freePEBs) free)"), ("image seq", imageSeqs.map { String($0) }.joined(separator: ", ")),
            ("erase counters", "\(ecRange.0)…\(ecRange.1)"),
        ]
        for v in volumes {
            let t = v.record.volType == UBIMedia.staticVolume ? "static" : "dynamic"
            let ar = v.record.flags & UBIMedia.autoresizeFlag != 0 ? ", autoresize" : ""
            out.append(("volume \(v.id)", "'\(v.name)' \(t), \(v.record.reservedPEBs) reserved PEBs, \(v.lebs) LEBs written\(t == "static" ? ", \(v.dataBytes) bytes" : "")\(ar)"))
        }
        out.append(("CRCs", problems.isEmpty ? "all good" : "\(problems.count) problem(s): \(problems.prefix(5).joined(separator: "; "))"))
        return out
    }
}

/// The `inspect` registry entry for UBI images.
public enum UBIFormat: InspectableFormat {
    public static let name = "ubi"
    public static let summary = "UBI image"

    public static func probe(path: String, prefix: [UInt8], fileSize: Int) -> FormatDescription? {
        guard UBIImageInfo.looksLikeUBI(prefix), let info = try? UBIImageInfo.read(path) else { return nil }
        // UBIFS volumes are described too (UBIFSFormat.swift).
        let ubifs = UBIFSFormat.describeVolumes(info)
        var json = info.json
        if case let .object(fields) = json { json = .object(fields + [("ubifs", .array(ubifs.json))]) }
        return FormatDescription(format: name, title: "\(path): UBI image", lines: info.lines + ubifs.lines, json: json)
    }
}

import FlashsmithCore
#if canImport(Glibc)
import Glibc
#endif

/// UBI geometry as ubinize derives it (`libubigen.c` `ubigen_info_init`): the VID header at the
/// sub-page after the EC header (or where `-O` puts it), data at the next min. I/O unit after
/// the VID header, LEB = PEB − data offset, as many volume-table records as fit a LEB (≤ 128).
public struct UBIGeometry: Sendable, Equatable {
    public var pebSize: Int
    public var minIOSize: Int
    public var subpageSize: Int
    public var vidHeaderOffset: Int
    public var dataOffset: Int
    public var lebSize: Int { pebSize - dataOffset }
    public var maxVolumes: Int { min(lebSize / UBIMedia.vtblRecordSize, UBIMedia.maxVolumes) }
    public var vtblSize: Int { maxVolumes * UBIMedia.vtblRecordSize }

    public struct Failure: FlashsmithError, Equatable {
        public var message: String
        public var category: ErrorCategory { .usage }
        public var description: String { message }
    }

    /// ubinize's largest PEB (UBI_MAX_PEB_SZ).
    public static let maxPEBSize = 2 << 20

    public init(pebSize: Int, minIOSize: Int, subpageSize: Int? = nil, vidHeaderOffset: Int? = nil) throws {
        let sub = subpageSize ?? minIOSize
        guard pebSize > 0, minIOSize > 0, sub > 0 else { throw Failure(message: "PEB, min. I/O and sub-page sizes must be positive") }
        guard pebSize <= Self.maxPEBSize else { throw Failure(message: "PEB size \(pebSize): expected at most 2 MiB (UBI_MAX_PEB_SZ)") }
        guard sub <= minIOSize else { throw Failure(message: "sub-page \(sub) is larger than the min. I/O unit \(minIOSize)") }
        guard pebSize % minIOSize == 0 else { throw Failure(message: "PEB size \(pebSize) is not a multiple of the min. I/O unit \(minIOSize)") }
        guard minIOSize % sub == 0 else { throw Failure(message: "min. I/O unit \(minIOSize) is not a multiple of the sub-page \(sub)") }
        var vid = vidHeaderOffset ?? 0
        if vid != 0 {
            // Compared without adding to it: the offset is the caller's number, any size.
            guard vid > 0, vid < pebSize - UBIMedia.headerSize else { throw Failure(message: "VID header offset \(vid): the header would not fit the \(pebSize)-byte PEB") }
            guard vid % 8 == 0 else { throw Failure(message: "VID header offset \(vid): expected a multiple of 8") }
        } else {
            vid = (UBIMedia.headerSize + sub - 1) / sub * sub
        }
        self.pebSize = pebSize
        self.minIOSize = minIOSize
        self.subpageSize = sub
        self.vidHeaderOffset = vid
        self.dataOffset = (vid + UBIMedia.headerSize + minIOSize - 1) / minIOSize * minIOSize
        guard dataOffset < pebSize else { throw Failure(message: "data offset \(dataOffset) leaves no room in the \(pebSize)-byte PEB") }
    }
}

/// One UBI volume to write: what a section of `ubinize.ini` says.
public struct UBIVolume: Sendable, Equatable {
    public enum Kind: String, Sendable { case dynamic, `static` }

    public var id: Int
    public var name: String
    public var kind: Kind = .dynamic
    /// vol_size in bytes (the image's size when not given).
    public var size: Int
    /// The volume's content; nil for an empty volume (only its table record).
    public var image: String?
    public var alignment = 1
    public var autoresize = false
    /// Where it was described, for messages.
    public var source: String

    public init(id: Int, name: String, kind: Kind = .dynamic, size: Int, image: String?, alignment: Int = 1, autoresize: Bool = false, source: String) {
        self.id = id
        self.name = name
        self.kind = kind
        self.size = size
        self.image = image
        self.alignment = alignment
        self.autoresize = autoresize
        self.source = source
    }
}

/// Writes a UBI image as ubinize does, byte for byte: PEBs 0 and 1 hold the layout volume (the
/// volume table twice), then each volume's LEBs in order, each PEB an EC header, a VID header and
/// the data, 0xFF elsewhere. Volumes without an image get a table record and no PEBs. VID sequence
/// numbers are 0 as ubinize writes them; the image sequence number is what the caller gives.
/// Streams each volume's image one LEB at a time.
public enum UBIImageWriter {
    public struct Failure: FlashsmithError, Equatable {
        public var message: String
        public var category: ErrorCategory { .data }
        public var description: String { message }
        public init(message: String) { self.message = message }
    }

    public struct Report: Sendable {
        public var pebs: Int
        public var volumes: [(id: Int, name: String, reservedPEBs: Int, writtenLEBs: Int)]
    }

    /// The volume table with a record for each volume, checked as ubinize checks them.
    public static func volumeTable(_ volumes: [UBIVolume], _ g: UBIGeometry) throws -> [UInt8] {
        var records = [UBIMedia.VolumeRecord](repeating: UBIMedia.VolumeRecord(), count: g.maxVolumes)
        var seenIDs = Set<Int>()
        var seenNames = Set<String>()
        var autoresize = false
        for v in volumes {
            guard v.id >= 0, v.id < g.maxVolumes else { throw Failure(message: "\(v.source): volume ID \(v.id): expected 0…\(g.maxVolumes - 1)") }
            guard seenIDs.insert(v.id).inserted else { throw Failure(message: "\(v.source): volume ID \(v.id) is used twice") }
            guard seenNames.insert(v.name).inserted else { throw Failure(message: "\(v.source): volume name '\(v.name)' is used twice") }
            guard !v.name.isEmpty, v.name.utf8.count <= UBIMedia.maxNameLength else {
                throw Failure(message: "\(v.source): volume name '\(v.name)': expected 1…\(UBIMedia.maxNameLength) bytes")
            }
            guard v.alignment >= 1, v.alignment < g.lebSize else { throw Failure(message: "\(v.source): alignment \(v.alignment): expected 1…\(g.lebSize - 1) (below the LEB size)") }
            let reserved = try reservedPEBs(v, g)
            if v.autoresize {
                guard !autoresize else { throw Failure(message: "\(v.source): only one volume may have the autoresize flag") }
                autoresize = true
            }
            var r = UBIMedia.VolumeRecord()
            r.reservedPEBs = UInt32(reserved)
            r.alignment = UInt32(v.alignment)
            r.dataPad = UInt32(g.lebSize % v.alignment)
            r.volType = v.kind == .dynamic ? UBIMedia.dynamicVolume : UBIMedia.staticVolume
            r.name = Array(v.name.utf8)
            r.flags = v.autoresize ? UBIMedia.autoresizeFlag : 0
            records[v.id] = r
        }
        return records.flatMap { $0.encode() }
    }

    /// The most PEBs a volume may reserve: what the table's 32-bit field holds and Linux counts
    /// in an int.
    public static let maxReservedPEBs = Int(Int32.max)

    /// PEBs a volume reserves (its size in whole LEBs), checked: a vol_size near 2^63 is an error
    /// naming the volume, never an overflow.
    static func reservedPEBs(_ v: UBIVolume, _ g: UBIGeometry) throws -> Int {
        guard v.size > 0 else { throw Failure(message: "\(v.source): volume size: expected more than 0 bytes") }
        let lebs = v.size / g.lebSize + (v.size % g.lebSize == 0 ? 0 : 1)
        guard lebs <= maxReservedPEBs else {
            throw Failure(message: "\(v.source): volume size \(v.size): expected at most \(maxReservedPEBs) LEBs of \(g.lebSize) bytes, found \(lebs)")
        }
        return lebs
    }

    public static func write(_ volumes: [UBIVolume], geometry g: UBIGeometry, eraseCounter ec: UInt64 = 0, imageSeq: UInt32, ubiVersion: UInt8 = 1, to path: String) throws -> Report {
        let vtbl = try volumeTable(volumes, g)
        for v in volumes {
            guard let image = v.image else { continue }
            let size = try FileIO.size(of: image)
            guard size > 0 else { throw Failure(message: "\(v.source): image \(image) is empty") }
            guard size <= v.size else { throw Failure(message: "\(v.source): image \(image) is \(size) bytes, larger than the volume size \(v.size)") }
        }
        var out = try AtomicFile(destination: path, durable: false)
        var ecHeader = UBIMedia.ECHeader(ec: ec, vidHeaderOffset: UInt32(g.vidHeaderOffset), dataOffset: UInt32(g.dataOffset), imageSeq: imageSeq)
        ecHeader.version = ubiVersion
        let ecBytes = ecHeader.encode()
        // One PEB buffer: the EC header is the same in every PEB, the VID header is written per LEB,
        // and everything else in the header area stays 0xff.
        var peb = [UInt8](repeating: 0xFF, count: g.pebSize)
        peb.replaceSubrange(0..<UBIMedia.headerSize, with: ecBytes)
        func setVID(_ vid: UBIMedia.VIDHeader) {
            var v = vid
            v.version = ubiVersion
            peb.replaceSubrange(g.vidHeaderOffset..<(g.vidHeaderOffset + UBIMedia.headerSize), with: v.encode())
        }
        let dataArea = g.pebSize - g.dataOffset
        // The layout volume: LEBs 0 and 1 in PEBs 0 and 1, the volume table in each.
        peb.replaceSubrange(g.dataOffset..<(g.dataOffset + vtbl.count), with: vtbl)
        for lnum in 0..<UBIMedia.layoutVolumeEBs {
            setVID(UBIMedia.VIDHeader(volType: UBIMedia.dynamicVolume, compat: UBIMedia.layoutVolumeCompat, volID: UBIMedia.layoutVolumeID, lnum: UInt32(lnum)))
            try out.write(peb)
        }
        var pebs = UBIMedia.layoutVolumeEBs
        var report: [(Int, String, Int, Int)] = []
        guard ec <= UInt64(UBIMedia.maxEraseCounter) else {
            throw Failure(message: "erase counter \(ec): expected at most \(UBIMedia.maxEraseCounter) (UBI_MAX_ERASECOUNTER; Linux refuses to attach above it)")
        }
        for v in volumes {
            let reserved = try reservedPEBs(v, g)
            guard let image = v.image else {
                report.append((v.id, v.name, reserved, 0))
                continue
            }
            let dataPad = g.lebSize % v.alignment
            let usable = g.lebSize - dataPad
            let size = try FileIO.size(of: image)
            let usedEBs = (size + usable - 1) / usable
            let fd = try FileIO.openForReading(image)
            defer { close(fd) }
            var offset = 0
            var lnum = 0
            if v.kind == .dynamic {
                // Dynamic volumes need nothing computed over the data: it goes from the input's page
                // cache to the output's in one copy (writev from a read-only mapping), a window of
                // LEBs at a time (memory stays flat however large the volume). Each PEB: its own
                // headers, the LEB's data, 0xff for the rest.
                let window = 32
                let headerArea = g.dataOffset
                var headers = [UInt8](repeating: 0xFF, count: window * headerArea)
                let ff = [UInt8](repeating: 0xFF, count: dataArea)
                let page = Int(sysconf(Int32(_SC_PAGESIZE)))
                while offset < size {
                    let count = min(window, (size - offset + usable - 1) / usable)
                    let end = min(size, offset + count * usable)
                    let mapStart = offset / page * page
                    let mapLength = end - mapStart
                    guard let map = mmap(nil, mapLength, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, off_t(mapStart)), map != MAP_FAILED else {
                        throw FileError.readFailed(path: image, offset: mapStart, reason: "mmap: \(FileIO.errnoText())")
                    }
                    defer { munmap(map, mapLength) }
                    try headers.withUnsafeMutableBytes { hb in
                        try ff.withUnsafeBytes { fb in
                            var iov: [iovec] = []
                            iov.reserveCapacity(count * 3)
                            for k in 0..<count {
                                let at = offset + k * usable
                                let n = min(usable, size - at)
                                var vid = UBIMedia.VIDHeader(volType: UBIMedia.dynamicVolume, volID: UInt32(v.id), lnum: UInt32(lnum + k))
                                vid.dataPad = UInt32(dataPad)
                                vid.version = ubiVersion
                                let h = hb.baseAddress! + k * headerArea
                                ecBytes.withUnsafeBytes { h.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
                                vid.encode().withUnsafeBytes { (h + g.vidHeaderOffset).copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
                                iov.append(iovec(iov_base: h, iov_len: headerArea))
                                iov.append(iovec(iov_base: UnsafeMutableRawPointer(mutating: map + (at - mapStart)), iov_len: n))
                                if n < dataArea { iov.append(iovec(iov_base: UnsafeMutableRawPointer(mutating: fb.baseAddress!), iov_len: dataArea - n)) }
                            }
                            try out.write(vectors: iov)
                        }
                    }
                    pebs += count
                    lnum += count
                    offset = end
                }
            }
            // Static volumes: the data's CRC goes in each VID header, so the data is read into the PEB.
            while offset < size {
                let n = min(usable, size - offset)
                var vid = UBIMedia.VIDHeader(volType: UBIMedia.staticVolume, volID: UInt32(v.id), lnum: UInt32(lnum))
                vid.dataPad = UInt32(dataPad)
                // A LEB that does not fill the data area: 0xff after it (not what the last one left).
                if n < dataArea {
                    peb.withUnsafeMutableBytes { _ = memset($0.baseAddress! + g.dataOffset, 0xFF, dataArea) }
                }
                try peb.withUnsafeMutableBytes { b in
                    var got = 0
                    while got < n {
                        let r = pread(fd, b.baseAddress! + g.dataOffset + got, n - got, off_t(offset + got))
                        if r < 0 && errno == EINTR { continue }
                        guard r > 0 else { throw FileError.shortRead(path: image, offset: offset + got, expected: n, found: got) }
                        got += r
                    }
                }
                vid.dataSize = UInt32(n)
                vid.usedEBs = UInt32(usedEBs)
                vid.dataCRC = UBIMedia.crc(peb[g.dataOffset..<(g.dataOffset + n)])
                setVID(vid)
                try out.write(peb)
                pebs += 1
                lnum += 1
                offset += n
            }
            report.append((v.id, v.name, reserved, lnum))
        }
        try out.commit()
        return Report(pebs: pebs, volumes: report)
    }
}

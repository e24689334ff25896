import FlashsmithCore
#if canImport(Glibc)
import Glibc
#endif

/// Where a UBIFS image's LEBs come from: a plain image (`.ubifs`, LEBs back to back, the LEB size
/// from the superblock) or a dynamic volume of a UBI image (each LEB the data area of the PEB whose
/// VID header names it with the highest sequence number). A LEB nothing is mapped to, and any byte
/// past the end of the file, reads as erased (0xFF), as on flash.
public struct UBIFSLEBSource: Sendable {
    public var path: String
    public var lebSize: Int
    public var lebCount: Int
    /// A UBI volume: the file offset of each mapped LEB's first byte (nil: LEBs back to back).
    var map: [Int: Int]?
    /// "volume 'rootfs' (id 0) of a UBI image", or "" for a plain image: where errors say the LEB is.
    public var container: String

    /// Where LEB `lnum` starts in the file, or nil when nothing is mapped to it (it reads erased).
    func offset(of lnum: Int) -> Int? {
        guard lnum >= 0, lnum < lebCount else { return nil }
        guard let map else { return lnum * lebSize }
        return map[lnum]
    }

    /// Bytes of a UBIFS superblock (magic, then type 6 at byte 20): what tells a plain image.
    public static func looksLikeUBIFS(_ prefix: some RandomAccessCollection<UInt8>) -> Bool {
        guard prefix.count >= UBIFSMedia.commonHeaderSize else { return false }
        let s = prefix.startIndex
        let magic = (0..<4).reduce(UInt32(0)) { $0 | UInt32(prefix[prefix.index(s, offsetBy: $1)]) << (8 * UInt32($1)) }
        return magic == UBIFSMedia.magic && prefix[prefix.index(s, offsetBy: 20)] == UBIFSMedia.NodeType.superblock.rawValue
    }

    /// A plain UBIFS image: the LEB size and count come from its superblock (checked when read).
    public static func plain(_ path: String) throws -> UBIFSLEBSource {
        let size = try FileIO.size(of: path)
        guard size >= UBIFSMedia.superblockNodeSize else {
            throw UBIFSFailure("\(path): \(size) bytes: expected a UBIFS superblock of \(UBIFSMedia.superblockNodeSize) bytes at offset 0")
        }
        let head = try FileIO.read(path, offset: 0, count: 64)
        guard looksLikeUBIFS(head) else {
            throw UBIFSFailure("\(path): expected a UBIFS superblock (magic 0x06101831, node type 6) at offset 0, found \(hexString(head.prefix(4))) type \(head[20])")
        }
        let leb = Int(UBIFSBytes.u32(head, 36))
        guard (UBIFSMedia.minLEBSize...UBIFSMedia.maxLEBSize).contains(leb) else {
            throw UBIFSFailure("\(path): LEB 0:0: superblock LEB size \(leb): expected \(UBIFSMedia.minLEBSize)…\(UBIFSMedia.maxLEBSize)")
        }
        let count = Int(UBIFSBytes.u32(head, 40))
        guard count >= 1, count <= 1 << 24 else {
            throw UBIFSFailure("\(path): LEB 0:0: superblock LEB count \(count): expected 1…\(1 << 24)")
        }
        // mkfs.ubifs records the LEBs it used; a dump of a mounted volume may hold more (Linux
        // grows the file system to its volume): the file's LEBs count too.
        let inFile = size / leb + (size % leb == 0 ? 0 : 1)
        let total = max(count, min(inFile, 1 << 24))
        return UBIFSLEBSource(path: path, lebSize: leb, lebCount: total, map: nil, container: "")
    }

    /// The volumes of a UBI image that hold UBIFS (their LEB 0 starts with a superblock).
    public static func ubifsVolumes(_ info: UBIImageInfo) throws -> [UBIImageInfo.Volume] {
        try info.volumes.filter { v in
            guard v.record.volType == UBIMedia.dynamicVolume, let src = try? volume(info, v), let o = src.offset(of: 0) else { return false }
            return looksLikeUBIFS(try FileIO.read(info.path, offset: o, count: 24))
        }
    }

    /// The LEBs of `volume` in the UBI image `info` read.
    public static func volume(_ info: UBIImageInfo, _ volume: UBIImageInfo.Volume) throws -> UBIFSLEBSource {
        let leb = info.pebSize - info.dataOffset
        let reserved = Int(volume.record.reservedPEBs)
        var best: [Int: (sqnum: UInt64, offset: Int)] = [:]
        let fd = try FileIO.openForReading(info.path, devices: true)
        defer { close(fd) }
        var vid = [UInt8](repeating: 0, count: UBIMedia.headerSize)
        for n in 0..<info.pebs {
            let at = n * info.pebSize + info.vidHeaderOffset
            let got = vid.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, off_t(at)) }
            guard got == UBIMedia.headerSize, UBIMedia.headerProblem(vid, magic: UBIMedia.vidMagic, name: "VID") == nil else { continue }
            guard Int(UBIMedia.get(vid, UInt32.self, at: UBIMedia.vidVolID)) == volume.id else { continue }
            let lnum = Int(UBIMedia.get(vid, UInt32.self, at: UBIMedia.vidLnum))
            guard lnum < reserved else { continue }
            let sqnum = UBIMedia.get(vid, UInt64.self, at: UBIMedia.vidSqnum)
            if let b = best[lnum], b.sqnum >= sqnum { continue }
            best[lnum] = (sqnum, n * info.pebSize + info.dataOffset)
        }
        let where_ = "volume '\(volume.name)' (id \(volume.id)) of a UBI image"
        return UBIFSLEBSource(path: info.path, lebSize: leb, lebCount: reserved, map: best.mapValues(\.offset), container: where_)
    }

    /// The source for `path`: a plain UBIFS image, or the UBIFS volume of a UBI image (`volume` names
    /// it when there are several; the only one otherwise).
    public static func open(_ path: String, volume name: String? = nil) throws -> UBIFSLEBSource {
        let head = try FileIO.read(path, offset: 0, count: min(try FileIO.size(of: path), 64))
        if looksLikeUBIFS(head) { return try plain(path) }
        guard UBIImageInfo.looksLikeUBI(head) else {
            throw UBIFSFailure("\(path): expected a UBIFS image (superblock magic 0x06101831 at offset 0) or a UBI image (\"UBI#\"), found \(hexString(head.prefix(4)))")
        }
        let info = try UBIImageInfo.read(path)
        let volumes = try ubifsVolumes(info)
        let names = volumes.map { "'\($0.name)'" }.joined(separator: ", ")
        if let name {
            guard let v = volumes.first(where: { $0.name == name }) else {
                let near = Spelling.nearest(to: name, among: volumes.map(\.name)).map { " (did you mean '\($0)'?)" } ?? ""
                throw UBIFSFailure("\(path): no UBIFS volume named '\(name)'\(near); UBIFS volumes: \(volumes.isEmpty ? "none" : names)")
            }
            return try volume(info, v)
        }
        guard volumes.count == 1 else {
            throw UBIFSFailure(volumes.isEmpty ? "\(path): the UBI image holds no UBIFS volume (volumes: \(info.volumes.map { "'\($0.name)'" }.joined(separator: ", ")))" : "\(path): the UBI image holds several UBIFS volumes (\(names)): choose one with --volume NAME")
        }
        return try volume(info, volumes[0])
    }
}

/// A UBIFS image that cannot be read: one line naming the file, the LEB:offset, what was expected
/// and what was found.
public struct UBIFSFailure: FlashsmithError, Equatable {
    public var message: String
    public var category: ErrorCategory { .data }
    public var description: String { message }
    public init(_ message: String) { self.message = message }
}

/// Little-endian fields of a node (UBIFS is little-endian; `UBIMedia.get` is UBI's big-endian).
enum UBIFSBytes {
    @inline(__always) static func u16(_ b: some RandomAccessCollection<UInt8>, _ o: Int) -> UInt16 {
        let s = b.index(b.startIndex, offsetBy: o)
        return UInt16(b[s]) | UInt16(b[b.index(after: s)]) << 8
    }

    @inline(__always) static func u32(_ b: some RandomAccessCollection<UInt8>, _ o: Int) -> UInt32 {
        var v: UInt32 = 0
        let s = b.index(b.startIndex, offsetBy: o)
        for i in 0..<4 { v |= UInt32(b[b.index(s, offsetBy: i)]) << (8 * UInt32(i)) }
        return v
    }

    @inline(__always) static func u64(_ b: some RandomAccessCollection<UInt8>, _ o: Int) -> UInt64 {
        UInt64(u32(b, o)) | UInt64(u32(b, o + 4)) << 32
    }

    static func key(_ b: some RandomAccessCollection<UInt8>, _ o: Int) -> UBIFSMedia.Key {
        UBIFSMedia.Key(inode: u32(b, o), low: u32(b, o + 4))
    }
}

import FlashsmithCore

/// UBI on-flash headers (Linux `include/uapi/mtd/ubi-media.h`), all big-endian, each protected by a
/// CRC-32 without final inversion (`crc32(UBI_CRC32_INIT = 0xffffffff, …)`, FlashsmithCore's raw CRC).
/// ```
/// EC header (64 bytes, at PEB offset 0)          VID header (64 bytes, at vid_hdr_offset)
///  0 magic "UBI#"     u32                          0 magic "UBI!"  u32
///  4 version          u8 (1)                       4 version       u8
///  5 padding1[3]                                   5 vol_type      u8 (1 dynamic, 2 static)
///  8 ec               u64                          6 copy_flag     u8
/// 16 vid_hdr_offset   u32                          7 compat        u8
/// 20 data_offset      u32                          8 vol_id        u32
/// 24 image_seq        u32                         12 lnum          u32
/// 28 padding2[32]                                 16 padding1[4]
/// 60 hdr_crc          u32 (over bytes 0..59)      20 data_size     u32 (static volumes)
///                                                  24 used_ebs      u32 (static volumes)
/// Volume table record (172 bytes, in both LEBs     28 data_pad      u32
/// of the layout volume 0x7fffefff)                32 data_crc      u32 (static volumes)
///  0 reserved_pebs u32    4 alignment u32          36 padding2[4]
///  8 data_pad u32        12 vol_type u8            40 sqnum         u64
/// 13 upd_marker u8       14 name_len u16           48 padding3[12]
/// 16 name[128]          144 flags u8 (1 autoresize) 60 hdr_crc      u32 (over bytes 0..59)
/// 145 padding[23]       168 crc u32 (over 0..167)
/// ```
public enum UBIMedia {
    public static let ecMagic: UInt32 = 0x5542_4923  // "UBI#"
    public static let vidMagic: UInt32 = 0x5542_4921  // "UBI!"
    public static let headerSize = 64
    public static let headerCRCSize = 60
    public static let version: UInt8 = 1
    public static let crcInit: UInt32 = 0xFFFF_FFFF

    public static let dynamicVolume: UInt8 = 1
    public static let staticVolume: UInt8 = 2

    public static let layoutVolumeID: UInt32 = 0x7FFF_EFFF
    public static let layoutVolumeEBs = 2
    public static let layoutVolumeCompat: UInt8 = 5  // UBI_COMPAT_REJECT
    public static let vtblRecordSize = 172
    public static let vtblRecordCRCSize = 168
    public static let maxVolumes = 128
    public static let maxNameLength = 127
    public static let autoresizeFlag: UInt8 = 0x01
    /// UBI_MAX_ERASECOUNTER: Linux refuses to attach a PEB whose EC header counts more, and
    /// ubiformat treats such a counter as unknown.
    public static let maxEraseCounter = 0x7FFF_FFFF

    // EC header fields.
    static let ecVersion = 4, ecCount = 8, ecVIDOffset = 16, ecDataOffset = 20, ecImageSeq = 24, hdrCRC = 60
    // VID header fields.
    static let vidVolType = 5, vidCopyFlag = 6, vidCompat = 7, vidVolID = 8, vidLnum = 12, vidDataSize = 20, vidUsedEBs = 24
    static let vidDataPad = 28, vidDataCRC = 32, vidSqnum = 40
    // Volume table record fields.
    static let vtReservedPEBs = 0, vtAlignment = 4, vtDataPad = 8, vtVolType = 12, vtUpdMarker = 13, vtNameLen = 14, vtName = 16
    static let vtFlags = 144, vtCRC = 168

    public static func crc(_ bytes: some Collection<UInt8>) -> UInt32 { CRC32.raw(bytes, seed: crcInit) }

    public struct ECHeader: Sendable, Equatable {
        public var ec: UInt64
        public var vidHeaderOffset: UInt32
        public var dataOffset: UInt32
        public var imageSeq: UInt32
        public var version: UInt8 = UBIMedia.version

        public init(ec: UInt64, vidHeaderOffset: UInt32, dataOffset: UInt32, imageSeq: UInt32, version: UInt8 = UBIMedia.version) {
            self.ec = ec
            self.vidHeaderOffset = vidHeaderOffset
            self.dataOffset = dataOffset
            self.imageSeq = imageSeq
            self.version = version
        }

        /// The header in the first 64 bytes of `b`, when its magic and CRC are right and its erase
        /// counter is one UBI accepts (at most ``UBIMedia/maxEraseCounter``; a larger one is
        /// "unknown", as ubiformat has it, so sums and increments of counters never overflow).
        public static func decode(_ b: some RandomAccessCollection<UInt8>) -> ECHeader? {
            guard b.count >= headerSize, headerProblem(b, magic: ecMagic, name: "EC") == nil,
                  get(b, UInt64.self, at: ecCount) <= UInt64(maxEraseCounter) else { return nil }
            return ECHeader(
                ec: get(b, UInt64.self, at: ecCount), vidHeaderOffset: get(b, UInt32.self, at: ecVIDOffset),
                dataOffset: get(b, UInt32.self, at: ecDataOffset), imageSeq: get(b, UInt32.self, at: ecImageSeq), version: b[b.index(b.startIndex, offsetBy: ecVersion)]
            )
        }

        public func encode() -> [UInt8] {
            var b = [UInt8](repeating: 0, count: headerSize)
            put(&b, ecMagic, at: 0)
            b[ecVersion] = version
            put(&b, ec, at: ecCount)
            put(&b, vidHeaderOffset, at: ecVIDOffset)
            put(&b, dataOffset, at: ecDataOffset)
            put(&b, imageSeq, at: ecImageSeq)
            put(&b, crc(b[0..<headerCRCSize]), at: hdrCRC)
            return b
        }
    }

    public struct VIDHeader: Sendable, Equatable {
        public var volType: UInt8
        public var copyFlag: UInt8 = 0
        public var compat: UInt8 = 0
        public var volID: UInt32
        public var lnum: UInt32
        public var dataSize: UInt32 = 0
        public var usedEBs: UInt32 = 0
        public var dataPad: UInt32 = 0
        public var dataCRC: UInt32 = 0
        public var sqnum: UInt64 = 0
        public var version: UInt8 = UBIMedia.version

        public func encode() -> [UInt8] {
            var b = [UInt8](repeating: 0, count: headerSize)
            put(&b, vidMagic, at: 0)
            b[4] = version
            b[vidVolType] = volType
            b[vidCopyFlag] = copyFlag
            b[vidCompat] = compat
            put(&b, volID, at: vidVolID)
            put(&b, lnum, at: vidLnum)
            put(&b, dataSize, at: vidDataSize)
            put(&b, usedEBs, at: vidUsedEBs)
            put(&b, dataPad, at: vidDataPad)
            put(&b, dataCRC, at: vidDataCRC)
            put(&b, sqnum, at: vidSqnum)
            put(&b, crc(b[0..<headerCRCSize]), at: hdrCRC)
            return b
        }
    }

    public struct VolumeRecord: Sendable, Equatable {
        public var reservedPEBs: UInt32 = 0
        public var alignment: UInt32 = 0
        public var dataPad: UInt32 = 0
        public var volType: UInt8 = 0
        public var updMarker: UInt8 = 0
        public var name: [UInt8] = []
        public var flags: UInt8 = 0

        public var isEmpty: Bool { reservedPEBs == 0 }

        public func encode() -> [UInt8] {
            var b = [UInt8](repeating: 0, count: vtblRecordSize)
            put(&b, reservedPEBs, at: vtReservedPEBs)
            put(&b, alignment, at: vtAlignment)
            put(&b, dataPad, at: vtDataPad)
            b[vtVolType] = volType
            b[vtUpdMarker] = updMarker
            put(&b, UInt16(name.count), at: vtNameLen)
            b.replaceSubrange(vtName..<(vtName + name.count), with: name)
            b[vtFlags] = flags
            put(&b, crc(b[0..<vtblRecordCRCSize]), at: vtCRC)
            return b
        }
    }

    /// What is wrong with a 64-byte header (magic, then CRC), or nil.
    public static func headerProblem(_ h: some RandomAccessCollection<UInt8>, magic: UInt32, name: String) -> String? {
        let found = get(h, UInt32.self, at: 0)
        guard found == magic else {
            return "expected \(name) header magic \(magic == ecMagic ? "UBI#" : "UBI!"), found \(hex(found))"
        }
        let start = h.startIndex
        guard get(h, UInt32.self, at: hdrCRC) == crc(h[start..<h.index(start, offsetBy: headerCRCSize)]) else { return "\(name) header CRC mismatch" }
        return nil
    }

    static func put<T: FixedWidthInteger>(_ b: inout [UInt8], _ v: T, at o: Int) {
        let size = MemoryLayout<T>.size
        for i in 0..<size { b[o + i] = UInt8(truncatingIfNeeded: v >> (8 * (size - 1 - i))) }
    }

    static func get<T: FixedWidthInteger>(_ b: some RandomAccessCollection<UInt8>, _: T.Type, at o: Int) -> T {
        var v: T = 0
        let base = b.index(b.startIndex, offsetBy: o)
        for i in 0..<MemoryLayout<T>.size { v = v << 8 | T(b[b.index(base, offsetBy: i)]) }
        return v
    }
}

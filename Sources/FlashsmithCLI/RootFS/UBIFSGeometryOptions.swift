import ArgumentParser
import Flash
import FlashsmithCore

/// mkfs.ubifs's geometry and tuning options, with its names and meaning, for `-o x.ubifs`
/// (`--format ubifs`). `-m`, `-e` and `-c` are required for a UBIFS output, as mkfs.ubifs requires them.
struct UBIFSGeometryOptions: ParsableArguments {
    @Option(name: [.customShort("m"), .customLong("min-io-size")], help: "UBIFS: minimum I/O unit (NAND page, or sub-page for UBI's headers; 1 on NOR), e.g. 2KiB.")
    var minIOSize: ByteSize?

    @Option(name: [.customShort("e"), .customLong("leb-size")], help: "UBIFS: logical erase block size, e.g. 126976 (a 128 KiB PEB less UBI's two 2 KiB-page headers).")
    var lebSize: ByteSize?

    @Option(name: [.customShort("c"), .customLong("max-leb-cnt")], help: "UBIFS: the most LEBs the volume may ever have (sizes the index of free space).")
    var maxLEBCount: Int?

    @Option(name: [.customShort("x"), .customLong("compr")], help: "UBIFS: lzo (default), zlib, zstd, favor_lzo or none.")
    var compr: UBIFSOptions.Compression?

    @Option(name: [.customShort("X"), .customLong("favor-percent")], help: "UBIFS favor_lzo: how many percent better zlib must do to be chosen (default 20).")
    var favorPercent: Int?

    @Option(name: [.customShort("j"), .customLong("jrn-size")], help: "UBIFS: journal size (default: an eighth of the volume, 4 LEBs … 8 MiB).")
    var journalSize: ByteSize?

    @Option(name: [.customShort("R"), .customLong("reserved")], help: "UBIFS: space reserved for root.")
    var reserved: ByteSize?

    @Option(name: [.customShort("f"), .customLong("fanout")], help: "UBIFS: index fanout (default 8).")
    var fanout: Int?

    @Option(name: [.customShort("l"), .customLong("log-lebs")], help: "UBIFS: log LEBs (default: what the journal needs, plus 2).")
    var logLEBs: Int?

    @Option(name: [.customShort("p"), .customLong("orph-lebs")], help: "UBIFS: orphan-area LEBs (default 1).")
    var orphanLEBs: Int?

    @Option(name: [.customShort("k"), .customLong("keyhash")], help: "UBIFS: name hash, r5 (default) or test.")
    var keyHash: UBIFSMedia.KeyHash?

    @Flag(name: [.customShort("F"), .customLong("space-fixup")], help: "UBIFS: the kernel fixes free space up at the first mount (images programmed raw, e.g. with nand write).")
    var spaceFixup = false

    @Option(name: .customLong("uuid"), help: "UBIFS or ext4: the filesystem UUID (default: derived from the content and SOURCE_DATE_EPOCH).")
    var uuid: String?

    var given: Bool {
        minIOSize != nil || lebSize != nil || maxLEBCount != nil || compr != nil || favorPercent != nil || journalSize != nil || reserved != nil
            || fanout != nil || logLEBs != nil || orphanLEBs != nil || keyHash != nil || spaceFixup || uuid != nil
    }

    /// The writer's options; `-m`, `-e`, `-c` required.
    func options() throws -> UBIFSOptions {
        guard let minIOSize, let lebSize, let maxLEBCount else {
            let missing = [("-m/--min-io-size", minIOSize == nil), ("-e/--leb-size", lebSize == nil), ("-c/--max-leb-cnt", maxLEBCount == nil)].filter(\.1).map(\.0)
            throw ValidationError("a UBIFS output needs its geometry: missing \(missing.joined(separator: ", ")) (as mkfs.ubifs: e.g. -m 2KiB -e 126976 -c 2048)")
        }
        var o = UBIFSOptions(minIOSize: minIOSize.bytes, lebSize: lebSize.bytes, maxLEBCount: maxLEBCount)
        if let compr { o.compression = compr }
        if let favorPercent { o.favorLZOPercent = favorPercent }
        o.journalSize = journalSize?.bytes
        if let reserved { o.reservedBytes = reserved.bytes }
        if let fanout { o.fanout = fanout }
        o.logLEBs = logLEBs
        if let orphanLEBs { o.orphanLEBs = orphanLEBs }
        if let keyHash { o.keyHash = keyHash }
        o.spaceFixup = spaceFixup
        if let uuid { o.uuid = try Self.parseUUID(uuid) }
        return o
    }

    /// `01234567-89ab-cdef-0123-456789abcdef` (dashes optional).
    static func parseUUID(_ text: String) throws -> [UInt8] {
        let hex = Array(text.filter { $0 != "-" }.utf8)
        var bytes: [UInt8] = []
        if hex.count == 32 {
            for i in stride(from: 0, to: 32, by: 2) {
                guard let b = UInt8(String(decoding: hex[i..<(i + 2)], as: UTF8.self), radix: 16) else { break }
                bytes.append(b)
            }
        }
        guard bytes.count == 16 else { throw ValidationError("--uuid '\(text)': expected 32 hex digits, as 01234567-89ab-cdef-0123-456789abcdef") }
        return bytes
    }
}

extension UBIFSOptions.Compression: ExpressibleByArgument {}
extension UBIFSMedia.KeyHash: ExpressibleByArgument {
    public init?(argument: String) {
        guard let k = Self.allCases.first(where: { $0.name == argument }) else { return nil }
        self = k
    }
    public static var allValueStrings: [String] { allCases.map(\.name) }
}

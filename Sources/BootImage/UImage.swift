import FlashsmithCore
#if canImport(Glibc)
import Glibc
#endif

/// Legacy U-Boot image, "uImage" (U-Boot `include/image.h` `struct legacy_img_hdr`,
/// `tools/default_image.c`, `tools/mkimage.c`). A 64-byte big-endian header, then the data:
/// ```
///  +0  ih_magic  u32  0x27051956
///  +4  ih_hcrc   u32  CRC-32 (zlib) of the 64 header bytes with this field 0
///  +8  ih_time   u32  creation time (SOURCE_DATE_EPOCH when set)
/// +12  ih_size   u32  data size
/// +16  ih_load   u32  load address
/// +20  ih_ep     u32  entry point
/// +24  ih_dcrc   u32  CRC-32 (zlib) of the data
/// +28  ih_os u8 | +29 ih_arch u8 | +30 ih_type u8 | +31 ih_comp u8
/// +32  ih_name   32 bytes, NUL-padded (not NUL-terminated when 32 long)
/// +64  data. Multi-file and script images: u32 size of each part, a 0, then the parts, each
///      but the last padded with zeros to a multiple of 4 bytes.
/// ```
public enum UImage {
    /// Field offsets in the header.
    public enum Field {
        public static let magic = 0, headerCRC = 4, time = 8, size = 12, load = 16, entry = 20, dataCRC = 24
        public static let os = 28, arch = 29, type = 30, comp = 31, name = 32
    }

    public static let headerSize = 64
    public static let magic: UInt32 = 0x2705_1956
    public static let nameLength = 32

    /// The header's fields.
    public struct Header: Sendable, Equatable {
        public var time: UInt32
        public var size: UInt32
        public var load: UInt32
        public var entry: UInt32
        public var dataCRC: UInt32
        public var headerCRC: UInt32 = 0
        public var os: UInt8
        public var arch: UInt8
        public var type: UInt8
        public var comp: UInt8
        /// The name's bytes, without the NUL padding.
        public var name: [UInt8]

        public init(time: UInt32, size: UInt32, load: UInt32, entry: UInt32, dataCRC: UInt32, os: UInt8, arch: UInt8, type: UInt8, comp: UInt8, name: [UInt8]) {
            self.time = time
            self.size = size
            self.load = load
            self.entry = entry
            self.dataCRC = dataCRC
            self.os = os
            self.arch = arch
            self.type = type
            self.comp = comp
            self.name = name
        }

        public var hasPartTable: Bool { type == UImageTables.multiType || type == UImageTables.scriptType }

        /// The 64 header bytes, with `ih_hcrc` computed.
        public func encoded() -> [UInt8] {
            var w = ByteWriter(filledWith: 0, count: UImage.headerSize)
            w.set(UImage.magic, at: Field.magic, .big)
            w.set(time, at: Field.time, .big)
            w.set(size, at: Field.size, .big)
            w.set(load, at: Field.load, .big)
            w.set(entry, at: Field.entry, .big)
            w.set(dataCRC, at: Field.dataCRC, .big)
            w.set(os, at: Field.os, .big)
            w.set(arch, at: Field.arch, .big)
            w.set(type, at: Field.type, .big)
            w.set(comp, at: Field.comp, .big)
            w.set(bytes: name.prefix(UImage.nameLength), at: Field.name)
            w.set(CRC32.zlib(w.bytes), at: Field.headerCRC, .big)
            return w.bytes
        }

        /// Parses 64 header bytes (no CRC checks: see ``UImage/read(_:)``).
        public static func decode(_ bytes: [UInt8]) throws -> Header {
            let r = ByteReader(bytes)
            var h = Header(
                time: try r.get(UInt32.self, at: Field.time, .big, field: "ih_time"),
                size: try r.get(UInt32.self, at: Field.size, .big, field: "ih_size"),
                load: try r.get(UInt32.self, at: Field.load, .big, field: "ih_load"),
                entry: try r.get(UInt32.self, at: Field.entry, .big, field: "ih_ep"),
                dataCRC: try r.get(UInt32.self, at: Field.dataCRC, .big, field: "ih_dcrc"),
                os: try r.get(UInt8.self, at: Field.os, .big, field: "ih_os"),
                arch: try r.get(UInt8.self, at: Field.arch, .big, field: "ih_arch"),
                type: try r.get(UInt8.self, at: Field.type, .big, field: "ih_type"),
                comp: try r.get(UInt8.self, at: Field.comp, .big, field: "ih_comp"),
                name: Array(try r.get(bytesAt: Field.name, count: UImage.nameLength, field: "ih_name").prefix { $0 != 0 }))
            h.headerCRC = try r.get(UInt32.self, at: Field.headerCRC, .big, field: "ih_hcrc")
            return h
        }

        /// `mkimage -l`'s "Image Type" line: "AArch64 Linux Kernel Image (uncompressed)".
        public var typeDescription: String {
            let a = UImageTables.name(UImageTables.arch, arch).long
            let o = UImageTables.name(UImageTables.os, os).long
            let t = UImageTables.name(UImageTables.type, type).long
            let c = UImageTables.name(UImageTables.comp, comp).long
            return "\(a) \(o) \(t) (\(c))"
        }
    }

    /// What `create` writes, apart from the data.
    public struct Parameters: Sendable {
        public var arch: UInt8
        public var os: UInt8
        public var type: UInt8
        public var comp: UInt8
        public var load: UInt32
        public var entry: UInt32
        public var name: [UInt8]
        public var time: UInt32

        public init(arch: UInt8, os: UInt8, type: UInt8, comp: UInt8, load: UInt32, entry: UInt32, name: [UInt8], time: UInt32) {
            self.arch = arch
            self.os = os
            self.type = type
            self.comp = comp
            self.load = load
            self.entry = entry
            self.name = name
            self.time = time
        }
    }

    /// The creation time mkimage uses: `SOURCE_DATE_EPOCH` when set (a malformed or out-of-range
    /// value is an error, as in mkimage), else now.
    public static func creationTime() throws -> UInt32 {
        try SourceDateEpoch.fromEnvironment() ?? UInt32(truncatingIfNeeded: time(nil))
    }

    /// Writes an image of `files` to `output` (atomically), streaming the files in 1 MiB chunks:
    /// memory does not grow with their size. Multi-file and script images get the part table;
    /// other types take exactly one file.
    public static func create(_ p: Parameters, files: [String], output: String) throws {
        guard p.name.count <= nameLength else {
            throw BootImageError.nameTooLong(name: String(decoding: p.name, as: UTF8.self), bytes: p.name.count, limit: nameLength)
        }
        let multi = p.type == UImageTables.multiType || p.type == UImageTables.scriptType
        guard !files.isEmpty, multi || files.count == 1 else {
            throw BootImageError.badInput(path: files.joined(separator: ":"), reason: "expected \(multi ? "one or more files" : "exactly one file (FILE:FILE… is for -T multi and -T script)"), found \(files.count)")
        }
        var sizes: [Int] = []
        for f in files {
            let kind = FileIO.kind(of: f)
            guard case let .regular(size) = kind else {
                if kind == .missing { throw FileError.cannotOpen(path: f, reason: "No such file or directory") }
                throw FileError.notARegularFile(path: f, kind: kind.name)
            }
            if multi && size == 0 {
                throw BootImageError.badInput(path: f, reason: "empty part: expected at least 1 byte (a 0 size ends a multi-file image's part table)")
            }
            sizes.append(size)
        }
        var out = DataWriter(file: try AtomicFile(destination: output))
        try out.file.write([UInt8](repeating: 0, count: headerSize))
        if multi {
            var table = ByteWriter()
            for s in sizes {
                guard s <= Int(UInt32.max) else { throw BootImageError.badInput(path: output, reason: "a part is larger than 4 GiB") }
                table.append(UInt32(s), .big)
            }
            table.append(UInt32(0), .big)
            try out.emit(table.bytes)
        }
        let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
        defer { chunk.deallocate() }
        for (i, f) in files.enumerated() {
            let fd = try FileIO.openForReading(f)
            defer { close(fd) }
            var copied = 0
            while true {
                let n = Glibc.read(fd, chunk.baseAddress, chunk.count)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw FileError.readFailed(path: f, offset: copied, reason: FileIO.errnoText())
                }
                if n == 0 { break }
                try out.emit(UnsafeRawBufferPointer(rebasing: chunk[0..<n]))
                copied += n
            }
            guard copied == sizes[i] else { throw BootImageError.badInput(path: f, reason: "changed size while being read (\(sizes[i]) → \(copied) bytes)") }
            if multi && i + 1 < files.count && copied % 4 != 0 {
                try out.emit([UInt8](repeating: 0, count: 4 - copied % 4))
            }
        }
        let dataSize = out.size, crc = out.crc
        guard dataSize <= Int(UInt32.max) else { throw BootImageError.badInput(path: output, reason: "data larger than 4 GiB does not fit ih_size") }
        let header = Header(time: p.time, size: UInt32(dataSize), load: p.load, entry: p.entry, dataCRC: crc, os: p.os, arch: p.arch, type: p.type, comp: p.comp, name: p.name)
        try out.file.overwrite(header.encoded(), at: 0)
        try out.file.commit()
    }

    /// The output file with a running CRC and size of the data written after the header.
    struct DataWriter: ~Copyable {
        var file: AtomicFile
        var crc: UInt32 = 0
        var size = 0

        mutating func emit(_ bytes: UnsafeRawBufferPointer) throws {
            crc = CRC32.zlib(bytes, previous: crc)
            try file.write(bytes)
            size += bytes.count
        }

        mutating func emit(_ bytes: [UInt8]) throws {
            crc = CRC32.zlib(bytes, previous: crc)
            try file.write(bytes)
            size += bytes.count
        }
    }

    /// A read image: the header, its checks, and the parts of a multi-file or script image.
    public struct Parsed: Sendable {
        public var path: String
        public var header: Header
        public var computedHeaderCRC: UInt32
        public var computedDataCRC: UInt32
        public var fileSize: Int
        /// (offset in the file, size) of each part; one part (the whole data) for other types.
        public var parts: [(offset: Int, size: Int)]

        public var headerCRCOK: Bool { computedHeaderCRC == header.headerCRC }
        public var dataCRCOK: Bool { computedDataCRC == header.dataCRC }
    }

    /// Reads and checks an image, streaming the data for its CRC. Throws on a bad magic, a header
    /// that is cut short or a data size beyond the end of the file; CRC results are reported in
    /// ``Parsed`` (``verify(_:)`` turns them into errors).
    public static func read(_ path: String) throws -> Parsed {
        let fileSize = try FileIO.size(of: path)
        guard fileSize >= headerSize else {
            throw BootImageError.truncated(path: path, what: "header", offset: 0, expected: headerSize, found: fileSize)
        }
        var bytes = try FileIO.read(path, offset: 0, count: headerSize)
        let found = try ByteReader(bytes).get(UInt32.self, at: Field.magic, .big, field: "ih_magic")
        guard found == magic else { throw BootImageError.badMagic(path: path, expected: magic, found: found) }
        let header = try Header.decode(bytes)
        bytes.replaceSubrange(Field.headerCRC..<Field.headerCRC + 4, with: [0, 0, 0, 0])
        let hcrc = CRC32.zlib(bytes)
        let size = Int(header.size)
        guard fileSize - headerSize >= size else {
            throw BootImageError.truncated(path: path, what: "data (ih_size)", offset: headerSize, expected: size, found: fileSize - headerSize)
        }
        let dcrc = try streamCRC(path, offset: headerSize, count: size)
        var parts: [(offset: Int, size: Int)] = [(headerSize, size)]
        if header.hasPartTable { parts = try partTable(path, dataSize: size) }
        return Parsed(path: path, header: header, computedHeaderCRC: hcrc, computedDataCRC: dcrc, fileSize: fileSize, parts: parts)
    }

    /// Throws the first failed check of a parsed image.
    public static func verify(_ p: Parsed) throws {
        if !p.headerCRCOK { throw BootImageError.headerCRC(path: p.path, expected: p.computedHeaderCRC, found: p.header.headerCRC) }
        if !p.dataCRCOK { throw BootImageError.dataCRC(path: p.path, expected: p.computedDataCRC, found: p.header.dataCRC) }
    }

    static func partTable(_ path: String, dataSize: Int) throws -> [(offset: Int, size: Int)] {
        var sizes: [Int] = []
        var pos = headerSize
        while true {
            guard pos + 4 <= headerSize + dataSize else {
                throw BootImageError.badPartTable(path: path, offset: headerSize, reason: "expected a 0 ending the size list within the \(dataSize)-byte data, found none")
            }
            let v = Int(try ByteReader(try FileIO.read(path, offset: pos, count: 4)).get(UInt32.self, at: 0, .big))
            pos += 4
            if v == 0 { break }
            sizes.append(v)
        }
        var parts: [(offset: Int, size: Int)] = []
        for (i, s) in sizes.enumerated() {
            guard pos + s <= headerSize + dataSize else {
                throw BootImageError.badPartTable(path: path, offset: headerSize + 4 * i, reason: "part \(i) of \(s) bytes at offset \(hex(pos)) runs past the data's end (\(hex(headerSize + dataSize)))")
            }
            parts.append((pos, s))
            pos += (s + 3) & ~3
        }
        return parts
    }

    static func streamCRC(_ path: String, offset: Int, count: Int) throws -> UInt32 {
        var crc: UInt32 = 0
        try FileIO.forEachChunk(path, offset: offset, count: count) { crc = CRC32.zlib($0, previous: crc) }
        return crc
    }

    /// Copies part `index` (or the whole data) to `output`, atomically and streaming.
    public static func extract(_ p: Parsed, part index: Int?, output: String) throws {
        let (offset, size): (Int, Int)
        if let index {
            guard p.header.hasPartTable || index == 0 else {
                throw BootImageError.noParts(path: p.path, type: UImageTables.name(UImageTables.type, p.header.type).short)
            }
            guard index >= 0 && index < p.parts.count else { throw BootImageError.noSuchPart(path: p.path, index: index, count: p.parts.count) }
            (offset, size) = p.parts[index]
        } else {
            (offset, size) = (headerSize, Int(p.header.size))
        }
        try FileIO.copyRange(p.path, offset: offset, count: size, to: output)
    }
}

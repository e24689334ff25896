import FlashsmithCore

/// U-Boot environment blob (U-Boot `include/env_internal.h` `env_t`, `tools/mkenvimage.c`).
///
/// One copy, `size` bytes (= the board's `CONFIG_ENV_SIZE`):
/// ```
///  single                          redundant (CONFIG_ENV_REDUNDANT; two copies)
///  +0  crc32   u32 (LE; BE if -b)   +0  crc32   u32
///  +4  data    name=value\0 …       +4  flags   u8   counter (NAND/UBI/file) or
///              name=value\0\0                        boolean (NOR: 1 active, 0 obsolete)
///              pad (0xFF default)   +5  data    name=value\0 … \0\0 pad
///      to size                          to size
/// ```
/// The CRC is zlib's `crc32(0, data, size - header)` over the **whole** data area, padding included;
/// the flags byte is outside it. A redundant environment keeps two such copies (at `ENV_OFFSET` and
/// `ENV_OFFSET_REDUND`); which one U-Boot uses is decided by ``EnvSelection``.
public enum EnvLayout {
    /// Offset of the CRC32 field.
    public static let crcOffset = 0
    /// Offset of the flags byte (redundant copies only).
    public static let flagsOffset = 4
    /// Header bytes before the data area: CRC, plus the flags byte when redundant.
    public static func headerSize(redundant: Bool) -> Int { redundant ? 5 : 4 }
    /// Flag value of a freshly written redundant copy (mkenvimage -r, boolean "active").
    public static let activeFlag: UInt8 = 1
    /// Boolean scheme: the copy that was replaced.
    public static let obsoleteFlag: UInt8 = 0
}

/// One `name=value` pair, kept as bytes: names and values that are not UTF-8 survive verbatim.
public struct EnvVariable: Sendable, Equatable, Hashable {
    public var name: [UInt8]
    public var value: [UInt8]

    public init(name: [UInt8], value: [UInt8]) {
        self.name = name
        self.value = value
    }

    public init(_ name: String, _ value: String) {
        self.init(name: Array(name.utf8), value: Array(value.utf8))
    }

    public var nameText: String { String(decoding: name, as: UTF8.self) }
    public var valueText: String { String(decoding: value, as: UTF8.self) }

    /// Refuses empty names and names with `=` or whitespace (U-Boot cannot store or set them).
    public static func validate(name: [UInt8], source: String) throws(EnvError) {
        guard !name.isEmpty else { throw .emptyName(source: source) }
        if name.contains(UInt8(ascii: "=")) { throw .nameContainsEquals(source: source, name: printable(name)) }
        if name.contains(where: { $0 == 0x20 || $0 == 0x09 || $0 == 0x0A || $0 == 0x0D || $0 == 0 }) {
            throw .nameContainsWhitespace(source: source, name: printable(name))
        }
    }
}

/// How the flag bytes of a redundant pair are advanced.
public enum FlagScheme: String, Sendable, CaseIterable {
    /// NAND, UBI, files, block devices: the new copy gets the current flag + 1 (255 wraps to 0).
    case counter
    /// NOR/DataFlash: the new copy gets 1 (active), the old copy's flag byte is set to 0 (obsolete).
    case boolean
}

/// The variables of an environment and the parameters of the blob that holds them.
public struct EnvImage: Sendable, Equatable {
    public var variables: [EnvVariable]
    /// Bytes per copy (`CONFIG_ENV_SIZE`).
    public var size: Int
    public var redundant: Bool
    public var byteOrder: ByteOrder
    public var padByte: UInt8

    public init(variables: [EnvVariable], size: Int, redundant: Bool = false, byteOrder: ByteOrder = .little, padByte: UInt8 = 0xFF) {
        self.variables = variables
        self.size = size
        self.redundant = redundant
        self.byteOrder = byteOrder
        self.padByte = padByte
    }

    public var headerSize: Int { EnvLayout.headerSize(redundant: redundant) }
    /// Bytes available for `name=value\0…\0`.
    public var capacity: Int { size - headerSize }

    /// The data area's text: each variable as `name=value\0`, then a final `\0`; an empty environment
    /// is a single `\0` (what mkenvimage writes for an empty input).
    public static func encodeEntries(_ variables: [EnvVariable]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(variables.reduce(1) { $0 + $1.name.count + $1.value.count + 2 })
        for v in variables {
            out.append(contentsOf: v.name)
            out.append(UInt8(ascii: "="))
            out.append(contentsOf: v.value)
            out.append(0)
        }
        out.append(0)
        if variables.isEmpty { return [0] }
        return out
    }

    /// Bytes the variables need in the data area.
    public var neededBytes: Int { Self.encodeEntries(variables).count }

    /// One copy of the blob, `size` bytes, with `flag` in the flags byte when redundant.
    public func encodeCopy(flag: UInt8 = EnvLayout.activeFlag) throws(EnvError) -> [UInt8] {
        guard size > headerSize + 1 else { throw .sizeTooSmall(size: size, minimum: headerSize + 2) }
        let entries = Self.encodeEntries(variables)
        guard entries.count <= capacity else { throw .doesNotFit(needed: entries.count, capacity: capacity, size: size) }
        var w = ByteWriter(capacity: size)
        w.append(UInt32(0), byteOrder)
        if redundant { w.append(flag) }
        w.append(contentsOf: entries)
        w.pad(to: size, with: padByte)
        let crc = w.bytes.withUnsafeBytes { CRC32.zlib(UnsafeRawBufferPointer(rebasing: $0[headerSize...])) }
        w.set(crc, at: EnvLayout.crcOffset, byteOrder)
        return w.bytes
    }

    /// The value of the last variable called `name` (U-Boot's import lets the last one win).
    public func value(of name: [UInt8]) -> [UInt8]? { variables.last { $0.name == name }?.value }

    /// Sets `name` to `value`: replaces it where it stands (dropping later duplicates) or appends it.
    public mutating func set(_ name: [UInt8], _ value: [UInt8]) {
        if let i = variables.firstIndex(where: { $0.name == name }) {
            variables[i].value = value
            var j = variables.count - 1
            while j > i {
                if variables[j].name == name { variables.remove(at: j) }
                j -= 1
            }
        } else {
            variables.append(EnvVariable(name: name, value: value))
        }
    }

    /// Removes every variable called `name`; returns whether one was there.
    @discardableResult
    public mutating func unset(_ name: [UInt8]) -> Bool {
        let before = variables.count
        variables.removeAll { $0.name == name }
        return variables.count != before
    }
}

/// One decoded copy of a blob, valid or not.
public struct EnvCopy: Sendable, Equatable {
    /// 1 or 2.
    public var index: Int
    /// Where the copy starts in its source.
    public var offset: Int
    public var storedCRC: UInt32
    public var computedCRC: UInt32
    public var flag: UInt8?
    public var byteOrder: ByteOrder
    /// Variables, parsed even when the CRC is bad; `nil` when the data area could not be parsed.
    public var variables: [EnvVariable]?
    public var parseError: EnvError?
    /// The byte after the terminating empty entry (0xFF when the area is full).
    public var padByte: UInt8
    /// Bytes of the data area in use, terminator included.
    public var used: Int
    public var size: Int

    public var crcOK: Bool { storedCRC == computedCRC }
    public var redundant: Bool { flag != nil }

    /// Decodes one copy of `size` bytes. The CRC is checked in `byteOrder`, or in whichever order
    /// matches when `byteOrder` is nil (little-endian is reported when neither does). Any slice is
    /// decoded without trapping: one too short for the header and a data byte (an 8-byte file read
    /// as two 4-byte copies) is a copy whose CRC is reported bad and whose data cannot be parsed.
    public static func decode(_ bytes: ArraySlice<UInt8>, index: Int, offset: Int, redundant: Bool, byteOrder: ByteOrder?, source: String) -> EnvCopy {
        let hdr = EnvLayout.headerSize(redundant: redundant)
        let base = bytes.startIndex
        guard bytes.count > hdr else {
            var stored: UInt32 = 0
            for (k, b) in bytes.prefix(4).enumerated() { stored |= UInt32(b) << (8 * UInt32(k)) }
            return EnvCopy(
                index: index, offset: offset, storedCRC: stored, computedCRC: ~stored, flag: redundant && bytes.count > EnvLayout.flagsOffset ? bytes[base + EnvLayout.flagsOffset] : (redundant ? 0xFF : nil),
                byteOrder: byteOrder ?? .little, variables: nil, parseError: .unterminated(source: source, copy: index, offset: offset), padByte: 0xFF, used: 0, size: bytes.count)
        }
        let computed = bytes.withUnsafeBytes { CRC32.zlib(UnsafeRawBufferPointer(rebasing: $0[hdr...])) }
        let reader = ByteReader(Array(bytes[base..<base + 4]))
        let le = (try? reader.get(UInt32.self, at: 0, .little)) ?? 0
        let be = (try? reader.get(UInt32.self, at: 0, .big)) ?? 0
        let order: ByteOrder = byteOrder ?? (le == computed ? .little : (be == computed ? .big : .little))
        let stored = order == .little ? le : be
        var copy = EnvCopy(
            index: index, offset: offset, storedCRC: stored, computedCRC: computed,
            flag: redundant ? bytes[base + EnvLayout.flagsOffset] : nil, byteOrder: order, variables: nil, parseError: nil,
            padByte: 0xFF, used: 0, size: bytes.count)
        do throws(EnvError) {
            let (vars, used) = try parseEntries(bytes[(base + hdr)...], copy: index, dataOffset: offset + hdr, source: source)
            copy.variables = vars
            copy.used = used
            if used < bytes.count - hdr { copy.padByte = bytes[base + hdr + used] }
        } catch {
            copy.parseError = error
        }
        return copy
    }

    /// Splits a data area into variables; returns them and the bytes used (terminator included).
    static func parseEntries(_ data: ArraySlice<UInt8>, copy: Int, dataOffset: Int, source: String) throws(EnvError) -> ([EnvVariable], Int) {
        var vars: [EnvVariable] = []
        var i = data.startIndex
        let end = data.endIndex
        while i < end {
            guard let nul = data[i..<end].firstIndex(of: 0) else { break }
            if nul == i { return (vars, i - data.startIndex + 1) }
            let entry = data[i..<nul]
            guard let eq = entry.firstIndex(of: UInt8(ascii: "=")), eq != i else {
                throw .malformedEntry(source: source, copy: copy, offset: dataOffset + (i - data.startIndex), found: printable(entry))
            }
            vars.append(EnvVariable(name: Array(entry[i..<eq]), value: Array(entry[(eq + 1)...])))
            i = nul + 1
        }
        throw .unterminated(source: source, copy: copy, offset: dataOffset - EnvLayout.headerSize(redundant: true))
    }

    public func image() -> EnvImage? {
        guard let variables else { return nil }
        return EnvImage(variables: variables, size: size, redundant: redundant, byteOrder: byteOrder, padByte: padByte)
    }
}

/// Which copy of a redundant pair U-Boot loads, and why (U-Boot `env/common.c` `env_check_redund`
/// and `env/nand.c` for the counter scheme, `env/flash.c` for the boolean one; libubootenv 0.3.2
/// `libuboot_load` chooses the same copy).
public struct EnvSelection: Sendable, Equatable {
    /// 1 or 2; nil when neither copy is valid (U-Boot falls back to its built-in default).
    public var active: Int?
    public var reason: String

    public static func choose(_ a: EnvCopy, _ b: EnvCopy, scheme: FlagScheme) -> EnvSelection {
        let okA = a.crcOK && a.variables != nil, okB = b.crcOK && b.variables != nil
        switch (okA, okB) {
        case (false, false): return EnvSelection(active: nil, reason: "neither copy has a valid CRC: U-Boot uses its default environment")
        case (true, false): return EnvSelection(active: 1, reason: "only copy 1 has a valid CRC")
        case (false, true): return EnvSelection(active: 2, reason: "only copy 2 has a valid CRC")
        case (true, true): break
        }
        let f1 = a.flag ?? 0, f2 = b.flag ?? 0
        switch scheme {
        case .counter:
            if f1 == 255 && f2 == 0 { return EnvSelection(active: 2, reason: "both valid; counter wrapped: flag 0 follows 255") }
            if f2 == 255 && f1 == 0 { return EnvSelection(active: 1, reason: "both valid; counter wrapped: flag 0 follows 255") }
            if f1 > f2 { return EnvSelection(active: 1, reason: "both valid; copy 1 has the higher counter (\(f1) > \(f2))") }
            if f2 > f1 { return EnvSelection(active: 2, reason: "both valid; copy 2 has the higher counter (\(f2) > \(f1))") }
            return EnvSelection(active: 1, reason: "both valid with equal counters (\(f1)): copy 1 by default")
        case .boolean:
            if f1 == EnvLayout.activeFlag && f2 == EnvLayout.obsoleteFlag { return EnvSelection(active: 1, reason: "both valid; copy 1 active, copy 2 obsolete") }
            if f1 == EnvLayout.obsoleteFlag && f2 == EnvLayout.activeFlag { return EnvSelection(active: 2, reason: "both valid; copy 2 active, copy 1 obsolete") }
            if f1 == f2 { return EnvSelection(active: 1, reason: "both valid with equal flags (\(f1)): copy 1 by default") }
            if f1 == 0xFF { return EnvSelection(active: 1, reason: "both valid; copy 1's flag is erased (0xff)") }
            if f2 == 0xFF { return EnvSelection(active: 2, reason: "both valid; copy 2's flag is erased (0xff)") }
            return EnvSelection(active: 1, reason: "both valid with unexpected flags (\(f1), \(f2)): copy 1 by default")
        }
    }

    /// The flag a newly written copy gets when the active copy has `current`.
    public static func nextFlag(after current: UInt8, scheme: FlagScheme) -> UInt8 {
        switch scheme {
        case .counter: return current &+ 1
        case .boolean: return EnvLayout.activeFlag
        }
    }
}

/// Byte order of a multi-byte field on disk. Every read and write names one; nothing depends on the
/// host's byte order, and no Swift struct is ever written to disk.
public enum ByteOrder: String, Sendable, CaseIterable {
    case little
    case big
}

/// A bounds-checked read that ran past the end of its buffer.
public struct ByteReadError: FlashsmithError, Equatable {
    /// What was being read (a field name, or "data").
    public var field: String
    /// Absolute offset of the read.
    public var offset: Int
    /// Bytes the read needed.
    public var needed: Int
    /// Bytes that were left from `offset`.
    public var available: Int

    public init(field: String, offset: Int, needed: Int, available: Int) {
        self.field = field
        self.offset = offset
        self.needed = needed
        self.available = available
    }

    public var category: ErrorCategory { .data }
    public var description: String {
        "\(field) at offset \(hex(offset)): expected \(needed) bytes, found \(max(available, 0))"
    }
}

/// Reads integers and byte ranges from a byte buffer with an explicit byte order.
///
/// `get` reads at an absolute offset and leaves the cursor alone; `read` reads at the cursor and
/// moves it. Every read is bounds-checked and a failure names the field and the offset
/// (the NIO `ByteBuffer` / swift-binary-parsing shape, without the dependency).
public struct ByteReader: Sendable {
    public let bytes: [UInt8]
    /// Offset of `bytes[0]` in the file it came from, so errors name file offsets.
    public let baseOffset: Int
    public private(set) var cursor: Int = 0

    public init(_ bytes: [UInt8], baseOffset: Int = 0) {
        self.bytes = bytes
        self.baseOffset = baseOffset
    }

    public var remaining: Int { bytes.count - cursor }

    private func check(_ offset: Int, _ count: Int, _ field: String) throws(ByteReadError) {
        guard offset >= 0, count >= 0, offset <= bytes.count, count <= bytes.count - offset else {
            throw ByteReadError(field: field, offset: baseOffset + offset, needed: count, available: bytes.count - offset)
        }
    }

    /// The integer of type `T` stored at `offset` in `order`.
    public func get<T: FixedWidthInteger>(_: T.Type, at offset: Int, _ order: ByteOrder, field: String = "field") throws(ByteReadError) -> T {
        let size = MemoryLayout<T>.size
        try check(offset, size, field)
        var value: T = 0
        for i in 0..<size {
            let b = T(truncatingIfNeeded: bytes[offset + i])
            switch order {
            case .little: value |= b << (8 * i)
            case .big: value = (value << 8) | b
            }
        }
        return value
    }

    /// `count` bytes at `offset`.
    public func get(bytesAt offset: Int, count: Int, field: String = "data") throws(ByteReadError) -> ArraySlice<UInt8> {
        try check(offset, count, field)
        return bytes[offset..<offset + count]
    }

    public mutating func read<T: FixedWidthInteger>(_ type: T.Type, _ order: ByteOrder, field: String = "field") throws(ByteReadError) -> T {
        let v = try get(type, at: cursor, order, field: field)
        cursor += MemoryLayout<T>.size
        return v
    }

    public mutating func read(count: Int, field: String = "data") throws(ByteReadError) -> ArraySlice<UInt8> {
        let v = try get(bytesAt: cursor, count: count, field: field)
        cursor += count
        return v
    }

    public mutating func seek(to offset: Int) throws(ByteReadError) {
        try check(offset, 0, "seek")
        cursor = offset
    }
}

/// Builds a byte buffer with explicit byte order. `append…` writes at the end; `set` patches at an
/// absolute offset (for back-patching a CRC or a length once the payload is in place).
public struct ByteWriter: Sendable {
    public private(set) var bytes: [UInt8]

    public init(capacity: Int = 0) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    public init(filledWith byte: UInt8, count: Int) {
        bytes = [UInt8](repeating: byte, count: count)
    }

    public var count: Int { bytes.count }

    public mutating func append<T: FixedWidthInteger>(_ value: T, _ order: ByteOrder) {
        let size = MemoryLayout<T>.size
        for i in 0..<size {
            let shift = order == .little ? 8 * i : 8 * (size - 1 - i)
            bytes.append(UInt8(truncatingIfNeeded: value >> shift))
        }
    }

    public mutating func append<S: Sequence>(contentsOf data: S) where S.Element == UInt8 {
        bytes.append(contentsOf: data)
    }

    public mutating func append(_ byte: UInt8) { bytes.append(byte) }

    /// Appends `byte` until the buffer is `size` long (no-op when it already is).
    public mutating func pad(to size: Int, with byte: UInt8) {
        if bytes.count < size { bytes.append(contentsOf: repeatElement(byte, count: size - bytes.count)) }
    }

    /// Writes `value` at `offset`, which must lie inside the buffer.
    public mutating func set<T: FixedWidthInteger>(_ value: T, at offset: Int, _ order: ByteOrder) {
        let size = MemoryLayout<T>.size
        precondition(offset >= 0 && offset + size <= bytes.count, "set outside the buffer")
        for i in 0..<size {
            let shift = order == .little ? 8 * i : 8 * (size - 1 - i)
            bytes[offset + i] = UInt8(truncatingIfNeeded: value >> shift)
        }
    }

    public mutating func set<C: Collection>(bytes data: C, at offset: Int) where C.Element == UInt8 {
        precondition(offset >= 0 && offset + data.count <= bytes.count, "set outside the buffer")
        bytes.replaceSubrange(offset..<offset + data.count, with: data)
    }
}

import FlashsmithCore

/// Environments that are not one copy or two copies back to back:
///
/// - **an env partition's image**, as `flashsmith build` writes `env.img` and as a dump of the
///   partition reads: copy 1 at 0, and for a redundant pair copy 2 at the start of the
///   partition's second half (its own bad-block range), erased bytes (0xff) between; the image may
///   end with copy 2, be padded to the partition's size, or be trimmed of its trailing 0xff bytes
///   (a copy that runs past the end of the file is read as erased there, as on flash);
/// - **an environment inside a bigger image** (a chip image): copies at given offsets
///   (`env print --offset OFF [--redundant OFF2] [-s SIZE]`), the size found from the CRC when not given.
///
/// Without a size, the copy size is where copy 1's CRC checks: a multiple of 512 bytes (sizes of
/// real environments are whole sectors), up to ``maxScan``.
public enum EnvPartitionImage {
    /// How far a copy's size is looked for from its start (16 MiB).
    public static let maxScan = 16 << 20
    /// Copy sizes and copy 2's offset are multiples of this.
    public static let granule = 512

    /// Sizes at which a copy starting at `bytes[start]` has a valid CRC (either byte order), smallest
    /// first: the CRC of the data area is carried along 512 bytes at a time and compared with the
    /// stored one at each multiple of 512.
    public static func copySizes(_ bytes: ArraySlice<UInt8>, redundant: Bool, limit: Int = maxScan) -> [Int] {
        let hdr = EnvLayout.headerSize(redundant: redundant)
        let base = bytes.startIndex
        guard bytes.count >= granule else { return [] }
        let le = UInt32(bytes[base]) | UInt32(bytes[base + 1]) << 8 | UInt32(bytes[base + 2]) << 16 | UInt32(bytes[base + 3]) << 24
        let be = le.byteSwapped
        var found: [Int] = []
        var crc: UInt32 = 0
        var pos = hdr
        let end = min(bytes.count, limit)
        bytes.withUnsafeBytes { raw in
            while pos + granule - pos % granule <= end {
                let next = pos + granule - pos % granule
                crc = CRC32.zlib(UnsafeRawBufferPointer(rebasing: raw[pos..<next]), previous: crc)
                pos = next
                if crc == le || crc == be { found.append(pos) }
            }
        }
        return found
    }

    /// Reads the file `path` of `fileSize` bytes as an env partition image, or nil when it is not
    /// one (or larger than an env partition can be: 32 MiB).
    static func read(file path: String, fileSize: Int, hints: EnvLayoutHints) throws -> EnvBlob? {
        guard fileSize <= 2 * maxScan else { return nil }
        return read(try FileIO.read(path, offset: 0, count: fileSize), path: path, hints: hints)
    }

    /// Reads an env partition image (see above) from the whole file `bytes`, or nil when it is not one.
    static func read(_ bytes: [UInt8], path: String, hints: EnvLayoutHints) -> EnvBlob? {
        let kinds = hints.redundant.map { [$0] } ?? [true, false]
        for redundant in kinds {
            let sizes = hints.size.map { [$0] } ?? copySizes(bytes[...], redundant: redundant)
            for size in sizes where size >= EnvLayout.headerSize(redundant: true) + 2 && size < bytes.count {
                if let blob = read(bytes, path: path, size: size, redundant: redundant, hints: hints) { return blob }
            }
        }
        return nil
    }

    /// Copy 1 of `size` bytes at 0; after it nothing but 0xff (one copy), or copy 2 at the first
    /// 512-byte boundary holding data and 0xff after it.
    static func read(_ bytes: [UInt8], path: String, size: Int, redundant: Bool, hints: EnvLayoutHints) -> EnvBlob? {
        let loc = { (off: Int) in FWEnvConfig.Location(device: path, offset: off, envSize: size) }
        let c1 = EnvCopy.decode(bytes[0..<size], index: 1, offset: 0, redundant: redundant, byteOrder: hints.byteOrder, source: path)
        guard let first = bytes[size...].firstIndex(where: { $0 != 0xFF }) else {
            let blob = EnvBlob.make(path, [c1], [loc(0)], hints: hints, implied: nil)
            return blob.selection.active == nil ? nil : blob
        }
        guard redundant else { return nil }
        let offset = max(size, first / granule * granule)
        let end = min(bytes.count, offset + size)
        guard bytes[end...].allSatisfy({ $0 == 0xFF }) else { return nil }
        let copy2 = Array(bytes[offset..<end]) + [UInt8](repeating: 0xFF, count: size - (end - offset))
        let c2 = EnvCopy.decode(copy2[...], index: 2, offset: offset, redundant: true, byteOrder: hints.byteOrder, source: path)
        let blob = EnvBlob.make(path, [c1, c2], [loc(0), loc(offset)], hints: hints, implied: nil)
        return blob.selection.active == nil ? nil : blob
    }

    /// The environment at `offset` (and `redundantOffset`) in the file or device `path`, copies of
    /// `size` bytes (found from copy 1's CRC when nil): an fw_env.config of one or two lines, read
    /// and written as such (``EnvBlob/read(config:hints:)``, ``EnvBlob/writes(storing:)``).
    public static func config(path: String, offset: Int, redundantOffset: Int?, size: Int?, hints: EnvLayoutHints) throws -> FWEnvConfig {
        let fileSize = try FileIO.size(of: path)
        func check(_ o: Int, _ what: String) throws {
            guard o >= 0, o < fileSize else {
                throw EnvError.wrongSize(source: path, expected: "\(what) \(hex(o)) inside the file", found: fileSize)
            }
        }
        try check(offset, "--offset")
        if let r = redundantOffset { try check(r, "--redundant") }
        var envSize = size
        if envSize == nil {
            let count = min(maxScan, fileSize - offset)
            let bytes = try FileIO.read(path, offset: offset, count: count)
            guard let s = copySizes(bytes[...], redundant: redundantOffset != nil).first else {
                let pair = redundantOffset == nil ? " (--redundant OFF2 for the first of a redundant pair)" : ""
                throw EnvError.wrongSize(source: path, expected: "an environment at \(hex(offset)) whose CRC checks at a multiple of 512 bytes (or -s SIZE)\(pair)", found: fileSize)
            }
            envSize = s
        }
        let s = envSize!
        var locations = [FWEnvConfig.Location(device: path, offset: offset, envSize: s)]
        if let r = redundantOffset { locations.append(FWEnvConfig.Location(device: path, offset: r, envSize: s)) }
        for l in locations {
            let (end, overflow) = l.offset.addingReportingOverflow(s)
            guard !overflow, end <= fileSize else {
                throw EnvError.wrongSize(source: path, expected: "a copy of \(hex(s)) bytes at \(hex(l.offset)) inside the file", found: fileSize)
            }
        }
        return FWEnvConfig(path: path, locations: locations)
    }
}

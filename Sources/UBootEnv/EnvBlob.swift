import FlashsmithCore

/// What the caller knows about a blob's layout; everything left nil is detected.
public struct EnvLayoutHints: Sendable {
    public var size: Int?
    public var redundant: Bool?
    public var byteOrder: ByteOrder?
    public var scheme: FlagScheme?

    public init(size: Int? = nil, redundant: Bool? = nil, byteOrder: ByteOrder? = nil, scheme: FlagScheme? = nil) {
        self.size = size
        self.redundant = redundant
        self.byteOrder = byteOrder
        self.scheme = scheme
    }
}

/// An environment as read from its storage: one or two decoded copies, where each lives, the flag
/// scheme and which copy U-Boot would load.
public struct EnvBlob: Sendable {
    public var source: String
    public var copies: [EnvCopy]
    public var locations: [FWEnvConfig.Location]
    public var scheme: FlagScheme
    public var schemeReason: String
    public var selection: EnvSelection

    public var redundant: Bool { copies[0].redundant }
    public var size: Int { copies[0].size }

    /// The copy U-Boot loads, if any is valid.
    public var activeCopy: EnvCopy? { selection.active.map { copies[$0 - 1] } }

    /// The environment U-Boot would load, or an error naming the bad copies.
    public func activeImage() throws(EnvError) -> EnvImage {
        if let c = activeCopy, let img = c.image() { return img }
        throw failure()
    }

    /// The error for a blob with no usable copy.
    public func failure() -> EnvError {
        if copies.count == 1 {
            let c = copies[0]
            if !c.crcOK { return .crcMismatch(source: source, copy: 1, offset: c.offset, expected: c.computedCRC, found: c.storedCRC) }
            return c.parseError ?? .noValidCopy(source: source, details: "copy 1 unreadable")
        }
        let details = copies.map { c in
            c.crcOK ? "copy \(c.index) at \(hex(c.offset)): \(c.parseError?.description ?? "unreadable")"
                : "copy \(c.index) at \(hex(c.offset)): expected CRC \(crcText(c.computedCRC)), found \(crcText(c.storedCRC))"
        }.joined(separator: "; ")
        return .noValidCopy(source: source, details: details)
    }

    // MARK: Reading

    /// Reads an environment held in a file: one copy, or two copies back to back.
    ///
    /// With a size (`-s`): the file must be one copy or two. Without: the file size is one copy
    /// (single, or one redundant copy as `mkenvimage -r` writes it), else half of it is one of two
    /// redundant copies; the interpretation whose CRC checks is taken.
    public static func read(file path: String, hints: EnvLayoutHints) throws -> EnvBlob {
        let kind = FileIO.kind(of: path)
        let fileSize: Int
        switch kind {
        case let .regular(size): fileSize = size
        case .blockDevice: fileSize = try FileIO.size(of: path)
        case .missing: throw FileError.cannotOpen(path: path, reason: "No such file or directory")
        default: throw FileError.notARegularFile(path: path, kind: kind.name)
        }
        let minimum = EnvLayout.headerSize(redundant: true) + 2
        if let s = hints.size {
            guard s >= minimum else { throw EnvError.sizeTooSmall(size: s, minimum: minimum) }
            guard kind == .blockDevice || fileSize == s || fileSize == 2 * s else {
                if fileSize > s, let blob = try EnvPartitionImage.read(file: path, fileSize: fileSize, hints: hints) { return blob }
                throw EnvError.wrongSize(source: path, expected: "\(s) bytes (one copy of size \(hex(s))) or \(2 * s) (two copies)", found: fileSize)
            }
        }
        guard fileSize >= minimum else {
            throw EnvError.wrongSize(source: path, expected: "at least \(minimum) bytes for an environment", found: fileSize)
        }
        if kind == .blockDevice {
            // A whole disk is no environment: read one copy of the given size at offset 0 (a
            // redundant pair on a block device is described with a two-line fw_env.config).
            guard let s = hints.size else {
                throw EnvError.wrongSize(source: path, expected: "-s SIZE (or -c fw_env.config) for a block device", found: fileSize)
            }
            let bytes = try FileIO.read(path, offset: 0, count: s)
            let loc = [FWEnvConfig.Location(device: path, offset: 0, envSize: s)]
            let tries = (hints.redundant == true ? [true] : hints.redundant == false ? [false] : [false, true]).map { r in
                make(path, [EnvCopy.decode(bytes[...], index: 1, offset: 0, redundant: r, byteOrder: hints.byteOrder, source: path)], loc, hints: hints, implied: nil)
            }
            return tries.first { $0.selection.active != nil } ?? tries[0]
        }
        let bytes = try FileIO.read(path, offset: 0, count: fileSize)
        let loc = { (off: Int, size: Int) in FWEnvConfig.Location(device: path, offset: off, envSize: size) }

        var candidates: [EnvBlob] = []
        func oneCopy(redundant: Bool) -> EnvBlob {
            let c = EnvCopy.decode(bytes[0...], index: 1, offset: 0, redundant: redundant, byteOrder: hints.byteOrder, source: path)
            return make(path, [c], [loc(0, fileSize)], hints: hints, implied: nil)
        }
        func twoCopies(_ s: Int) -> EnvBlob {
            let a = EnvCopy.decode(bytes[0..<s], index: 1, offset: 0, redundant: true, byteOrder: hints.byteOrder, source: path)
            let b = EnvCopy.decode(bytes[s..<2 * s], index: 2, offset: s, redundant: true, byteOrder: hints.byteOrder, source: path)
            return make(path, [a, b], [loc(0, s), loc(s, s)], hints: hints, implied: nil)
        }
        let size = hints.size ?? fileSize
        if fileSize == size {
            if hints.redundant != true { candidates.append(oneCopy(redundant: false)) }
            if hints.redundant != false { candidates.append(oneCopy(redundant: true)) }
        }
        if hints.redundant != false && (fileSize == 2 * size || (hints.size == nil && fileSize % 2 == 0)) {
            candidates.append(twoCopies(fileSize / 2))
        }
        if let good = candidates.first(where: { $0.selection.active != nil }) { return good }
        // An env partition's image (build's env.img, a partition dump, trimmed or not).
        if let blob = EnvPartitionImage.read(bytes, path: path, hints: hints) { return blob }
        guard let first = candidates.first else {
            throw EnvError.wrongSize(source: path, expected: "two copies of \(size) bytes for a redundant environment", found: fileSize)
        }
        return first
    }

    /// Reads the copies a `fw_env.config` describes.
    public static func read(config: FWEnvConfig, hints: EnvLayoutHints) throws -> EnvBlob {
        var copies: [EnvCopy] = []
        let redundant = config.redundant
        for (i, l) in config.locations.enumerated() {
            let bytes = try EnvStore.read(l)
            copies.append(EnvCopy.decode(bytes[...], index: i + 1, offset: l.offset, redundant: redundant, byteOrder: hints.byteOrder, source: "\(l.device)"))
        }
        let source = config.locations.count == 1 ? config.locations[0].device : "\(config.path) (\(config.locations.map(\.device).joined(separator: ", ")))"
        return make(source, copies, config.locations, hints: hints, implied: EnvStore.impliedScheme(config.locations[0]))
    }

    static func make(_ source: String, _ copies: [EnvCopy], _ locs: [FWEnvConfig.Location], hints: EnvLayoutHints, implied: (FlagScheme, String)?) -> EnvBlob {
        var scheme = FlagScheme.counter
        var reason = "counter: the scheme for NAND, UBI and files (--flags boolean for NOR)"
        if let s = hints.scheme {
            scheme = s
            reason = "\(s.rawValue): as asked (--flags)"
        } else if let (s, why) = implied {
            scheme = s
            reason = "\(s.rawValue): \(why)"
        } else if copies.count == 2, let f1 = copies[0].flag, let f2 = copies[1].flag, f1 > 1 || f2 > 1, f1 != 0xFF, f2 != 0xFF {
            reason = "counter: flags \(f1) and \(f2) are not boolean values"
        }
        let selection: EnvSelection
        if copies.count == 2 {
            selection = EnvSelection.choose(copies[0], copies[1], scheme: scheme)
        } else if copies[0].crcOK && copies[0].variables != nil {
            selection = EnvSelection(active: 1, reason: copies[0].redundant ? "one redundant copy (flag \(copies[0].flag ?? 0)); its CRC is valid" : "single copy; its CRC is valid")
        } else {
            selection = EnvSelection(active: nil, reason: "the CRC is not valid: U-Boot uses its default environment")
        }
        return EnvBlob(source: source, copies: copies, locations: locs, scheme: scheme, schemeReason: reason, selection: selection)
    }

    // MARK: Writing

    /// The writes that store `image` as U-Boot's `saveenv` would: a single copy is rewritten; of a
    /// redundant pair the inactive copy is written with the next flag (counter + 1, or 1 with the
    /// old copy's flag cleared to 0 for the boolean scheme).
    public func writes(storing image: EnvImage) throws -> [EnvStore.Write] {
        if copies.count == 1 {
            let flag = copies[0].flag ?? EnvLayout.activeFlag
            return [.copy(locations[0], try image.encodeCopy(flag: flag))]
        }
        guard let active = selection.active else { throw failure() }
        let target = active == 1 ? 2 : 1
        let flag = EnvSelection.nextFlag(after: copies[active - 1].flag ?? 0, scheme: scheme)
        var w: [EnvStore.Write] = [.copy(locations[target - 1], try image.encodeCopy(flag: flag))]
        if scheme == .boolean { w.append(.obsoleteFlag(locations[active - 1])) }
        return w
    }

    /// The writes that store a fresh `image` at `locations`: one copy, or a pair whose first copy
    /// is active (flags 1 and 0, which both schemes read as "copy 1").
    public static func freshWrites(_ image: EnvImage, at locations: [FWEnvConfig.Location]) throws -> [EnvStore.Write] {
        if locations.count == 1 { return [.copy(locations[0], try image.encodeCopy(flag: EnvLayout.activeFlag))] }
        return [
            .copy(locations[0], try image.encodeCopy(flag: EnvLayout.activeFlag)),
            .copy(locations[1], try image.encodeCopy(flag: EnvLayout.obsoleteFlag)),
        ]
    }
}

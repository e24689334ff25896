import FlashsmithCore

extension UBIFSReader {
    /// Counts of what the tree holds, for `inspect`.
    public struct Counts: Sendable {
        public var entries = 0, files = 0, directories = 0, symlinks = 0, devices = 0, others = 0
        public var inodes = 0, hardLinkedNames = 0, xattrs = 0
        public var fileBytes: UInt64 = 0
    }

    public func counts(_ entries: [Entry]) -> Counts {
        var c = Counts()
        var inodes = Set<UInt64>()
        for e in entries {
            c.entries += 1
            c.xattrs += e.xattrs.count
            if !inodes.insert(e.inode).inserted {
                c.hardLinkedNames += 1
                continue
            }
            switch e.kind {
            case .file:
                c.files += 1
                c.fileBytes &+= e.size
            case .directory: c.directories += 1
            case .symlink: c.symlinks += 1
            case .charDevice, .blockDevice: c.devices += 1
            case .fifo, .socket: c.others += 1
            }
        }
        c.inodes = inodes.count
        return c
    }

    /// What `inspect` prints about the image: geometry, areas, compressor, LPT model, UUID, the
    /// master and journal, and the tree's counts.
    public func describe() throws -> (lines: [(String, String)], json: JSON, counts: Counts) {
        let sb = superblock, m = master
        let c = counts(try entries())
        let lines: [(String, String)] = [
            ("geometry", "LEB \(sb.lebSize) (\(hex(sb.lebSize))), min I/O \(sb.minIOSize), \(sb.lebCount) LEBs (max \(sb.maxLEBCount))"),
            ("areas", "log \(sb.logLEBs), LPT \(sb.lptLEBs), orphan \(sb.orphanLEBs) LEBs; main from LEB \(sb.mainFirst)"),
            ("compressor", sb.defaultCompressor.name),
            ("LPT model", sb.bigLPT ? "big" : "small"),
            ("UUID", sb.uuidText),
            ("format", "version \(sb.formatVersion), fanout \(sb.fanout), key hash \(sb.keyHash == 0 ? "r5" : "test"), time granularity \(sb.timeGranularity) ns"),
            ("master", "commit \(m.commitNumber), highest inode \(m.highestInode), \(m.cleanlyUnmounted ? "clean" : "not cleanly unmounted"), index root LEB \(m.rootLEB):\(m.rootOffset)"),
            ("journal", buds.isEmpty ? "empty (everything committed)" : "\(buds.count) bud LEB(s), \(journal.count) node(s) replayed"),
            ("tree", "\(c.entries) entries: \(c.files) files (\(c.fileBytes) bytes), \(c.directories) directories, \(c.symlinks) symlinks, \(c.devices) devices, \(c.others) fifos/sockets, \(c.hardLinkedNames) hard links, \(c.xattrs) xattrs"),
            ("CRCs", problems.isEmpty ? "all good (\(indexNodes) index nodes, \(dataNodes) indexed data nodes)" : "\(problems.count) problem(s): \(problems.prefix(3).joined(separator: "; "))"),
        ]
        let json = JSON.object([
            ("format", .string("ubifs")), ("lebSize", .int(sb.lebSize)), ("minIOSize", .int(sb.minIOSize)), ("lebCount", .int(sb.lebCount)),
            ("maxLEBCount", .int(sb.maxLEBCount)), ("logLEBs", .int(sb.logLEBs)), ("lptLEBs", .int(sb.lptLEBs)), ("orphanLEBs", .int(sb.orphanLEBs)),
            ("compressor", .string(sb.defaultCompressor.name)), ("lptModel", .string(sb.bigLPT ? "big" : "small")), ("uuid", .string(sb.uuidText)),
            ("formatVersion", .int(Int(sb.formatVersion))), ("fanout", .int(sb.fanout)), ("keyHash", .string(sb.keyHash == 0 ? "r5" : "test")),
            ("commitNumber", .int(Int(clamping: m.commitNumber))), ("highestInode", .int(Int(clamping: m.highestInode))), ("clean", .bool(m.cleanlyUnmounted)),
            ("buds", .int(buds.count)), ("journalNodes", .int(journal.count)),
            ("entries", .int(c.entries)), ("inodes", .int(c.inodes)), ("files", .int(c.files)), ("fileBytes", .int(Int(clamping: c.fileBytes))),
            ("directories", .int(c.directories)), ("symlinks", .int(c.symlinks)), ("devices", .int(c.devices)), ("hardLinks", .int(c.hardLinkedNames)),
            ("xattrs", .int(c.xattrs)), ("problems", .array(problems.map { .string($0) })),
        ])
        return (lines, json, c)
    }
}

/// The `inspect` registry entry for plain UBIFS images (a superblock node at offset 0). A UBI
/// image holding UBIFS is UBI's entry, which adds ``describeVolumes(_:)``.
public enum UBIFSFormat: InspectableFormat {
    public static let name = "ubifs"
    public static let summary = "UBIFS image"

    /// One line and one JSON object per UBIFS volume of a UBI image: compressor, LPT model, UUID,
    /// journal, the tree's counts and the CRCs (or why it cannot be read).
    public static func describeVolumes(_ info: UBIImageInfo) -> (lines: [(String, String)], json: [JSON]) {
        var lines: [(String, String)] = [], json: [JSON] = []
        for v in (try? UBIFSLEBSource.ubifsVolumes(info)) ?? [] {
            let key = "volume \(v.id) UBIFS"
            do {
                let r = try UBIFSReader(try UBIFSLEBSource.volume(info, v))
                let d = try r.describe()
                let c = d.counts
                let sb = r.superblock
                lines.append((key, "\(sb.defaultCompressor.name), \(sb.bigLPT ? "big" : "small") LPT, \(sb.lebCount) LEBs, UUID \(sb.uuidText), \(r.master.cleanlyUnmounted ? "clean" : "not cleanly unmounted"), \(r.buds.isEmpty ? "journal empty" : "\(r.buds.count) bud(s)"); \(c.files) files, \(c.directories) directories, \(c.entries) entries; CRCs \(r.problems.isEmpty ? "all good" : "\(r.problems.count) problem(s)")"))
                if case let .object(fields) = d.json { json.append(.object([("volume", .int(v.id)), ("name", .string(v.name))] + fields)) }
            } catch {
                let message = (error as? UBIFSFailure)?.message ?? "\(error)"
                lines.append((key, "unreadable: \(message)"))
                json.append(.object([("volume", .int(v.id)), ("name", .string(v.name)), ("error", .string(message))]))
            }
        }
        return (lines, json)
    }

    public static func probe(path: String, prefix: [UInt8], fileSize: Int) -> FormatDescription? {
        guard UBIFSLEBSource.looksLikeUBIFS(prefix) else { return nil }
        do {
            let d = try UBIFSReader(path: path).describe()
            return FormatDescription(format: name, title: "\(path): UBIFS image", lines: d.lines, json: d.json)
        } catch {
            // Recognised but unreadable: say why rather than "not a recognised format".
            let message = (error as? UBIFSFailure)?.message ?? "\(error)"
            return FormatDescription(format: name, title: "\(path): UBIFS image (unreadable)", lines: [("error", message)], json: .object([("format", .string(name)), ("error", .string(message))]))
        }
    }
}

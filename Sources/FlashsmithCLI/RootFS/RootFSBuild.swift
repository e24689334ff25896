import Archive
import Flash
import ArgumentParser
import FlashsmithCore
import RootFS

extension RootFSCommand {
    /// `flashsmith rootfs build [SPEC] [layer flags] -o OUT`.
    struct Build: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "build",
            abstract: "Build a root filesystem from layers (a YAML spec and/or flags) as a folder, tar, cpio, UBIFS, ext4 or squashfs, without root.",
            discussion: """
                Owners, modes, device nodes and xattrs come out as the layers say, whoever runs the build. A folder \
                written by a normal user gets DIR.mtree beside it with what could not be applied. Times are clamped to \
                SOURCE_DATE_EPOCH (0 unless set), entries are sorted, inode numbers counted: the same inputs give the \
                same bytes. Examples:
                  flashsmith rootfs build --skeleton base --busybox /bin/busybox -o rootfs.cpio.gz
                  flashsmith rootfs build rootfs.yaml -o /srv/nfs/board
                  flashsmith rootfs build rootfs.yaml -o root.ext4 --size 64MiB
                  flashsmith rootfs build rootfs.yaml -o root.squashfs --squashfs-comp zstd
                """
        )

        @Argument(help: "A YAML spec listing the layers (optional: flags alone are enough).")
        var spec: String?

        @OptionGroup var layers: RootFSLayerOptions
        @OptionGroup var out: RootFSOutputOptions
        @OptionGroup(title: "UBIFS output (-o x.ubifs), as mkfs.ubifs") var ubifs: UBIFSGeometryOptions
        @OptionGroup(title: "ext4 and squashfs outputs (-o x.ext4, -o x.squashfs)") var disk: DiskFSOptions
        @OptionGroup var json: JSONOption

        func validate() throws {
            if spec == nil && layers.isEmpty { throw ValidationError("expected a SPEC or at least one layer flag (--skeleton, --overlay, --busybox, …)") }
        }

        func run() throws {
            let (kind, compression) = try out.resolve()
            if kind != .ubifs && ubifs.givenBesidesUUID {
                throw ValidationError("-m/-e/-c/-x and the other UBIFS options apply to a UBIFS output (-o x.ubifs or --format ubifs), not to \(kind.rawValue)")
            }
            if ubifs.uuid != nil && kind != .ubifs && kind != .ext4 {
                throw ValidationError("--uuid applies to a UBIFS or ext4 output, not to \(kind.rawValue)")
            }
            try disk.check(kind: kind)
            // Checked before the layers are applied: a missing -c or --size fails at once.
            let geometry = kind == .ubifs ? try ubifs.options() : nil
            var filesystem = DiskFilesystem.none
            if kind == .ext4 { filesystem = .ext4(try disk.ext4(uuid: ubifs.uuid)) }
            if kind == .squashfs { filesystem = .squashfs(try disk.squashfs(level: out.level)) }
            let manifest = try layers.spec(file: spec).build()
            try RootFSCommand.write(
                manifest, kind: kind, compression: compression, level: out.level, to: out.output, force: out.force, json: json.json, ubifs: geometry,
                disk: filesystem)
        }
    }

    /// Writes a manifest and prints the report (shared by build and nfsroot).
    /// A folder output replaces a folder only when it is empty or Flashsmith wrote it, unless `force`.
    static func write(
        _ m: Manifest, kind: RootFSOutputOptions.Kind, compression: ArchiveCompression, level: Int?, to path: String, force: Bool = false, json: Bool,
        extra: [(String, JSON)] = [], ubifs: UBIFSOptions? = nil, disk: DiskFilesystem = .none
    ) throws {
        var entries = 0
        var bytes = 0
        var notes = m.notes
        var mtree: String?
        var extra = extra
        switch kind {
        case .ubifs:
            guard let ubifs else { throw ValidationError("a UBIFS output needs -m, -e and -c") }
            let r = try UBIFSOutput.write(m, to: path, options: ubifs)
            entries = m.count
            bytes = m.sorted().reduce(0) { $0 + ($1.kind == .file ? $1.size : 0) }
            notes.append("UBIFS: \(r.lebCount) of \(r.maxLEBCount) LEBs of \(r.lebSize) bytes (\(r.imageSize) bytes), \(r.bigLPT ? "big" : "small") LPT model, UUID \(r.uuidString)")
            extra += [("lebCount", .int(r.lebCount)), ("lebSize", .int(r.lebSize)), ("bigLPT", .bool(r.bigLPT)), ("uuid", .string(r.uuidString)), ("imageBytes", .int(r.imageSize))]
        case .ext4:
            guard case let .ext4(o) = disk else { throw ValidationError("an ext4 output needs its size: say --size, e.g. --size 64MiB") }
            let r = try Ext4Output.write(m, to: path, options: o)
            entries = r.entries
            bytes = m.sorted().reduce(0) { $0 + ($1.kind == .file ? $1.size : 0) }
            notes.append("ext4: \(r.blockCount) blocks of \(r.blockSize) bytes (\(r.freeBlocks) free), \(r.inodeCount - r.freeInodes) of \(r.inodeCount) inodes used, UUID \(r.uuidString)\(r.label.isEmpty ? "" : ", label \(r.label)")")
            extra += [("imageBytes", .int(r.imageSize)), ("blockSize", .int(r.blockSize)), ("freeBlocks", .int(r.freeBlocks)), ("inodeCount", .int(r.inodeCount)),
                      ("freeInodes", .int(r.freeInodes)), ("uuid", .string(r.uuidString)), ("hashSeed", .string(r.hashSeedString)), ("label", .string(r.label))]
        case .squashfs:
            guard case let .squashfs(o) = disk else { throw ValidationError("a squashfs output needs its options") }
            let r = try SquashfsOutput.write(m, to: path, options: o)
            entries = r.entries
            bytes = m.sorted().reduce(0) { $0 + ($1.kind == .file ? $1.size : 0) }
            notes.append("squashfs: \(r.imageSize) bytes, \(r.compression.rawValue), blocks of \(r.blockSize) bytes")
            notes += r.notes
            extra += [("imageBytes", .int(r.imageSize)), ("squashfsCompression", .string(r.compression.rawValue)), ("blockSize", .int(r.blockSize))]
        case .dir:
            let r = try DirectoryOutput.write(m, to: path, force: force, command: invocation())
            entries = r.entries
            bytes = r.dataBytes
            notes += r.notes
            mtree = r.mtree
        case .tar, .cpio:
            let r = try ArchiveOutput.write(m, to: path, format: kind == .tar ? .tar : .cpio, compression: compression, level: level)
            entries = r.entries
            bytes = r.dataBytes
            notes += r.notes
        }
        if json {
            var fields: [(String, JSON)] = [
                ("output", .string(path)), ("format", .string(kind.rawValue)), ("compression", .string(compression.rawValue)),
                ("entries", .int(entries)), ("dataBytes", .int(bytes)), ("sourceDateEpoch", .int(Int(m.sourceDateEpoch))),
                ("notes", .array(notes.map { .string($0) })),
            ]
            if let mtree { fields.append(("mtree", .string(mtree))) }
            try output(JSON.object(fields + extra).encoded() + "\n")
        } else {
            var text = "\(path): \(kind.rawValue)\(compression == .none ? "" : " (\(compression.rawValue))"), \(entries) entries, \(bytes) bytes of file data\n"
            for n in notes { text += "  \(n)\n" }
            if let mtree { text += "  record: \(mtree)\n" }
            try output(text)
        }
    }
}

/// The options of an ext4 or squashfs output, for ``RootFSCommand/write``.
enum DiskFilesystem {
    case none
    case ext4(Ext4Options)
    case squashfs(SquashfsOptions)
}

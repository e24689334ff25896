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
            abstract: "Build a root filesystem from layers (a YAML spec and/or flags) as a folder, tar or cpio, without root.",
            discussion: """
                Owners, modes, device nodes and xattrs come out as the layers say, whoever runs the build. A folder \
                written by a normal user gets DIR.mtree beside it with what could not be applied. Times are clamped to \
                SOURCE_DATE_EPOCH (0 unless set), entries are sorted, inode numbers counted: the same inputs give the \
                same bytes. Examples:
                  flashsmith rootfs build --skeleton base --busybox /bin/busybox -o rootfs.cpio.gz
                  flashsmith rootfs build rootfs.yaml -o /srv/nfs/board
                """
        )

        @Argument(help: "A YAML spec listing the layers (optional: flags alone are enough).")
        var spec: String?

        @OptionGroup var layers: RootFSLayerOptions
        @OptionGroup var out: RootFSOutputOptions
        @OptionGroup(title: "UBIFS output (-o x.ubifs), as mkfs.ubifs") var ubifs: UBIFSGeometryOptions
        @OptionGroup var json: JSONOption

        func validate() throws {
            if spec == nil && layers.isEmpty { throw ValidationError("expected a SPEC or at least one layer flag (--skeleton, --overlay, --busybox, …)") }
        }

        func run() throws {
            let (kind, compression) = try out.resolve()
            if kind != .ubifs && ubifs.given {
                throw ValidationError("-m/-e/-c/-x and the other UBIFS options apply to a UBIFS output (-o x.ubifs or --format ubifs), not to \(kind.rawValue)")
            }
            // Checked before the layers are applied: a missing -c fails at once.
            let geometry = kind == .ubifs ? try ubifs.options() : nil
            let manifest = try layers.spec(file: spec).build()
            try RootFSCommand.write(manifest, kind: kind, compression: compression, level: out.level, to: out.output, force: out.force, json: json.json, ubifs: geometry)
        }
    }

    /// Writes a manifest and prints the report (shared by build and nfsroot).
    /// A folder output replaces a folder only when it is empty or Flashsmith wrote it, unless `force`.
    static func write(
        _ m: Manifest, kind: RootFSOutputOptions.Kind, compression: ArchiveCompression, level: Int?, to path: String, force: Bool = false, json: Bool,
        extra: [(String, JSON)] = [], ubifs: UBIFSOptions? = nil
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

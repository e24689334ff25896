import Flash
import FlashsmithCore

/// A manifest written as a UBIFS image by Flashsmith's own writer (``UBIFSWriter``): every entry
/// as the manifest says (owners, modes, devices, xattrs such as `security.capability`, times,
/// hard links), straight from the manifest, with no staging folder and no root.
public enum UBIFSOutput {
    /// The manifest's entries in the writer's terms, in the order every writer uses.
    public static func entries(_ m: Manifest) -> [UBIFSEntry] {
        m.sorted().map { e in
            var u = UBIFSEntry(path: e.path, kind: kind(e.kind), mode: e.mode & 0o7777)
            u.uid = e.uid
            u.gid = e.gid
            u.mtime = e.mtime
            u.xattrs = e.xattrs.sorted { $0.key < $1.key }.map { (name: $0.key, value: $0.value) }
            u.target = e.target
            u.major = e.major
            u.minor = e.minor
            if e.kind == .file {
                u.size = e.size
                let entry = e
                u.content = { body in try ContentReader.stream(entry, body) }
            }
            return u
        }
    }

    static func kind(_ k: Manifest.Kind) -> UBIFSEntry.Kind {
        switch k {
        case .file: return .file
        case .directory: return .directory
        case .symlink: return .symlink
        case .hardlink: return .hardlink
        case .charDevice: return .charDevice
        case .blockDevice: return .blockDevice
        case .fifo: return .fifo
        case .socket: return .socket
        }
    }

    /// Writes `m` to `path` (beside, then renamed). The UUID, unless `options` gives one, is
    /// derived from the content and the manifest's SOURCE_DATE_EPOCH.
    @discardableResult
    public static func write(_ m: Manifest, to path: String, options: UBIFSOptions) throws -> UBIFSSummary {
        var o = options
        o.sourceDateEpoch = m.sourceDateEpoch
        return try UBIFSWriter.write(entries(m), options: o, to: path)
    }
}

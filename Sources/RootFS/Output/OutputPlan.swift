import Archive
import FlashsmithCore

/// The manifest in the order and numbering every writer uses, so that the same manifest always
/// gives the same bytes: entries sorted (a folder before its contents), inode numbers counted from
/// 1 in that order (hard links share their file's), link counts computed (folders: 2 + subfolders),
/// names as `./path` (`.` for the root), device fields 0.
public struct OutputPlan {
    public struct Item {
        public var entry: Manifest.Entry
        public var name: String
        public var inode: Int64
        public var links: UInt32
        /// The file entry whose data this item shares (itself for a file; the target for a hard link).
        public var dataSource: Manifest.Entry
        /// Position of this item within its hard-link group (0 for the first in order) and the group size.
        public var linkIndex: Int
    }

    public var items: [Item] = []

    public typealias Failure = RootFSError

    public static func name(_ path: String) -> String { path == "/" ? "." : "." + path }

    public init(_ m: Manifest) throws {
        let sorted = m.sorted()
        var subdirs: [String: UInt32] = [:]
        var groups: [String: Int] = [:]
        for e in sorted {
            if e.kind == .directory, e.path != "/" { subdirs[Manifest.parent(e.path), default: 0] += 1 }
            if e.kind == .hardlink {
                guard let t = m[e.target], t.kind == .file else {
                    throw Failure(message: "\(e.path): a hard link to \(e.target) (\(e.source)), which is \(m[e.target].map { "a \($0.kind.rawValue)" } ?? "missing")")
                }
                groups[e.target, default: 1] += 1
            }
        }
        var inodes: [String: Int64] = [:]
        var seen: [String: Int] = [:]
        var next: Int64 = 1
        for e in sorted {
            let key = e.kind == .hardlink ? e.target : e.path
            let source = e.kind == .hardlink ? (m[e.target] ?? e) : e
            let inode: Int64
            if let i = inodes[key] {
                inode = i
            } else {
                inode = next
                inodes[key] = next
                next += 1
            }
            let index = seen[key, default: 0]
            seen[key] = index + 1
            let links: UInt32 = e.kind == .directory ? 2 + subdirs[e.path, default: 0] : UInt32(groups[key] ?? 1)
            items.append(Item(entry: e, name: Self.name(e.path), inode: inode, links: links, dataSource: source, linkIndex: index))
        }
    }

    /// Items sharing `item`'s inode that come later in the order.
    public func isLastLink(_ item: Item) -> Bool { item.linkIndex == Int(item.links) - 1 || item.links <= 1 }

    /// The member header for `item` in `format`: tar names the first link's data and makes the
    /// others hard links to it; cpio newc gives every link the inode and the data to the last one;
    /// mtree, which has no hard links, records every name as the whole file.
    public func member(_ item: Item, format: ArchiveFormat, firstName: [Int64: String]) -> ArchiveMember {
        let e = item.dataSource
        var kind: ArchiveMember.Kind
        switch item.entry.kind {
        case .file, .hardlink: kind = .file
        case .directory: kind = .directory
        case .symlink: kind = .symlink
        case .charDevice: kind = .charDevice
        case .blockDevice: kind = .blockDevice
        case .fifo: kind = .fifo
        case .socket: kind = .socket
        }
        var m = ArchiveMember(
            path: item.name, kind: kind, mode: e.mode, uid: e.uid, gid: e.gid, mtime: e.mtime, size: 0,
            deviceMajor: e.major, deviceMinor: e.minor, inode: item.inode, links: item.links
        )
        if kind == .symlink { m.link = e.target }
        if kind == .file {
            switch format {
            case .mtree:
                // mtree has no hard links: every name is the whole file (its size; the writer
                // streams the data again for the digest).
                m.size = e.size
            case .tar:
                if item.linkIndex > 0, let first = firstName[item.inode] {
                    m.kind = .hardlink
                    m.link = first
                } else {
                    m.size = e.size
                }
            case .cpio:
                m.size = isLastLink(item) ? e.size : 0
            }
        }
        if format != .cpio {
            m.xattrs = e.xattrs.keys.sorted().map { ArchiveMember.Xattr(name: $0, value: e.xattrs[$0] ?? []) }
        }
        return m
    }
}

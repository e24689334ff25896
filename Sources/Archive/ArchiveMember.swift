import CArchive
import FlashsmithCore

/// One archive entry's metadata as Flashsmith's writers and readers see it, independent of
/// libarchive's `archive_entry` (which only this target touches).
public struct ArchiveMember: Sendable, Equatable {
    public enum Kind: String, Sendable, CaseIterable {
        case file, directory, symlink, hardlink
        case charDevice = "char", blockDevice = "block", fifo, socket
    }

    /// Name as stored (`./etc/passwd`, `.` for the root).
    public var path: String
    public var kind: Kind
    /// Permission bits (07777).
    public var mode: UInt32
    public var uid: UInt32
    public var gid: UInt32
    public var mtime: Int64
    /// Bytes of data that follow the header (0 for everything but files; cpio hard links carry
    /// theirs on the last link).
    public var size: Int
    /// Symlink target, or the path a hard link points to.
    public var link: String
    public var deviceMajor: UInt32
    public var deviceMinor: UInt32
    public var inode: Int64
    public var links: UInt32
    /// Extended attributes, in the order written (sorted by name by Flashsmith's writers).
    public var xattrs: [Xattr]

    /// The largest device numbers Linux's dev_t carries (MINORBITS 20; 12 bits of major).
    public static let maxDeviceMajor: UInt32 = 0xFFF
    public static let maxDeviceMinor: UInt32 = 0xF_FFFF

    public struct Xattr: Sendable, Equatable {
        public var name: String
        public var value: [UInt8]
        public init(name: String, value: [UInt8]) {
            self.name = name
            self.value = value
        }
    }

    public init(
        path: String, kind: Kind, mode: UInt32, uid: UInt32 = 0, gid: UInt32 = 0, mtime: Int64 = 0, size: Int = 0, link: String = "",
        deviceMajor: UInt32 = 0, deviceMinor: UInt32 = 0, inode: Int64 = 0, links: UInt32 = 1, xattrs: [Xattr] = []
    ) {
        self.path = path
        self.kind = kind
        self.mode = mode
        self.uid = uid
        self.gid = gid
        self.mtime = mtime
        self.size = size
        self.link = link
        self.deviceMajor = deviceMajor
        self.deviceMinor = deviceMinor
        self.inode = inode
        self.links = links
        self.xattrs = xattrs
    }

    /// libarchive's file type for a kind (hard links are regular files with a hardlink name).
    var fileType: UInt32 {
        switch kind {
        case .file, .hardlink: return flashsmith_ae_ifreg()
        case .directory: return flashsmith_ae_ifdir()
        case .symlink: return flashsmith_ae_iflnk()
        case .charDevice: return flashsmith_ae_ifchr()
        case .blockDevice: return flashsmith_ae_ifblk()
        case .fifo: return flashsmith_ae_ififo()
        case .socket: return flashsmith_ae_ifsock()
        }
    }

    static func kind(fileType: UInt32, hardlink: Bool) -> Kind {
        switch fileType {
        case flashsmith_ae_ifdir(): return .directory
        case flashsmith_ae_iflnk(): return .symlink
        case flashsmith_ae_ifchr(): return .charDevice
        case flashsmith_ae_ifblk(): return .blockDevice
        case flashsmith_ae_ififo(): return .fifo
        case flashsmith_ae_ifsock(): return .socket
        default: return hardlink ? .hardlink : .file
        }
    }
}

/// What went wrong inside libarchive, with the file and the entry.
public struct ArchiveFailure: FlashsmithError, Equatable {
    public var path: String
    public var message: String
    public var category: ErrorCategory
    public init(path: String, message: String, category: ErrorCategory = .data) {
        self.path = path
        self.message = message
        self.category = category
    }
    public var description: String { "\(path): \(message)" }
}

func libarchiveError(_ a: OpaquePointer) -> String {
    archive_error_string(a).map { String(cString: $0) } ?? "unknown libarchive error"
}

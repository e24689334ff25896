import CLinux
import FlashsmithCore
#if canImport(Glibc)
import Glibc
#endif

/// A folder copied into the image (overlays; a skeleton's `tree/`). The folder is walked with
/// `lstat` only: a symlink inside it (absolute, or climbing with `..`) becomes a symlink entry and
/// is never followed, so nothing outside the folder is read. Files with several names in the folder
/// stay hard links. Owners become `owner` (default root), as Buildroot's `chown -R 0:0` does; modes
/// are kept, or normalised to 0755/0644 by the executable bit (what git can store).
/// A folder merging into an existing directory keeps that directory's metadata.
/// Like Buildroot, `.git`, `.svn`, `.hg`, `.empty` and names ending in `~` are skipped.
public struct OverlayLayer: Sendable {
    public enum Modes: String, Sendable { case keep, normalise }

    public var folder: String
    public var destination: String = "/"
    public var replace = false
    public var modes: Modes = .keep
    /// nil keeps the folder's owners.
    public var owner: (uid: UInt32, gid: UInt32)? = (0, 0)
    /// Name used in messages (e.g. `overlay overlay/` or `skeleton base`).
    public var label: String

    public init(folder: String, label: String? = nil) {
        self.folder = folder
        self.label = label ?? "overlay \(folder)"
    }

    static let skipped: Set<String> = [".git", ".svn", ".hg", ".empty"]

    public func apply(to m: inout Manifest) throws {
        var st = stat()
        guard stat(folder, &st) == 0 else { throw FileError.cannotOpen(path: folder, reason: FileIO.errnoText()) }
        guard st.st_mode & S_IFMT == S_IFDIR else { throw FileError.notARegularFile(path: folder, kind: "not a folder (an overlay must be a folder)") }
        let dest = try m.mkdir(destination, source: label)
        var inodes: [[UInt64]: String] = [:]
        try walk(folder, image: dest, manifest: &m, inodes: &inodes)
    }

    func mode(_ st: stat) -> UInt32 {
        let kind = st.st_mode & S_IFMT
        switch modes {
        case .keep: return UInt32(st.st_mode & 0o7777)
        case .normalise:
            if kind == S_IFLNK { return 0o777 }
            if kind == S_IFDIR { return 0o755 }
            return st.st_mode & 0o111 != 0 ? 0o755 : 0o644
        }
    }

    func applyOwner(_ e: inout Manifest.Entry, _ st: stat) {
        if let owner {
            e.uid = owner.uid
            e.gid = owner.gid
        } else {
            e.uid = st.st_uid
            e.gid = st.st_gid
        }
    }

    func walk(_ host: String, image: String, manifest m: inout Manifest, inodes: inout [[UInt64]: String]) throws {
        for name in SharedLibraryClosure.listDirectory(host).sorted() {
            if Self.skipped.contains(name) || name.hasSuffix("~") { continue }
            let hp = "\(host)/\(name)"
            let ip = image == "/" ? "/\(name)" : "\(image)/\(name)"
            var st = stat()
            guard lstat(hp, &st) == 0 else { throw FileError.cannotOpen(path: hp, reason: FileIO.errnoText()) }
            let source = "\(label) (\(hp))"
            let kind = Manifest.Kind(fileType: st.st_mode)
            var e = Manifest.Entry(path: ip, kind: kind, mode: mode(st), source: source)
            applyOwner(&e, st)
            e.mtime = Int64(st.st_mtim.tv_sec)
            switch kind {
            case .symlink:
                e.target = try Self.readLink(hp)
            case .file:
                let key = [UInt64(st.st_dev), UInt64(st.st_ino)]
                if st.st_nlink > 1, let first = inodes[key] {
                    e.kind = .hardlink
                    e.target = first
                } else {
                    e.content = .host(path: hp, size: Int(st.st_size), device: UInt64(st.st_dev), inode: UInt64(st.st_ino))
                }
                let placed = try m.add(e, replace: replace)
                if st.st_nlink > 1, inodes[key] == nil { inodes[key] = placed }
                continue
            case .charDevice, .blockDevice:
                e.major = UInt32(flashsmith_major(UInt64(st.st_rdev)))
                e.minor = UInt32(flashsmith_minor(UInt64(st.st_rdev)))
            default: break
            }
            // A folder merging into an existing directory keeps that directory's mode and owner
            // (set them with a device table): git cannot carry them anyway.
            let placed = try m.add(e, replace: replace, implied: kind == .directory)
            if kind == .directory { try walk(hp, image: placed, manifest: &m, inodes: &inodes) }
        }
    }

    static func readLink(_ path: String) throws -> String {
        var buf = [CChar](repeating: 0, count: 4097)
        let n = readlink(path, &buf, 4096)
        guard n >= 0 else { throw FileError.cannotOpen(path: path, reason: FileIO.errnoText()) }
        return String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

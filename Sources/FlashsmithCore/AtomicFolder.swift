import CLinux
#if canImport(Glibc)
import Glibc
#endif

/// A folder output replaced whole, as ``AtomicFile`` replaces a file: the new tree is built in a
/// fresh temporary folder beside the destination; ``commit()`` moves the old one aside, the new one
/// in, and removes the old one (never following a symlink); a folder never committed is removed.
/// A failure part-way leaves the destination as it was. Missing parent folders are created.
///
/// Only a folder Flashsmith wrote is ever replaced (or an empty one): every folder it writes carries
/// a marker naming the command that wrote it, and a non-empty folder without one is refused unless
/// `force` (the CLI's `--force`). Two places for the marker (``Marker``), both recognised:
/// - `.flashsmith-output`, a file inside the folder (build outputs: robust on every filesystem);
/// - the extended attribute `user.flashsmith` on the folder itself (root filesystems, whose
///   content must stay exactly what the manifest says: an NFS root shows no extra file, and the
///   attribute travels with the folder when it is renamed). A filesystem that keeps no user
///   attributes gets no marker (``markerNote`` says so): the next replacement then needs `force`.
public struct AtomicFolder: ~Copyable {
    /// Where a folder's marker goes.
    public enum Marker: Sendable {
        /// `.flashsmith-output` inside the folder.
        case file
        /// The `user.flashsmith` extended attribute on the folder.
        case xattr
    }

    /// The marker file's name and the marker attribute's.
    public static let markerFile = ".flashsmith-output"
    public static let markerAttribute = "user.flashsmith"

    public let destination: String
    /// Where to build the tree.
    public let path: String
    /// Set when the marker could not be left (a filesystem without user xattrs): for the report.
    public let markerNote: String?
    private let force: Bool
    private var finished = false

    /// `command`: what the marker records (the command line that wrote the folder); `marker` nil:
    /// none (a work folder inside another output, a tree handed to mkfs.ubifs).
    public init(destination: String, force: Bool = false, marker: Marker? = .file, command: String = "flashsmith") throws {
        let dest = destination.count > 1 && destination.hasSuffix("/") ? String(destination.dropLast()) : destination
        switch FileIO.kind(of: dest) {
        case .missing, .directory: break
        default: throw FileError.cannotCreate(path: dest, reason: "expected a folder (or nothing) to replace, found a file")
        }
        if !force { try Self.checkReplaceable(dest) }
        let temp = try Self.temporaryFolder(beside: dest, tag: "flashsmith")
        let text = Array("\(command)\n".utf8)
        var note: String?
        switch marker {
        case .file:
            do {
                try AtomicFile.write(text, to: "\(temp)/\(Self.markerFile)")
            } catch {
                Self.removeTree(temp)
                throw error
            }
        case .xattr:
            if text.withUnsafeBytes({ setxattr(temp, Self.markerAttribute, $0.baseAddress, $0.count, 0) }) != 0 {
                note = "\(dest) carries no Flashsmith marker (\(Self.markerAttribute): \(FileIO.errnoText())): replacing it again will need --force"
            }
        case nil: break
        }
        self.destination = dest
        self.path = temp
        self.force = force
        self.markerNote = note
    }

    /// Whether `path` is a folder Flashsmith wrote: it has the marker file or the marker attribute.
    public static func isMarked(_ path: String) -> Bool {
        if getxattr(path, markerAttribute, nil, 0) >= 0 { return true }
        var st = stat()
        return lstat("\(path)/\(markerFile)", &st) == 0 && st.st_mode & S_IFMT == S_IFREG
    }

    /// Whether the folder `path` holds nothing (or cannot be listed: then it is not empty).
    public static func isEmptyFolder(_ path: String) -> Bool {
        guard let d = opendir(path) else { return false }
        defer { closedir(d) }
        while let e = readdir(d) {
            let name = withUnsafeBytes(of: e.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name != "." && name != ".." { return false }
        }
        return true
    }

    /// Refuses a non-empty folder that Flashsmith did not write (nothing there, or an empty
    /// folder, may be replaced).
    public static func checkReplaceable(_ dest: String) throws {
        guard FileIO.kind(of: dest) == .directory, !isEmptyFolder(dest), !isMarked(dest) else { return }
        throw FileError.cannotCreate(path: dest, reason: "the folder holds files and was not written by Flashsmith (no \(markerFile) or \(markerAttribute) marker): nothing replaced; use --force to replace it")
    }

    /// Creates `folder` and every missing folder above it (`mkdir -p`), each 0777 less the umask.
    public static func makeFolders(_ folder: String) throws {
        guard !folder.isEmpty, FileIO.kind(of: folder) != .directory else { return }
        let parts = folder.split(separator: "/", omittingEmptySubsequences: true)
        var current = folder.hasPrefix("/") ? "" : "."
        for part in parts {
            current += "/" + part
            if mkdir(current, 0o777) != 0 && errno != EEXIST {
                throw FileError.cannotCreate(path: current, reason: "cannot create the folder: \(FileIO.errnoText())")
            }
            guard FileIO.kind(of: current) == .directory else {
                throw FileError.cannotCreate(path: current, reason: "expected a folder, found \(FileIO.kind(of: current).name)")
            }
        }
    }

    /// The folder `path` is in (`.` for a bare name).
    static func parent(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        let p = String(path[..<slash])
        return p.isEmpty ? "/" : p
    }

    static func temporaryFolder(beside dest: String, tag: String) throws -> String {
        let parent = parent(of: dest)
        let base = dest.lastIndex(of: "/").map { String(dest[dest.index(after: $0)...]) } ?? dest
        try makeFolders(parent)
        var template = Array("\(parent == "/" ? "" : parent)/.\(base).\(tag)-XXXXXX".utf8CString)
        guard template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) != nil else {
            throw FileError.cannotCreate(path: dest, reason: "cannot create a temporary folder beside it: \(FileIO.errnoText())")
        }
        return String(cString: template.map { UInt8(bitPattern: $0) })
    }

    /// Swaps the finished tree in.
    public consuming func commit() throws {
        if !force { try Self.checkReplaceable(destination) }
        if FileIO.kind(of: destination) == .directory {
            let old = try Self.temporaryFolder(beside: destination, tag: "old")
            guard rename(destination, old) == 0 else {
                throw FileError.cannotCreate(path: destination, reason: "cannot move the old tree aside: \(FileIO.errnoText())")
            }
            guard rename(path, destination) == 0 else {
                let reason = FileIO.errnoText()
                rename(old, destination)
                throw FileError.cannotCreate(path: destination, reason: "cannot move the new tree in place: \(reason)")
            }
            Self.removeTree(old)
        } else {
            guard rename(path, destination) == 0 else {
                throw FileError.cannotCreate(path: destination, reason: "cannot move the new tree in place: \(FileIO.errnoText())")
            }
        }
        finished = true
    }

    deinit {
        if !finished { Self.removeTree(path) }
    }

    /// Removes a tree without following symlinks (our own temporary and replaced trees).
    public static func removeTree(_ path: String) {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else {
            unlink(path)
            return
        }
        removeContents(fd)
        close(fd)
        rmdir(path)
    }

    static func removeContents(_ fd: Int32) {
        let dup = dup(fd)
        guard dup >= 0, let d = fdopendir(dup) else { return }
        defer { closedir(d) }
        var names: [String] = []
        while let e = readdir(d) {
            let name = withUnsafeBytes(of: e.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name != "." && name != ".." { names.append(name) }
        }
        for n in names {
            let sub = openat(fd, n, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            if sub >= 0 {
                fchmod(sub, 0o700)
                removeContents(sub)
                close(sub)
                unlinkat(fd, n, AT_REMOVEDIR)
            } else {
                unlinkat(fd, n, 0)
            }
        }
    }
}

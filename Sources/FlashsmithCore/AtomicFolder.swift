#if canImport(Glibc)
import Glibc
#endif

/// A folder output replaced whole, as ``AtomicFile`` replaces a file: the new tree is built in a
/// fresh temporary folder beside the destination; ``commit()`` moves the old one aside, the new one
/// in, and removes the old one (never following a symlink); a folder never committed is removed.
/// A failure part-way leaves the destination as it was.
public struct AtomicFolder: ~Copyable {
    public let destination: String
    /// Where to build the tree.
    public let path: String
    private var finished = false

    public init(destination: String) throws {
        let dest = destination.count > 1 && destination.hasSuffix("/") ? String(destination.dropLast()) : destination
        switch FileIO.kind(of: dest) {
        case .missing, .directory: break
        default: throw FileError.cannotCreate(path: dest, reason: "expected a folder (or nothing) to replace, found a file")
        }
        let temp = try Self.temporaryFolder(beside: dest, tag: "flashsmith")
        self.destination = dest
        self.path = temp
    }

    static func temporaryFolder(beside dest: String, tag: String) throws -> String {
        let parent = dest.lastIndex(of: "/").map { String(dest[..<$0]) } ?? "."
        let base = dest.lastIndex(of: "/").map { String(dest[dest.index(after: $0)...]) } ?? dest
        var template = Array("\(parent.isEmpty ? "/" : parent)/.\(base).\(tag)-XXXXXX".utf8CString)
        guard template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) != nil else {
            throw FileError.cannotCreate(path: dest, reason: "cannot create a temporary folder beside it: \(FileIO.errnoText())")
        }
        return String(cString: template.map { UInt8(bitPattern: $0) })
    }

    /// Swaps the finished tree in.
    public consuming func commit() throws {
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

import DeviceTree
import FlashsmithCore
#if canImport(Glibc)
import Glibc
#endif

extension FDTBlob {
    /// Sets property `name` of `path` to the contents of `file`, read straight into the blob.
    mutating func setProperty(_ path: String, _ name: String, fromFile file: String) throws {
        let kind = FileIO.kind(of: file)
        guard case let .regular(size) = kind else {
            if kind == .missing { throw FileError.cannotOpen(path: file, reason: "No such file or directory") }
            throw FileError.notARegularFile(path: file, kind: kind.name)
        }
        let fd = try FileIO.openForReading(file)
        defer { close(fd) }
        try setProperty(path, name, count: size) { dst in
            var done = 0
            while done < size {
                let n = Glibc.read(fd, dst.baseAddress! + done, size - done)
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { throw FileError.shortRead(path: file, offset: 0, expected: size, found: done) }
                done += n
            }
        }
    }
}

/// A private temporary folder, removed with everything in it when the value goes away.
final class ScratchDirectory {
    let path: String

    init() throws {
        var template = Array("/tmp/flashsmith-XXXXXX".utf8CString)
        guard let p = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw FileError.cannotCreate(path: "/tmp/flashsmith-*", reason: FileIO.errnoText())
        }
        path = String(cString: p)
    }

    deinit {
        if let d = opendir(path) {
            while let e = readdir(d) {
                let name = withUnsafeBytes(of: e.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
                if name != "." && name != ".." { unlink("\(path)/\(name)") }
            }
            closedir(d)
        }
        rmdir(path)
    }
}

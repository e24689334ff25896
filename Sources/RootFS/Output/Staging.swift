import Crypto
import FlashsmithCore
#if canImport(Glibc)
import Glibc
#endif

/// What the disk filesystem writers (ext4 through e2fsprogs, squashfs through squashfs-tools)
/// share: a scratch folder and a temporary image beside the output, both removed on every exit
/// path (the image renamed over the output only when complete), the peer tools found or named by
/// their Debian package, and the identifiers derived from the manifest.
final class DiskStaging {
    let destination: String
    /// The scratch folder (`.NAME.flashsmith-stage-XXXXXX` beside the output).
    let folder: String
    /// The image being written (``AtomicFile``'s temporary file beside the output).
    let image: String
    private var output: AtomicFile?

    init(destination: String) throws {
        self.destination = destination
        let file = try AtomicFile(destination: destination, durable: false)
        image = file.temporaryFile
        output = consume file
        let slash = destination.lastIndex(of: "/")
        let dir = slash.map { String(destination[..<$0]) } ?? "."
        let base = slash.map { String(destination[destination.index(after: $0)...]) } ?? destination
        var template = Array("\(dir.isEmpty ? "/" : dir)/.\(base).flashsmith-stage-XXXXXX".utf8CString)
        guard template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) != nil else {
            throw FileError.cannotCreate(path: destination, reason: "cannot make a scratch folder beside it: \(FileIO.errnoText())")
        }
        folder = String(cString: template.map { UInt8(bitPattern: $0) })
    }

    /// Renames the finished image over the destination.
    func commit() throws {
        guard let file = output.take() else { return }
        try file.commit()
    }

    deinit {
        // The scratch folder always goes; an image not committed goes with `output`.
        AtomicFolder.removeTree(folder)
    }
}

enum DiskTool {
    /// `name` on PATH (or /usr/sbin, /sbin, where e2fsprogs lives), or an error naming the
    /// Debian package that provides it.
    static func require(_ name: String, package: String, for output: String) throws -> String {
        if let p = ExternalTool.which(name) { return p }
        for dir in ["/usr/sbin", "/sbin"] where access("\(dir)/\(name)", X_OK) == 0 { return "\(dir)/\(name)" }
        throw RootFSError(path: output, message: "\(name) not found: writing this format needs it (Debian package \(package); scripts/install-deps.sh installs it)", category: .unavailable)
    }

    /// Runs `executable` through `env` with `environment` set (a nil value removes the variable),
    /// its standard input a pipe that `input` writes (or /dev/null without one): ``ExternalTool``.
    typealias Output = ExternalTool.Output

    static func run(_ executable: String, _ arguments: [String], environment: [(String, String?)] = [], input: ((Int32) throws -> Void)? = nil) throws -> Output {
        var envArgs: [String] = []
        for (k, v) in environment {
            if let v { envArgs.append("\(k)=\(v)") } else { envArgs = ["-u", k] + envArgs }
        }
        return try ExternalTool.run(unchecked: "env", envArgs + [executable] + arguments, input: input)
    }

    /// The first lines of what a tool said, for a one-line error.
    static func said(_ out: Output) -> String {
        let text = String(decoding: out.stderr, as: UTF8.self) + String(decoding: out.stdout, as: UTF8.self)
        return text.split(separator: "\n").map { String($0).trimmingSpaces() }.filter { !$0.isEmpty }.prefix(3).joined(separator: " / ")
    }

    /// A digest of the manifest: every entry's metadata and content and SOURCE_DATE_EPOCH, so the
    /// same inputs give the same identifiers and different contents different ones.
    static func digest(_ m: Manifest) throws -> [UInt8] {
        var h = SHA256()
        withUnsafeBytes(of: m.sourceDateEpoch.littleEndian) { h.update(bufferPointer: $0) }
        for e in m.sorted() {
            var text = "\(e.path)\0\(e.kind.rawValue)\0\(e.mode)\0\(e.uid)\0\(e.gid)\0\(e.mtime)\0\(e.target)\0\(e.major)\0\(e.minor)\0\(e.size)\0"
            for k in e.xattrs.keys.sorted() { text += "\(k)=\(e.xattrs[k] ?? [])\0" }
            h.update(data: Array(text.utf8))
            if e.kind == .file { try ContentReader.stream(e) { h.update(bufferPointer: $0) } }
        }
        return Array(h.finalize())
    }

    /// A UUID (version 8, RFC 9562 variant) from a manifest's ``digest(_:)``, `label` (what it
    /// identifies) and `extra` (options that change the image).
    static func derivedUUID(_ digest: [UInt8], label: String, extra: [Int] = []) -> [UInt8] {
        var h = SHA256()
        h.update(data: digest + Array(label.utf8))
        for v in extra { withUnsafeBytes(of: Int64(v).littleEndian) { h.update(bufferPointer: $0) } }
        var u = Array(h.finalize().prefix(16))
        u[6] = u[6] & 0x0F | 0x80
        u[8] = u[8] & 0x3F | 0x80
        return u
    }

    /// Writes a small scratch file (a configuration, a script, an xattr value).
    static func writeFile(_ path: String, _ bytes: [UInt8]) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw FileError.cannotCreate(path: path, reason: FileIO.errnoText()) }
        defer { close(fd) }
        try bytes.withUnsafeBytes { try FileIO.writeAll(fd, $0, path: path) }
    }

    /// Writes an entry's content to a scratch file.
    static func writeContent(_ e: Manifest.Entry, to path: String) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw FileError.cannotCreate(path: path, reason: FileIO.errnoText()) }
        defer { close(fd) }
        var offset = 0
        try ContentReader.stream(e) { chunk in
            try FileIO.writeAll(fd, chunk, path: path, offset: offset)
            offset += chunk.count
        }
    }

    static func uuidString(_ u: [UInt8]) -> String {
        let hex = u.map { b in String(b, radix: 16).count == 1 ? "0" + String(b, radix: 16) : String(b, radix: 16) }.joined()
        let c = Array(hex)
        return [0..<8, 8..<12, 12..<16, 16..<20, 20..<32].map { String(c[$0]) }.joined(separator: "-")
    }
}

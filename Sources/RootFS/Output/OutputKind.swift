import Archive
import FlashsmithCore

/// What a root filesystem output is, from its name (`rootfs build -o NAME`): `x.tar`, `x.cpio`,
/// either with a compression suffix (`.gz .xz .zst .lz4 .bz2`), or `x.tgz .txz .tzst .tbz2`: an
/// archive; `x.ubifs`, `x.ext4`, `x.squashfs` (or `x.sqfs`): a filesystem image; a name without an
/// extension, or ending in `/`: a folder. Any other extension names a format Flashsmith does not
/// write (`x.cramfs`, `x.cpio.lzo`): an error listing the ones it does, so such a name never
/// silently becomes a folder.
public enum RootFSOutputKind: String, Sendable, CaseIterable {
    case dir, tar, cpio, ubifs, ext4, squashfs

    /// What Flashsmith writes, for messages.
    public static let written = "a folder (a name without an extension, or ending in /), .tar or .cpio, optionally compressed (.gz .xz .zst .lz4 .bz2; .tgz .txz .tzst .tbz2), .ubifs, .ext4, or .squashfs (.sqfs)"

    /// The kind and compression a name says. `format` (`--format`) wins over the name's extension;
    /// the compression still comes from the name unless `compression` says.
    public static func resolve(_ path: String, format: RootFSOutputKind?, compression given: ArchiveCompression?) throws -> (RootFSOutputKind, ArchiveCompression) {
        let trailingSlash = path.hasSuffix("/")
        var name = Manifest.nameOf(trailingSlash ? String(path.dropLast()) : path)
        var detected: ArchiveCompression = .none
        var compressionSuffix = ""
        if !trailingSlash {
            for c in ArchiveCompression.allCases {
                for s in c.suffixes where name.hasSuffix(s) && name.count > s.count {
                    detected = c
                    compressionSuffix = s
                    // .tgz and the like: a compressed tar.
                    name = String(name.dropLast(s.count)) + (s.hasPrefix(".t") && s.count > 3 ? ".tar" : "")
                }
            }
        }
        let byName: RootFSOutputKind?
        if trailingSlash {
            byName = .dir
        } else if name.hasSuffix(".tar") {
            byName = .tar
        } else if name.hasSuffix(".cpio") {
            byName = .cpio
        } else if name.hasSuffix(".ubifs") && compressionSuffix.isEmpty {
            byName = .ubifs
        } else if name.hasSuffix(".ext4") && compressionSuffix.isEmpty {
            byName = .ext4
        } else if (name.hasSuffix(".squashfs") || name.hasSuffix(".sqfs")) && compressionSuffix.isEmpty {
            byName = .squashfs
        } else if !compressionSuffix.isEmpty {
            guard format != nil else {
                throw RootFSError(path: path, message: "'\(compressionSuffix)' compresses an archive, and the name says none (expected .tar\(compressionSuffix) or .cpio\(compressionSuffix)); Flashsmith writes \(written); or say --format", category: .usage)
            }
            byName = nil
        } else if let ext = extensionOf(name) {
            guard format != nil else {
                throw RootFSError(path: path, message: "'.\(ext)' names no format Flashsmith writes; it writes \(written); or say --format dir|tar|cpio|ubifs|ext4|squashfs", category: .usage)
            }
            byName = nil
        } else {
            byName = .dir
        }
        let kind = format ?? byName ?? .dir
        let comp = given ?? detected
        if kind == .dir && comp != .none {
            throw RootFSError(path: path, message: "a folder output cannot be compressed: say --format tar or cpio, or drop the compression", category: .usage)
        }
        if kind == .ubifs && comp != .none {
            throw RootFSError(path: path, message: "a UBIFS image compresses its own data nodes: say -x/--compr lzo|zlib|zstd|favor_lzo|none instead of '\(comp.rawValue)'", category: .usage)
        }
        if kind == .ext4 && comp != .none {
            throw RootFSError(path: path, message: "an ext4 image is not compressed: drop '\(comp.rawValue)'", category: .usage)
        }
        if kind == .squashfs && comp != .none {
            throw RootFSError(path: path, message: "a squashfs image compresses its own blocks: say --squashfs-comp gzip|xz|zstd|lz4|lzo instead of '\(comp.rawValue)'", category: .usage)
        }
        return (kind, comp)
    }

    /// The extension of a file name: what follows its last dot, when that is a word starting with a
    /// letter (`squashfs`, `ext4`, `lzo`, `img`); none for `rootfs`, `.hidden` or `board-1.2`.
    static func extensionOf(_ name: String) -> String? {
        guard let dot = name.lastIndex(of: "."), dot != name.startIndex else { return nil }
        let ext = name[name.index(after: dot)...]
        guard let first = ext.first, first.isASCII && first.isLetter, ext.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber) }) else { return nil }
        return String(ext)
    }
}

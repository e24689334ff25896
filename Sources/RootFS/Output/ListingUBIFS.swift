import Crypto
import Flash
import FlashsmithCore

extension Listing {
    /// A UBIFS image (plain, or the UBIFS volume of a UBI image: `volume` names it when there are
    /// several) as a listing: the tree the kernel would mount, journal replayed, every node's CRC
    /// checked. Hard links as in tar: the first name in order holds the data, the others link to it.
    public static func of(ubifs path: String, volume: String? = nil, digests: Bool) throws -> Listing {
        let reader = try UBIFSReader(path: path, volume: volume)
        return try of(ubifs: reader, origin: path, digests: digests)
    }

    public static func of(ubifs reader: UBIFSReader, origin: String, digests: Bool) throws -> Listing {
        let entries = try reader.entries().sorted { Manifest.precedes($0.path, $1.path) }
        var first: [UInt64: String] = [:]
        var items: [Item] = []
        for e in entries {
            let kind = Manifest.Kind(rawValue: e.kind.rawValue) ?? .file
            var item = Item(path: e.path, kind: kind, mode: e.mode, uid: e.uid, gid: e.gid, mtime: e.mtime, size: 0)
            item.xattrs = Dictionary(e.xattrs.map { ($0.name, $0.value) }, uniquingKeysWith: { a, _ in a })
            switch e.kind {
            case .file:
                if e.nlink > 1, let f = first[e.inode] {
                    item.kind = .hardlink
                    item.link = f
                    break
                }
                if e.nlink > 1 { first[e.inode] = e.path }
                guard let size = Int(exactly: e.size) else { throw UBIFSFailure("\(origin): \(e.path): size \(e.size) does not fit") }
                item.size = size
                if digests {
                    var h = SHA256()
                    try reader.readFile(e) { h.update(bufferPointer: $0) }
                    item.sha256 = hex(h.finalize())
                }
            case .symlink: item.link = e.target
            case .charDevice, .blockDevice:
                item.major = e.major
                item.minor = e.minor
            default: break
            }
            items.append(item)
        }
        return Listing(origin: origin, items: items)
    }

    /// Whether `path` is a UBIFS image or a UBI image (which `of(ubifs:)` may read): its first bytes.
    public static func looksLikeUBIFSOrUBI(_ path: String) -> Bool {
        guard case let .regular(size) = FileIO.kind(of: path), size >= 64, let head = try? FileIO.read(path, offset: 0, count: 64) else { return false }
        return UBIFSLEBSource.looksLikeUBIFS(head) || UBIImageInfo.looksLikeUBI(head)
    }
}

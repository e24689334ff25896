import Archive
import FlashsmithCore

/// Writes a manifest as a tar or cpio archive (optionally compressed), atomically: a temporary file
/// beside the destination, renamed over it when complete. Data is streamed from its sources; memory
/// does not grow with the content size.
public enum ArchiveOutput {
    public struct Report: Sendable {
        public var entries = 0
        public var dataBytes = 0
        public var notes: [String] = []
    }

    public static func write(_ m: Manifest, to path: String, format: ArchiveFormat, compression: ArchiveCompression, level: Int? = nil) throws -> Report {
        let plan = try OutputPlan(m)
        var report = Report()
        let out = try AtomicFile(destination: path, durable: false)
        let w = try ArchiveWriter(descriptor: out.descriptor, path: path, format: format, compression: compression, level: level)
        var firstName: [Int64: String] = [:]
        var lostXattrs: [String] = []
        var sockets: [String] = []
        for item in plan.items {
            // tar has no type for sockets (GNU tar and bsdtar skip them too); cpio keeps them.
            if format == .tar, item.entry.kind == .socket {
                sockets.append(item.entry.path)
                continue
            }
            let member = plan.member(item, format: format, firstName: firstName)
            if firstName[item.inode] == nil { firstName[item.inode] = item.name }
            if format == .cpio, !item.dataSource.xattrs.isEmpty, item.linkIndex == 0 { lostXattrs.append(item.entry.path) }
            try w.begin(member)
            if member.size > 0 {
                try ContentReader.stream(item.dataSource) { try w.write($0) }
                report.dataBytes += member.size
            }
            report.entries += 1
        }
        try w.finish()
        try out.commit()
        if !sockets.isEmpty {
            report.notes.append("tar has no type for sockets: \(sockets.count) left out (\(sockets.prefix(5).joined(separator: ", ")))")
        }
        if !lostXattrs.isEmpty {
            report.notes.append("cpio newc has no room for xattrs: \(lostXattrs.count) entr\(lostXattrs.count == 1 ? "y loses" : "ies lose") them (\(lostXattrs.prefix(5).joined(separator: ", "))\(lostXattrs.count > 5 ? ", …" : "")); use tar to keep file capabilities")
        }
        return report
    }
}

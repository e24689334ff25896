import Foundation
import Testing
import TestSupport
@testable import RootFS

/// The rootfs spec the ext4 and squashfs writer tests share, after the UBIFS writer's
/// (Tests/E2ETests/UBIFSGuestTests.swift): an overlay made here (empty, 1-byte, 4096-byte and
/// random files, a file with a hole, 60 small files in one folder, nested and empty folders, short
/// and 1200-byte symlinks, a hard link group across folders, a socket, names with spaces, quotes,
/// a leading dash, UTF-8, several mtimes) and a device table (owners above 65535, setuid, setgid,
/// sticky, character and block devices including the largest dev_t, FIFOs, file capabilities).
enum DiskFSFixture {
    static let epoch = 1_700_000_000

    /// Writes the spec in `dir`; `reverse` creates the overlay's entries in the opposite order
    /// (host folders then list them in another order).
    static func writeSpec(in dir: TempDir, reverse: Bool = false, sockets: Bool = true) throws -> String {
        let o = dir.file("overlay")
        let fm = FileManager.default
        var dirs = ["a/b/c", "empty", "many", "links", "run", "usr/bin", "tmp", "shared", "odd"]
        if reverse { dirs.reverse() }
        for d in dirs { try fm.createDirectory(atPath: "\(o)/\(d)", withIntermediateDirectories: true) }
        var rng = SplitMix(seed: 0xD15C)
        var files: [(String, [UInt8])] = [
            ("empty.txt", []), ("one.bin", [0x5A]), ("page.bin", (0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 7) }),
            ("random.bin", (0..<300_000).map { _ in rng.byte() }),
            ("a/b/c/deep.txt", Array("deep\n".utf8)), ("shared/data", Array("one inode, three names\n".utf8)),
            ("odd/name with spaces", Array("spaces\n".utf8)), ("odd/ünïcödé-名前", Array("utf8\n".utf8)),
            ("odd/quote\"name", Array("quote\n".utf8)), ("odd/-dash", Array("dash\n".utf8)), ("odd/<3>", Array("angle\n".utf8)),
            ("usr/bin/ping", Array("#!/bin/sh\necho ping\n".utf8)), ("usr/bin/tool", Array("#!/bin/sh\necho tool\n".utf8)),
            ("usr/bin/su", Array("#!/bin/sh\necho su\n".utf8)),
        ]
        for k in 0..<60 { files.append(("many/file-\(k)", (0..<(k * 37 % 3000)).map { j in UInt8(truncatingIfNeeded: k &+ j / 7) })) }
        if reverse { files.reverse() }
        for (p, b) in files { try Data(b).write(to: URL(fileURLWithPath: "\(o)/\(p)")) }
        // A hole: 4 KiB of data, 600 KiB of nothing, 4 KiB of data.
        let fd = open("\(o)/sparse.bin", O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        let chunk = (0..<4096).map { _ in rng.byte() }
        _ = chunk.withUnsafeBytes { pwrite(fd, $0.baseAddress, 4096, 0) }
        _ = chunk.withUnsafeBytes { pwrite(fd, $0.baseAddress, 4096, 604 << 10) }
        close(fd)
        var links = [("shared/data", "links/second-name"), ("shared/data", "a/third-name")]
        if reverse { links.reverse() }
        for (from, to) in links { try fm.linkItem(atPath: "\(o)/\(from)", toPath: "\(o)/\(to)") }
        try fm.createSymbolicLink(atPath: "\(o)/links/short", withDestinationPath: "../a/b")
        try fm.createSymbolicLink(atPath: "\(o)/links/long", withDestinationPath: String(repeating: "very-long-target/", count: 70) + "end")
        try fm.createSymbolicLink(atPath: "\(o)/links/dangling", withDestinationPath: "/nowhere")
        if sockets { try makeSocket("\(o)/run/app.sock") }
        // Times: a few entries older than the epoch (newer ones are clamped to it).
        for (k, p) in ["one.bin", "page.bin", "a/b/c/deep.txt", "many/file-7", "links/short", "odd/-dash"].enumerated() {
            try run("touch", ["-h", "-d", "@\(epoch - 86_400 * (k + 1) - k * 17)", "\(o)/\(p)"])
        }
        try run("touch", ["-h", "-d", "@\(epoch - 5)", "\(o)/a/b"])
        _ = try dir.write("devices.txt", """
            # name             type mode uid    gid    major minor start inc count
            /usr/bin/ping      f    4755 0      0      -     -     -     -   -
            |xattr cap_net_raw+ep
            /usr/bin/tool      f    2711 1000   100    -     -     -     -   -
            |xattr cap_chown,cap_dac_override,cap_sys_admin=eip
            /usr/bin/su        f    6755 0      0      -     -     -     -   -
            /tmp               d    1777 0      0      -     -     -     -   -
            /shared            d    2775 1000   1000   -     -     -     -   -
            /shared/data       f    640  100000 70000  -     -     -     -   -
            /home/user         d    700  1000   1000   -     -     -     -   -
            /dev/null          c    666  0      0      1     3     -     -   -
            /dev/sda           b    660  0      6      8     0     -     -   -
            /dev/ttyS          c    660  0      5      4     64    0     1   3
            /dev/largest       c    600  0      0      4095  1048575 - -   -
            /dev/loop-huge     b    640  0      6      259   65536 -     -   -
            /dev/wide          c    600  0      0      300   300000 -    -   -
            /run/fifo          p    620  1000   1000   -     -     -     -   -

            """)
        return try dir.write("spec.yaml", """
            source-date-epoch: \(epoch)
            layers:
              - overlay: overlay
              - devices: devices.txt

            """)
    }

    static func manifest(_ spec: String) throws -> Manifest {
        try RootFSSpec.load(spec, skeletonPaths: []).build()
    }

    static func makeSocket(_ path: String) throws {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        #expect(fd >= 0)
        defer { close(fd) }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        try #require(bytes.count < MemoryLayout.size(ofValue: addr.sun_path), "socket path too long: \(path)")
        withUnsafeMutableBytes(of: &addr.sun_path) { buf in
            for (i, b) in bytes.enumerated() { buf[i] = b }
        }
        let rc = withUnsafePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        try #require(rc == 0, "bind \(path): \(String(cString: strerror(errno)))")
    }

    /// The content of a manifest file entry.
    static func content(_ e: Manifest.Entry) throws -> [UInt8] {
        var out: [UInt8] = []
        try ContentReader.stream(e) { out += $0 }
        return out
    }

    /// Runs `body` as an unprivileged user (nobody) through setpriv, when this process is root
    /// and setpriv exists; nil otherwise (the caller says why it skipped).
    static func asNobody(_ argv: [String]) throws -> RunResult? {
        guard getuid() == 0, let setpriv = which("setpriv") else { return nil }
        return try run(setpriv, ["--reuid=65534", "--regid=65534", "--clear-groups"] + argv)
    }

    struct SplitMix {
        var state: UInt64
        init(seed: UInt64) { state = seed }
        mutating func byte() -> UInt8 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return UInt8(truncatingIfNeeded: z ^ (z >> 31))
        }
    }
}

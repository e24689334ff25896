import Foundation
import Network
import Testing
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

/// The served folder `root/served` next to `root/outside/secret.txt` (a known content): every hostile
/// request gets an ERROR packet with the right code, and the secret never appears in any datagram.
@Suite("TFTP confinement: nothing outside the folder, no devices, no writes")
struct TFTPConfinementTests {
    static let secret = "FLASHSMITH-SECRET-OUTSIDE-THE-FOLDER"

    static func makeTree(_ dir: TempDir) throws -> String {
        let fm = FileManager.default
        let served = dir.file("served")
        try fm.createDirectory(atPath: "\(served)/sub/deeper", withIntermediateDirectories: true)
        try fm.createDirectory(atPath: dir.file("outside"), withIntermediateDirectories: true)
        _ = try dir.write("outside/secret.txt", secret)
        _ = try dir.write("served/inside.txt", "inside")
        _ = try dir.write("served/sub/deeper/f.txt", "deep")
        try fm.createSymbolicLink(atPath: "\(served)/link-out", withDestinationPath: "../outside/secret.txt")
        try fm.createSymbolicLink(atPath: "\(served)/abs-link", withDestinationPath: dir.file("outside/secret.txt"))
        try fm.createSymbolicLink(atPath: "\(served)/sub/climb", withDestinationPath: "../../outside/secret.txt")
        try fm.createSymbolicLink(atPath: "\(served)/dir-out", withDestinationPath: "../outside")
        try fm.createSymbolicLink(atPath: "\(served)/link-in", withDestinationPath: "sub/deeper/f.txt")
        try fm.createSymbolicLink(atPath: "\(served)/sub/up-in", withDestinationPath: "../inside.txt")
        try fm.createSymbolicLink(atPath: "\(served)/loop", withDestinationPath: "loop")
        try fm.createSymbolicLink(atPath: "\(served)/devnull", withDestinationPath: "/dev/null")
        #expect(mkfifo("\(served)/fifo", 0o644) == 0)
        if getuid() == 0 { _ = mknod("\(served)/null", S_IFCHR | 0o666, 0x103) }  // char 1:3, /dev/null
        return served
    }

    @Test("hostile requests: the TFTP error code, and nothing from outside", arguments: [
        ("../outside/secret.txt", 2), ("/../outside/secret.txt", 2), ("sub/../../outside/secret.txt", 2), ("sub/../inside.txt", 2),
        ("..", 2), ("link-out", 2), ("abs-link", 2), ("sub/climb", 2), ("dir-out/secret.txt", 2), ("loop", 2), ("devnull", 2),
        ("fifo", 2), ("null", 2), ("sub", 2), ("/", 2), (".", 2), ("missing.txt", 1), ("sub/missing/x", 1), ("inside.txt/x", 1),
    ] as [(String, UInt16)])
    func refused(name: String, code: UInt16) throws {
        let dir = try TempDir("flashsmith-tftp-confine")
        let served = try Self.makeTree(dir)
        if name == "null" && getuid() != 0 { return }
        let server = try LoopbackServer(folder: served)
        let r = try TestClient(server: server.address).get(name)
        #expect(r.error?.code == code, "\(name): \(String(describing: r.error))")
        #expect(!String(decoding: r.everything, as: UTF8.self).contains(Self.secret))
        let report = server.waitForReports(1).first
        #expect(report?.succeeded == false && report?.error?.hasPrefix("refused (\(code))") == true, "\(String(describing: report))")
    }

    @Test("write requests, and modes other than octet, are refused", arguments: [
        ("new.txt", "octet", true, 2), ("inside.txt", "octet", true, 2), ("inside.txt", "netascii", false, 4), ("inside.txt", "mail", false, 4),
    ])
    func refusedOperations(name: String, mode: String, write: Bool, code: UInt16) throws {
        let dir = try TempDir("flashsmith-tftp-wrq")
        let served = try Self.makeTree(dir)
        let server = try LoopbackServer(folder: served)
        let r = try TestClient(server: server.address).get(name, mode: mode, write: write)
        #expect(r.error?.code == code, "\(String(describing: r.error))")
        #expect(!FileManager.default.fileExists(atPath: "\(served)/new.txt"))
        #expect(try String(contentsOfFile: "\(served)/inside.txt", encoding: .utf8) == "inside")
    }

    @Test("names that stay inside are served: a leading / is stripped (as tftp-hpa -s), links inside are followed", arguments: [
        ("inside.txt", "inside"), ("/inside.txt", "inside"), ("//sub//deeper/f.txt", "deep"), ("./inside.txt", "inside"), ("link-in", "deep"), ("sub/up-in", "inside"),
    ])
    func served(name: String, content: String) throws {
        let dir = try TempDir("flashsmith-tftp-inside")
        let served = try Self.makeTree(dir)
        let server = try LoopbackServer(folder: served)
        let r = try TestClient(server: server.address).get(name)
        #expect(r.error == nil, "\(String(describing: r.error))")
        #expect(String(decoding: r.data, as: UTF8.self) == content)
    }

    @Test("garbage on the server port: ERROR 4, never an answer to an ERROR, the server keeps serving")
    func garbage() throws {
        let dir = try TempDir("flashsmith-tftp-garbage")
        let served = try Self.makeTree(dir)
        let server = try LoopbackServer(folder: served)
        let client = try TestClient(server: server.address)
        for d: [UInt8] in [[0], [0, 9, 1], [0, 4, 0, 1], [0, 1, 0x61]] {
            client.socket.send(d, to: server.address)
            let answer = client.receive(timeout: 10).flatMap { try? TFTPPacket.parse($0.0) }
            guard case let .error(code, _) = answer else { Issue.record("\(d): \(String(describing: answer))"); continue }
            #expect(code == 4, "\(d)")
        }
        client.socket.send(TFTPPacket.error(code: 0, message: "x").encoded(), to: server.address)
        #expect(client.receive(timeout: 0.3) == nil)
        #expect(String(decoding: try TestClient(server: server.address).get("inside.txt").data, as: UTF8.self) == "inside")
    }

    /// A component swapped between a real folder and a symlink leading out, as fast as rename(2) goes,
    /// while the same name is requested again and again: each answer is the inside file or an ERROR.
    @Test("a folder swapped for a symlink leading out during requests: never a byte from outside")
    func swapRace() throws {
        let dir = try TempDir("flashsmith-tftp-race")
        let served = try Self.makeTree(dir)
        _ = try dir.write("outside/f.txt", Self.secret)
        try FileManager.default.createDirectory(atPath: "\(served)/racy", withIntermediateDirectories: true)
        _ = try dir.write("served/racy/f.txt", "inside")
        try FileManager.default.createDirectory(atPath: "\(served)/spare", withIntermediateDirectories: true)
        _ = try dir.write("served/spare/f.txt", "inside")
        try FileManager.default.createSymbolicLink(atPath: "\(served)/out-link", withDestinationPath: dir.file("outside"))
        let stop = Locked(false)
        let flipper = Thread {
            var flips = 0
            while !stop.withLock({ $0 }) {
                // racy: folder → symlink out → folder, each step atomic.
                rename("\(served)/racy", "\(served)/held")
                rename("\(served)/out-link", "\(served)/racy")
                rename("\(served)/racy", "\(served)/out-link")
                rename("\(served)/held", "\(served)/racy")
                flips += 1
            }
        }
        flipper.start()
        defer { stop.withLock { $0 = true } }
        let server = try LoopbackServer(folder: served)
        var served_ = 0, refused = 0
        for _ in 0..<300 {
            let r = try TestClient(server: server.address).get("racy/f.txt")
            #expect(!String(decoding: r.everything, as: UTF8.self).contains(Self.secret))
            if r.error == nil { served_ += 1 } else { refused += 1 }
        }
        #expect(served_ + refused == 300)
    }
}

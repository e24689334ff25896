import Foundation
import Network
import Testing
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

/// Real clients against the server: tftp-hpa's `tftp` (RFC 1350 only: it sends no options, so 512-byte
/// blocks) and curl (blksize, tsize). Files compared byte for byte.
@Suite("TFTP interop: tftp-hpa and curl fetch byte-identical files")
struct TFTPInteropTests {
    /// 0 bytes, one byte, exact multiples of 512 and 1468, and 3 MB of noise.
    static let sizes = [1, 512, 1468 * 7, 3_000_001]

    func folder(_ dir: TempDir) throws -> String {
        try FileManager.default.createDirectory(atPath: dir.file("served"), withIntermediateDirectories: true)
        for s in Self.sizes { _ = try dir.write("served/f\(s).bin", TFTPServerTests.pattern(s, seed: UInt64(s))) }
        _ = try dir.write("served/empty", [UInt8]())
        return dir.file("served")
    }

    @Test("tftp-hpa: tftp -m binary 127.0.0.1 PORT -c get FILE")
    func tftpHPA() throws {
        guard toolsAvailable("tftp") else { return }
        let dir = try TempDir("flashsmith-tftp-hpa")
        let served = try folder(dir)
        let server = try LoopbackServer(folder: served)
        for name in Self.sizes.map({ "f\($0).bin" }) + ["empty"] {
            let local = dir.file("got-\(name)")
            let r = try run("tftp", ["-m", "binary", "127.0.0.1", String(server.port), "-c", "get", name, local])
            let same = (try? readBytes(local)) == (try readBytes("\(served)/\(name)"))
            #expect(same, "\(name): \(r.out)\(r.err)")
        }
        let r = try run("tftp", ["-m", "binary", "127.0.0.1", String(server.port), "-c", "get", "../served/empty", dir.file("x")])
        #expect((r.out + r.err).contains("Error code 2"), "\(r.out)\(r.err)")
    }

    @Test("curl: --tftp-blksize 1468 (with tsize), 512, 65464 and no options", arguments: [["--tftp-blksize", "1468"], ["--tftp-blksize", "512"], ["--tftp-blksize", "65464"], ["--tftp-no-options"]])
    func curl(_ flags: [String]) throws {
        guard toolsAvailable("curl") else { return }
        let dir = try TempDir("flashsmith-tftp-curl")
        let served = try folder(dir)
        let server = try LoopbackServer(folder: served)
        for name in Self.sizes.map({ "f\($0).bin" }) {
            let local = dir.file("got-\(name)")
            let r = try run("curl", ["-sS", "--max-time", "60", "tftp://127.0.0.1:\(server.port)/\(name)", "-o", local] + flags)
            #expect(r.status == 0, "\(name): \(r.err)")
            let same = (try? readBytes(local)) == (try readBytes("\(served)/\(name)"))
            #expect(same, "\(name) \(flags)")
        }
        let reports = server.waitForReports(Self.sizes.count)
        let expected = flags == ["--tftp-no-options"] ? 512 : Int(flags[1])!
        #expect(reports.allSatisfy { $0.succeeded && $0.blockSize == expected }, "\(reports)")
    }

    @Test("curl gets ERROR 1 for a missing file (exit 68: remote file not found)")
    func curlMissing() throws {
        guard toolsAvailable("curl") else { return }
        let dir = try TempDir("flashsmith-tftp-curl-missing")
        let server = try LoopbackServer(folder: try folder(dir))
        let r = try run("curl", ["-sS", "--max-time", "20", "tftp://127.0.0.1:\(server.port)/nope", "-o", dir.file("x")])
        #expect(r.status == 68, "\(r.status) \(r.err)")
    }
}

/// `flashsmith serve` as a user runs it.
@Suite("flashsmith serve: --once, --json, signals, privileged ports")
struct ServeCommandTests {
    /// A UDP port free right now on 127.0.0.1.
    static func freePort() throws -> UInt16 {
        try UDPSocket(binding: SocketAddress("127.0.0.1:0")!).localAddress.port
    }

    /// Runs `flashsmith serve …` on a thread (killed by PID on every way out by the harness) while `client` runs.
    static func serve(_ args: [String], log: String, killOn: [String] = [], client: () throws -> Void) throws -> QEMUResult {
        let box = ResultBox()
        let done = DispatchSemaphore(value: 0)
        let t = Thread {
            box.result = Result { try QEMU.run(flashsmithPath, ["serve"] + args, log: log, timeout: .seconds(30), killOn: killOn, killDelay: .milliseconds(50)) }
            done.signal()
        }
        t.start()
        Thread.sleep(forTimeInterval: 0.5)
        try client()
        done.wait()
        return try box.result!.get()
    }

    final class ResultBox: @unchecked Sendable { var result: Result<QEMUResult, any Error>? }

    @Test("--once --json: one JSON line for the transfer, exit 0")
    func onceJSON() throws {
        guard toolsAvailable("curl") && filesAvailable(flashsmithPath) else { return }
        let dir = try TempDir("flashsmith-serve-once")
        _ = try dir.write("fit.img", TFTPServerTests.pattern(100_000))
        let port = try Self.freePort()
        let q = try Self.serve([dir.path, "--listen", "127.0.0.1:\(port)", "--once", "--json"], log: dir.file("serve.log")) {
            let c = try run("curl", ["-sS", "--max-time", "20", "tftp://127.0.0.1:\(port)/fit.img", "--tftp-blksize", "1468", "-o", dir.file("got")])
            #expect(c.status == 0, "\(c.err)")
        }
        #expect(q.exitStatus == 0, "\(q.summary)\n\(q.log)")
        let line = q.lines.first { $0.hasPrefix("{") } ?? ""
        let json = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any]
        #expect(json?["file"] as? String == "fit.img" && json?["ok"] as? Bool == true && json?["bytes"] as? Int == 100_000 && json?["blksize"] as? Int == 1468, "\(q.log)")
        #expect((json?["client"] as? String)?.hasPrefix("127.0.0.1:") == true)
    }

    @Test("--once after a refused request: the reason in one line, non-zero exit")
    func onceRefused() throws {
        guard toolsAvailable("curl") && filesAvailable(flashsmithPath) else { return }
        let dir = try TempDir("flashsmith-serve-refused")
        let port = try Self.freePort()
        let q = try Self.serve([dir.path, "--listen", "127.0.0.1:\(port)", "--once"], log: dir.file("serve.log")) {
            _ = try run("curl", ["-sS", "--max-time", "20", "tftp://127.0.0.1:\(port)/missing", "-o", dir.file("got")])
        }
        #expect(q.exitStatus != nil && q.exitStatus != 0, "\(q.summary)\n\(q.log)")
        #expect(q.log.contains("missing: refused (1): file not found"), "\(q.log)")
        #expect(q.log.contains("flashsmith: error: serve: missing to 127.0.0.1:"), "\(q.log)")
    }

    @Test("SIGTERM stops the server cleanly (exit 0, no signal death)")
    func sigterm() throws {
        guard filesAvailable(flashsmithPath) else { return }
        let dir = try TempDir("flashsmith-serve-term")
        let port = try Self.freePort()
        let q = try Self.serve([dir.path, "--listen", "127.0.0.1:\(port)"], log: dir.file("serve.log"), killOn: ["(TFTP, read-only)"]) {}
        #expect(q.killedOn != nil && q.terminationSignal == nil, "\(q.summary) signal \(String(describing: q.terminationSignal))\n\(q.log)")
    }

    @Test("port 69 without CAP_NET_BIND_SERVICE: one line naming the fix, exit 69")
    func privilegedPort() throws {
        guard toolsAvailable("setpriv") && filesAvailable(flashsmithPath) else { return }
        guard getuid() == 0 else {
            let r = try flashsmith("serve", "/tmp", "--listen", "127.0.0.1:69")
            #expect(r.status == 69 && r.err.contains("need root or CAP_NET_BIND_SERVICE"), "\(r.err)")
            return
        }
        // As root: drop the capability from every set, then run.
        let r = try run("setpriv", ["--inh-caps=-net_bind_service", "--bounding-set=-net_bind_service", "--reuid=65534", "--regid=65534", "--clear-groups", flashsmithPath, "serve", "/", "--listen", "127.0.0.1:69"])
        #expect(r.status == 69, "\(r.status) \(r.err)")
        let lines = r.err.split(separator: "\n")
        #expect(lines.count == 1 && r.err.contains("ports below 1024 need root or CAP_NET_BIND_SERVICE") && r.err.contains("--listen 0.0.0.0:6969")
            && r.err.contains("setcap cap_net_bind_service=+ep"), "\(r.err)")
    }

    @Test("bad --listen and a missing folder: one line each", arguments: [
        (["/tmp", "--listen", "localhost:69"], 64, "--listen: expected ADDR:PORT"),
        (["/nonexistent-flashsmith-dir", "--listen", "127.0.0.1:0"], 66, "/nonexistent-flashsmith-dir"),
    ])
    func badArguments(args: [String], status: Int32, text: String) throws {
        guard filesAvailable(flashsmithPath) else { return }
        let r = try flashsmith(["serve"] + args)
        #expect(r.status == status && r.err.contains(text), "\(r.status) \(r.err)")
    }
}

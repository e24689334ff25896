import ArgumentParser
import FlashsmithCore
import Network
#if canImport(Glibc)
import Glibc
#endif

/// `flashsmith serve FOLDER`: a read-only TFTP server for real boards.
struct ServeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve a folder (a build's output, or any) read-only over TFTP, for boards that boot over the network.",
        discussion: """
            RFC 1350 reads with the option extension: blksize, timeout, tsize, windowsize; files over 32 MiB (block numbers \
            roll over to 0); several clients at once. Only regular files inside FOLDER are served: '..', symlinks leading out, \
            devices and write requests are refused with a TFTP error (a leading / is stripped, as tftp-hpa -s does). \
            Binary (octet) mode only. One line per finished transfer on standard output (--json: JSON lines). \
            Port 69 needs root or CAP_NET_BIND_SERVICE; clients that can choose a port can use e.g. --listen 0.0.0.0:6969. \
            Ctrl-C (SIGINT) or SIGTERM stops the server.
            """
    )

    @Argument(help: "The folder to serve (e.g. the output folder of flashsmith build).")
    var folder: String

    @Option(name: .long, help: "Address and UDP port to listen on: ADDR:PORT or [ADDR6]:PORT.")
    var listen = "0.0.0.0:69"

    @Flag(name: .long, help: "Exit after the first transfer: 0 when it succeeded, non-zero when it failed or was refused.")
    var once = false

    @OptionGroup var json: JSONOption

    struct TransferFailed: FlashsmithError {
        let report: TFTPTransferReport
        var category: ErrorCategory { .io }
        var description: String { "serve: \(report.file) to \(report.client): \(report.error ?? "failed")" }
    }

    func run() throws {
        guard let address = SocketAddress(listen) else {
            throw ValidationError("--listen: expected ADDR:PORT (0.0.0.0:69) or [ADDR6]:PORT, found '\(listen)'")
        }
        let server = try TFTPServer(folder: folder, listen: address)
        ServeSignals.install(server.wakeWrite)
        defer { ServeSignals.restore() }
        printError("flashsmith serve: \(folder) on \(server.localAddress) (TFTP, read-only)")
        var first: TFTPTransferReport?
        server.run { report in
            try? output((json.json ? Self.json(report).encoded(indent: 0) : Self.line(report)) + "\n")
            first = first ?? report
            return !once
        }
        if once, let first, !first.succeeded { throw TransferFailed(report: first) }
    }

    /// `10.0.3.2:2100 fit.img: 35123456 bytes in 1.25 s (26.8 MiB/s), blksize 1468, windowsize 1`
    static func line(_ r: TFTPTransferReport) -> String {
        let rate = r.bytesPerSecond / 1_048_576
        let head = "\(r.client) \(r.file): \(r.bytes) bytes in \(fixed(r.seconds, 2)) s (\(fixed(rate, 1)) MiB/s), blksize \(r.blockSize), windowsize \(r.windowSize)"
        guard let e = r.error else { return head }
        return r.seconds == 0 && r.bytes == 0 ? "\(r.client) \(r.file): \(e)" : "\(head): failed: \(e)"
    }

    static func json(_ r: TFTPTransferReport) -> JSON {
        .object([
            ("client", .string(r.client.description)), ("file", .string(r.file)), ("ok", .bool(r.succeeded)), ("bytes", .int(r.bytes)),
            ("milliseconds", .int(Int(min(r.seconds * 1000, 1e15).rounded()))), ("bytesPerSecond", .int(Int(min(r.bytesPerSecond, 1e15).rounded()))),
            ("blksize", .int(r.blockSize)), ("windowsize", .int(r.windowSize)), ("error", r.error.map(JSON.string) ?? .null),
        ])
    }

    static func fixed(_ v: Double, _ digits: Int) -> String {
        guard v.isFinite, v >= 0, v < 1e12 else { return v.isFinite && v >= 1e12 ? String(Int(min(v, 1e15))) : "0" }
        var scale = 1.0
        for _ in 0..<digits { scale *= 10 }
        let n = Int((v * scale).rounded())
        let whole = n / Int(scale), frac = n % Int(scale)
        let f = String(frac)
        return digits == 0 ? String(whole) : "\(whole).\(String(repeating: "0", count: digits - f.count))\(f)"
    }
}

/// SIGINT/SIGTERM write one byte to the server's wake pipe (async-signal safe), so `run` returns.
enum ServeSignals {
    nonisolated(unsafe) static var wakeFD: Int32 = -1
    nonisolated(unsafe) static var previous = [sigaction(), sigaction()]
    static let signals = [SIGINT, SIGTERM]

    static func install(_ fd: Int32) {
        wakeFD = fd
        // A parent's blocked mask is inherited (Foundation's Process passes on the test runner's): unblock.
        var set = sigset_t()
        sigemptyset(&set)
        for sig in signals { sigaddset(&set, sig) }
        pthread_sigmask(SIG_UNBLOCK, &set, nil)
        for (i, sig) in signals.enumerated() {
            var action = sigaction()
            action.__sigaction_handler.sa_handler = { _ in
                var b: UInt8 = 1
                _ = write(ServeSignals.wakeFD, &b, 1)
            }
            sigemptyset(&action.sa_mask)
            action.sa_flags = SA_RESTART
            sigaction(sig, &action, &previous[i])
        }
    }

    static func restore() {
        for (i, sig) in signals.enumerated() { sigaction(sig, &previous[i], nil) }
    }
}

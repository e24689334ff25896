import FlashsmithCore
#if canImport(Glibc)
import Glibc
#endif

/// What `flashsmith boot` watches for on the console and what it does with piped input, one run:
/// `--fail-on` texts (failure at once), the send point (`--send-after`, else `--until`) that releases
/// held input, the `--until` text (success), the timeout (``ErrorCategory/timeout``).
struct ConsoleSession {
    let options: BoardBoot.Options
    let outputFolder: String
    /// Standard input is not a terminal: it is held, then forwarded to QEMU.
    let piped: Bool
    /// The write end of QEMU's standard input (piped only).
    var toQEMU: Int32 = -1
    var held: [UInt8] = []
    var inputEnded = false
    /// The held input flows to QEMU.
    var released = false
    /// The `until` text appeared and released the input: the run lasts until QEMU exits.
    var untilReached = false
    var window: [UInt8] = []
    let start: Double

    /// How a run ends on a text: success (`until`) or a failure to throw (`--fail-on`).
    struct End {
        var failure: BoardBoot.Failure?
    }

    init(options: BoardBoot.Options, outputFolder: String, piped: Bool) {
        self.options = options
        self.outputFolder = outputFolder
        self.piped = piped
        start = Self.clock()
    }

    static func clock() -> Double {
        var t = timespec()
        clock_gettime(CLOCK_MONOTONIC, &t)
        return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
    }

    func now() -> Double { Self.clock() - start }

    /// The text that releases held input.
    var sendPoint: String? { options.sendAfter ?? options.until }
    var readsInput: Bool { piped && !inputEnded }
    var hasPending: Bool { released && !held.isEmpty && toQEMU >= 0 }
    /// Milliseconds poll may wait: at most a second, never past the timeout.
    var pollWait: Int32 {
        guard let t = options.timeout else { return 1000 }
        return Int32(max(0, min(1000, ((t - now()) * 1000).rounded(.up))))
    }

    func checkTimeout() throws {
        guard let t = options.timeout, now() >= t else { return }
        let what: String
        if untilReached, let u = options.until {
            what = "QEMU still running \(Int(t)) s after '\(u)' appeared and the input was sent (end the input with poweroff)"
        } else if !released, let s = options.sendAfter, piped {
            what = "no '\(s)' (--send-after) within \(Int(t)) s"
        } else if let u = options.until {
            what = "no '\(u)' within \(Int(t)) s"
        } else {
            what = "QEMU still running after \(Int(t)) s"
        }
        throw BoardBoot.Failure(message: "boot \(outputFolder): \(what); QEMU stopped", category: .timeout)
    }

    /// Reads what standard input has: held, or forwarded once released. Input with nothing to
    /// wait for is refused (U-Boot would take it).
    mutating func readInput(_ buffer: inout [UInt8]) throws {
        let n = read(0, &buffer, buffer.count)
        if n < 0 && (errno == EINTR || errno == EAGAIN) { return }
        guard n > 0 else {
            inputEnded = true
            return
        }
        held += buffer[0..<n]
        if !released && sendPoint == nil {
            throw BoardBoot.Failure(
                message: "boot \(outputFolder): input is piped, and neither --send-after TEXT nor --until TEXT says when the board is ready for it (U-Boot would take its first byte as an autoboot interrupt)",
                category: .usage)
        }
        if released { flush() }
    }

    /// Writes what QEMU's input takes now (non-blocking); a closed input drops the rest.
    mutating func flush() {
        while hasPending {
            let n = held.withUnsafeBytes { write(toQEMU, $0.baseAddress, $0.count) }
            if n > 0 {
                held.removeFirst(n)
            } else if n < 0 && errno == EINTR {
                continue
            } else {
                if n < 0 && errno != EAGAIN { held = [] }
                return
            }
        }
    }

    /// Looks for the texts in the console output so far; the end of the run, when one appeared.
    mutating func watch(_ chunk: [UInt8]) throws -> End? {
        window += chunk
        for text in options.failOn where window.firstRange(of: Array(text.utf8)) != nil {
            let failure = BoardBoot.Failure(
                message: "boot \(outputFolder): '\(text)' appeared on the console (--fail-on) after \(Double(Int(now() * 10)) / 10) s; QEMU stopped", category: .data)
            return End(failure: failure)
        }
        if !released, let s = options.sendAfter, let r = window.firstRange(of: Array(s.utf8)) {
            // --until counts from here on.
            released = true
            window.removeSubrange(0..<r.upperBound)
            flush()
        }
        if !untilReached, (released || options.sendAfter == nil), let u = options.until, window.firstRange(of: Array(u.utf8)) != nil {
            // Without --send-after, the until text releases held input; the run then lasts until QEMU exits.
            if piped && !released && !held.isEmpty {
                released = true
                untilReached = true
                flush()
            } else {
                return End(failure: nil)
            }
        }
        let keep = ([options.until, options.sendAfter].compactMap { $0 } + options.failOn).map(\.utf8.count).max() ?? 0
        if window.count > keep * 4 + 65536 { window.removeFirst(window.count - keep) }
        return nil
    }
}

import Foundation
import Testing

/// Result of running a program to completion.
public struct RunResult: Sendable {
    public var status: Int32
    public var stdout: [UInt8]
    public var stderr: [UInt8]
    public var out: String { String(decoding: stdout, as: UTF8.self) }
    public var err: String { String(decoding: stderr, as: UTF8.self) }
}

/// Runs `executable` with `arguments`, feeding `stdin`, and collects its output.
/// `executable` is a path or a name looked up on PATH.
@discardableResult
public func run(_ executable: String, _ arguments: [String], stdin: [UInt8] = [], cwd: String? = nil, environment: [String: String]? = nil) throws -> RunResult {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: executable.contains("/") ? executable : (which(executable) ?? executable))
    p.arguments = arguments
    if let cwd { p.currentDirectoryURL = URL(fileURLWithPath: cwd) }
    if let environment { p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
    // Files rather than pipes: no reader threads, no pipe-buffer deadlocks.
    let dir = NSTemporaryDirectory() + "flashsmith-run-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let inURL = URL(fileURLWithPath: dir + "/in"), outURL = URL(fileURLWithPath: dir + "/out"), errURL = URL(fileURLWithPath: dir + "/err")
    try Data(stdin).write(to: inURL)
    _ = FileManager.default.createFile(atPath: outURL.path, contents: nil)
    _ = FileManager.default.createFile(atPath: errURL.path, contents: nil)
    let inH = try FileHandle(forReadingFrom: inURL), outH = try FileHandle(forWritingTo: outURL), errH = try FileHandle(forWritingTo: errURL)
    defer { try? inH.close(); try? outH.close(); try? errH.close() }
    p.standardInput = inH
    p.standardOutput = outH
    p.standardError = errH
    try p.run()
    p.waitUntilExit()
    let outData = try Data(contentsOf: outURL), errData = try Data(contentsOf: errURL)
    return RunResult(status: p.terminationStatus, stdout: [UInt8](outData), stderr: [UInt8](errData))
}

/// The path of `name` on PATH, or nil.
public func which(_ name: String) -> String? {
    let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
    var dirs = path.split(separator: ":").map { String($0) }
    dirs += ["/usr/sbin", "/sbin"]
    for dir in dirs {
        let candidate = dir + "/" + name
        if access(candidate, X_OK) == 0 { return candidate }
    }
    return nil
}

/// True when running under CI (`CI=true`), where every tool is installed and nothing may skip.
public var isCI: Bool { ProcessInfo.processInfo.environment["CI"] == "true" }

/// Whether the peer tools are present. Locally a missing tool skips the test with a printed reason;
/// under CI it is a failure (CI installs every tool).
public func toolsAvailable(_ names: String...) -> Bool {
    requirementsMet(missing: names.filter { which($0) == nil }, kind: "tool(s)")
}

/// Whether the files (firmware, images) a test needs exist; a missing one is treated like a
/// missing tool.
public func filesAvailable(_ paths: String...) -> Bool {
    requirementsMet(missing: paths.filter { !FileManager.default.fileExists(atPath: $0) }, kind: "file(s)")
}

/// Skips locally with a printed reason, or records a failure under CI, when something is missing.
private func requirementsMet(missing: [String], kind: String) -> Bool {
    guard missing.isEmpty else {
        let msg = "missing \(kind): \(missing.joined(separator: ", ")) (install with scripts/install-deps.sh)"
        if isCI {
            Issue.record(Comment(rawValue: msg))
        } else {
            print("SKIP: \(msg)")
        }
        return false
    }
    return true
}

/// The `flashsmith` executable built beside the test bundle.
public var flashsmithPath: String {
    let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    var dir = URL(fileURLWithPath: exe).deletingLastPathComponent()
    // The test bundle is .build/<triple>/debug/FlashsmithPackageTests.xctest; flashsmith sits beside it.
    for _ in 0..<3 {
        let candidate = dir.appendingPathComponent("flashsmith").path
        if access(candidate, X_OK) == 0 { return candidate }
        dir = dir.deletingLastPathComponent()
    }
    return URL(fileURLWithPath: exe).deletingLastPathComponent().appendingPathComponent("flashsmith").path
}

/// Runs the `flashsmith` CLI.
@discardableResult
public func flashsmith(_ arguments: String..., stdin: [UInt8] = []) throws -> RunResult {
    try run(flashsmithPath, arguments, stdin: stdin)
}

@discardableResult
public func flashsmith(_ arguments: [String], stdin: [UInt8] = []) throws -> RunResult {
    try run(flashsmithPath, arguments, stdin: stdin)
}

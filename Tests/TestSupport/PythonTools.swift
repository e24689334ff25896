import Foundation

/// Python tools from PyPI the interop tests run, each in its own venv under
/// /tmp/flashsmith-python (made on first use with `python3 -m venv` and pip; later runs reuse it).
public enum PythonTools {
    static let base = "/tmp/flashsmith-python"

    /// The venv with ubi_reader (`ubireader_display_info`, `ubireader_extract_images`), or nil
    /// (after printing why, or recording an issue under CI) when python3 or PyPI is not there.
    public static func ubiReader() throws -> String? {
        guard toolsAvailable("python3") else { return nil }
        let venv = "\(base)/ubi_reader"
        try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
        return try withFileLock("\(base)/.lock") { () throws -> String? in
            if FileManager.default.fileExists(atPath: "\(venv)/bin/ubireader_display_info") { return venv }
            let python = try requireToolPath("python3")
            var r = try run(python, ["-m", "venv", venv])
            if r.status == 0 { r = try run("\(venv)/bin/pip", ["install", "-q", "ubi_reader"]) }
            guard r.status == 0, FileManager.default.fileExists(atPath: "\(venv)/bin/ubireader_display_info") else {
                let why = "python3 -m venv + pip install ubi_reader failed: \(r.err.suffix(300))"
                if isCI { throw HarnessError(why) }
                print("SKIP: \(why)")
                return nil
            }
            return venv
        }
    }
}

/// The path of a tool on PATH, or an error naming it.
func requireToolPath(_ name: String) throws -> String {
    guard let p = which(name) else { throw HarnessError("\(name) not found on PATH") }
    return p
}

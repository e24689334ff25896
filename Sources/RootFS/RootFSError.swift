import FlashsmithCore

/// Every error of the RootFS library: one line naming the file and line, or the path, then what was
/// expected and what was found. The layers' `Failure` names are this type.
public struct RootFSError: FlashsmithError, Equatable {
    public var message: String
    public var category: ErrorCategory
    public var description: String { message }

    public init(message: String, category: ErrorCategory = .data) {
        self.message = message
        self.category = category
    }

    /// `file:line: message` (a line of a table or a spec), or `file: message` when `line` is 0.
    public init(file: String, line: Int, message: String, category: ErrorCategory = .data) {
        self.init(message: line > 0 ? "\(file):\(line): \(message)" : "\(file): \(message)", category: category)
    }

    /// `path: message`.
    public init(path: String, message: String, category: ErrorCategory = .data) {
        self.init(message: "\(path): \(message)", category: category)
    }

    /// `context: message` (e.g. `table.txt:12`).
    public init(context: String, message: String) {
        self.init(message: "\(context): \(message)")
    }
}

/// The nearest valid name for a typo, for error messages ("did you mean 'console'?").
///
/// Distance is the optimal-string-alignment edit distance (insert, delete, substitute, swap two
/// neighbours: `read-onyl` is one edit from `read-only`), compared without case and with `_` as `-`.
/// A candidate is offered only when it is close: at most one edit for names up to 4 characters, two
/// up to 8, three beyond.
public enum Spelling {
    /// Optimal-string-alignment distance between `a` and `b` (as given, case and all).
    public static func distance(_ a: String, _ b: String) -> Int {
        let x = Array(a.unicodeScalars), y = Array(b.unicodeScalars)
        if x.isEmpty { return y.count }
        if y.isEmpty { return x.count }
        // Three rows: the one before the previous (for swaps), the previous, the current.
        var before = [Int](repeating: 0, count: y.count + 1)
        var previous = Array(0...y.count)
        var current = [Int](repeating: 0, count: y.count + 1)
        for i in 1...x.count {
            current[0] = i
            for j in 1...y.count {
                let cost = x[i - 1] == y[j - 1] ? 0 : 1
                var d = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
                if i > 1, j > 1, x[i - 1] == y[j - 2], x[i - 2] == y[j - 1] { d = min(d, before[j - 2] + 1) }
                current[j] = d
            }
            (before, previous, current) = (previous, current, before)
        }
        return previous[y.count]
    }

    /// The most edits a typo of `word` may be from the name it meant.
    public static func tolerance(for word: String) -> Int {
        switch word.count {
        case ...4: return 1
        case ...8: return 2
        default: return 3
        }
    }

    /// The candidate closest to `word` when it is close enough (ties: the first in `candidates`).
    public static func nearest(to word: String, among candidates: [String]) -> String? {
        // A long key is not a typo of a 2-letter one: compare only against words near its length.
        guard word.count <= 256 else { return nil }
        let w = normalised(word)
        var best: (name: String, distance: Int)?
        for c in candidates {
            let d = distance(w, normalised(c))
            if d <= tolerance(for: c), d < (best?.distance ?? Int.max) { best = (c, d) }
        }
        return best?.name
    }

    /// "did you mean 'console'?" or, with no close candidate, "expected one of: a, b, c".
    public static func hint(for word: String, among candidates: [String]) -> String {
        if let n = nearest(to: word, among: candidates) { return "did you mean '\(n)'?" }
        return "expected one of: " + candidates.joined(separator: ", ")
    }

    static func normalised(_ s: String) -> String { String(s.lowercased().map { $0 == "_" ? "-" : $0 }) }
}

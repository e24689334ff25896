import FlashsmithCore
#if canImport(Glibc)
import Glibc
#endif

/// Where a BOARD argument is: the path as given when it exists (a layouts/NAME folder or its
/// board.yaml); else, for a bare name (`qemu-arm64`), the board of that name shipped with
/// Flashsmith: `layouts/NAME` beside the binary's checkout, or `PREFIX/share/flashsmith/layouts/NAME`
/// where `scripts/install.sh` put it. Anything else is returned unchanged, for the loader's own error.
func locateBoard(_ given: String) -> String {
    guard FileIO.kind(of: given) == .missing, !given.contains("/"), !given.isEmpty, given != ".", given != ".." else { return given }
    var buf = [CChar](repeating: 0, count: 4096)
    let n = readlink("/proc/self/exe", &buf, buf.count - 1)
    guard n > 0 else { return given }
    var dir = parentFolder(String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self))
    var candidates = [dir + "/../share/flashsmith/layouts/" + given]
    while dir != "/" && !dir.isEmpty {
        candidates.append(dir + "/layouts/" + given)
        dir = parentFolder(dir)
    }
    return candidates.first { FileIO.kind(of: $0 + "/board.yaml") != .missing } ?? given
}

private func parentFolder(_ path: String) -> String {
    guard let slash = path.lastIndex(of: "/") else { return "." }
    return slash == path.startIndex ? "/" : String(path[..<slash])
}

import Foundation
import Testing
import TestSupport

/// `build --boot` replaces the board's `boot:` for one build (the development loop and the factory
/// image from one board file); it is checked before anything is built, like the key itself.
@Suite struct BuildBootOptionCLITests {
    static let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

    @Test func aTypoIsNamedWithTheNearestChoice() throws {
        let dir = try TempDir()
        let r = try run(flashsmithPath, ["build", "\(Self.repo)/layouts/qemu-arm64", "--boot", "nsf", "-o", "out"], cwd: dir.path)
        #expect(r.status == 64 && r.err.contains("--boot: expected flash, tftp or nfs, found 'nsf'; did you mean 'nfs'?"), "\(r.err)")
        #expect(!FileManager.default.fileExists(atPath: dir.path + "/out"))
    }

    /// A board with neither network: nor qemu: does not know its server.
    @Test func aBoardWithoutANetworkCannotBootOverIt() throws {
        let dir = try TempDir()
        let r = try run(flashsmithPath, ["build", "\(Self.repo)/layouts/s5pc100", "--boot", "tftp", "-o", "out"], cwd: dir.path)
        #expect(r.status == 64 && r.err.contains("--boot tftp: board s5pc100 has no network:"), "\(r.err)")
        #expect(!FileManager.default.fileExists(atPath: dir.path + "/out"))
    }
}

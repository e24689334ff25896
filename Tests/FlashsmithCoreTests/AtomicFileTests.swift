import FlashsmithCore
import Foundation
import Testing
import TestSupport

@Suite struct AtomicFileTests {
    @Test func writesAndLeavesNoTemporaryFile() throws {
        let dir = try TempDir()
        let p = dir.file("out.bin")
        try AtomicFile.write([1, 2, 3], to: p)
        #expect(try readBytes(p) == [1, 2, 3])
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["out.bin"])
    }

    @Test func replacingKeepsPermissions() throws {
        let dir = try TempDir()
        let p = try dir.write("out.bin", [0])
        chmod(p, 0o600)
        try AtomicFile.write([7, 7], to: p)
        let attrs = try FileManager.default.attributesOfItem(atPath: p)
        #expect((attrs[.posixPermissions] as? NSNumber)?.intValue == 0o600)
        #expect(try readBytes(p) == [7, 7])
    }

    /// Non-durable outputs replace a regular file by swapping names (renameat2 RENAME_EXCHANGE) and
    /// dropping the old one; anything else at the destination is handled as rename handles it.
    @Test func nonDurableReplaceSwapsOnlyWithRegularFiles() throws {
        let dir = try TempDir()
        func commit(_ p: String, _ bytes: [UInt8]) throws {
            var f = try AtomicFile(destination: p, durable: false)
            try f.write(bytes)
            try f.commit()
        }
        // A regular file (another name linked to it keeps the old content, as with rename).
        let p = try dir.write("out.bin", [1, 1, 1])
        try FileManager.default.linkItem(atPath: p, toPath: dir.file("other-name"))
        try commit(p, [2, 2])
        #expect(try readBytes(p) == [2, 2])
        #expect(try readBytes(dir.file("other-name")) == [1, 1, 1])
        // A symlink: the link is replaced, what it pointed at is untouched.
        let target = try dir.write("target.bin", [9])
        try FileManager.default.createSymbolicLink(atPath: dir.file("link.bin"), withDestinationPath: target)
        try commit(dir.file("link.bin"), [3])
        #expect(try readBytes(target) == [9])
        #expect(try readBytes(dir.file("link.bin")) == [3])
        #expect((try? FileManager.default.destinationOfSymbolicLink(atPath: dir.file("link.bin"))) == nil)
        // A folder: refused, and the folder stays.
        try FileManager.default.createDirectory(atPath: dir.file("folder"), withIntermediateDirectories: false)
        #expect(throws: FileError.self) { try commit(dir.file("folder"), [4]) }
        var isDir: ObjCBool = false
        #expect(FileManager.default.fileExists(atPath: dir.file("folder"), isDirectory: &isDir) && isDir.boolValue)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted() == ["folder", "link.bin", "other-name", "out.bin", "target.bin"])
    }

    @Test func abandonedWriteLeavesDestinationAlone() throws {
        let dir = try TempDir()
        let p = try dir.write("keep.bin", [5, 5, 5])
        do {
            var f = try AtomicFile(destination: p)
            try f.write([1, 2])
            // dropped without commit
        }
        #expect(try readBytes(p) == [5, 5, 5])
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["keep.bin"])
    }

    @Test func patchRewritesOnlyTheGivenRanges() throws {
        let dir = try TempDir()
        let original = (0..<3_000_000).map { UInt8(truncatingIfNeeded: $0) }
        let p = try dir.write("big.bin", original)
        try AtomicFile.patch(p, patches: [(offset: 10, bytes: [0xAA, 0xBB]), (offset: (1 << 20) - 1, bytes: [1, 2, 3]), (offset: -1, bytes: [0xEE])])
        var expected = original
        expected[10] = 0xAA
        expected[11] = 0xBB
        expected[(1 << 20) - 1] = 1
        expected[1 << 20] = 2
        expected[(1 << 20) + 1] = 3
        expected[expected.count - 1] = 0xEE
        #expect(try readBytes(p) == expected)
    }

    @Test func patchOutsideTheFileFailsAndChangesNothing() throws {
        let dir = try TempDir()
        let p = try dir.write("small.bin", [1, 2, 3])
        #expect(throws: FileError.shortRead(path: p, offset: 2, expected: 4, found: 1)) {
            try AtomicFile.patch(p, patches: [(offset: 2, bytes: [0, 0, 0, 0])])
        }
        #expect(try readBytes(p) == [1, 2, 3])
    }

    @Test func missingFolderIsACreateError() {
        #expect(throws: FileError.self) { try AtomicFile.write([1], to: "/nonexistent-dir/x.bin") }
    }
}

@Suite struct JSONTests {
    @Test func encodesDeterministically() {
        let j = JSON.object([("b", .int(1)), ("a", .array([.string("x\"\n\u{1}"), .bool(true), .null]))])
        #expect(j.encoded(indent: 0) == #"{"b":1,"a":["x\"\n\u0001",true,null]}"#)
    }

    @Test func nonUTF8BytesBecomeHex() {
        #expect(jsonBytes([0x61, 0xFF]) == .object([("hex", .string("61ff"))]))
        #expect(jsonBytes(Array("é".utf8)) == .string("é"))
    }
}

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

    /// `-o out/board/x.img` on a fresh clone: the missing folders are made.
    @Test func missingParentFoldersAreCreated() throws {
        let dir = try TempDir()
        try AtomicFile.write([1, 2], to: dir.file("out/a/b/x.bin"))
        #expect(try readBytes(dir.file("out/a/b/x.bin")) == [1, 2])
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.file("out/a/b")) == ["x.bin"])
    }

    /// A parent that is a file cannot become a folder: an error naming it, nothing written.
    @Test func aFileInTheWayIsACreateError() throws {
        let dir = try TempDir()
        let f = try dir.write("file", [0])
        #expect(throws: FileError.cannotCreate(path: f, reason: "expected a folder, found a regular file")) { try AtomicFile.write([1], to: dir.file("file/sub/x.bin")) }
        #expect(try readBytes(f) == [0])
    }
}

/// Folder outputs: made with their parents, replacing only what is empty or Flashsmith's own.
@Suite struct AtomicFolderTests {
    func build(_ dest: String, force: Bool = false, marker: AtomicFolder.Marker? = .file, file: String = "new.txt") throws {
        let f = try AtomicFolder(destination: dest, force: force, marker: marker, command: "flashsmith test -o \(dest)")
        try AtomicFile.write(Array("new".utf8), to: "\(f.path)/\(file)")
        try f.commit()
    }

    func names(_ path: String) throws -> [String] { try FileManager.default.contentsOfDirectory(atPath: path).sorted() }

    @Test func missingParentsAreCreated() throws {
        let dir = try TempDir()
        try build(dir.file("out/board"))
        #expect(try names(dir.file("out/board")) == [AtomicFolder.markerFile, "new.txt"])
        #expect(try String(contentsOfFile: dir.file("out/board/\(AtomicFolder.markerFile)"), encoding: .utf8) == "flashsmith test -o \(dir.file("out/board"))\n")
        #expect(try names(dir.file("out")) == ["board"])
    }

    /// A folder holding the user's own files is never replaced without `force`; one with the marker
    /// (file or attribute), or an empty one, is.
    @Test func aFolderFlashsmithDidNotWriteIsRefused() throws {
        let dir = try TempDir()
        let mine = dir.file("tftp")
        try FileManager.default.createDirectory(atPath: mine, withIntermediateDirectories: false)
        _ = try dir.write("tftp/precious.txt", "keep me")
        #expect(throws: FileError.self) { try self.build(mine) }
        #expect(try names(mine) == ["precious.txt"])
        #expect(try names(dir.path) == ["tftp"], "no temporary folder left")
        do {
            try build(mine)
        } catch {
            #expect("\(error)" == "\(mine): cannot create: the folder holds files and was not written by Flashsmith (no .flashsmith-output or user.flashsmith marker): nothing replaced; use --force to replace it")
        }
        try build(mine, force: true)
        #expect(try names(mine) == [AtomicFolder.markerFile, "new.txt"])
        // Now it is Flashsmith's: replaced without force.
        try build(mine, file: "newer.txt")
        #expect(try names(mine) == [AtomicFolder.markerFile, "newer.txt"])
        // An empty folder is replaced.
        try FileManager.default.createDirectory(atPath: dir.file("empty"), withIntermediateDirectories: false)
        try build(dir.file("empty"))
        #expect(try names(dir.file("empty")) == [AtomicFolder.markerFile, "new.txt"])
    }

    /// Root filesystems carry the marker as the `user.flashsmith` attribute: nothing added to the tree.
    @Test func theAttributeMarkerLeavesTheTreeAlone() throws {
        let dir = try TempDir()
        let root = dir.file("nfs/board")
        try build(root, marker: .xattr)
        #expect(try names(root) == ["new.txt"])
        #expect(AtomicFolder.isMarked(root))
        _ = try dir.write("nfs/board/added-by-hand", "x")
        try build(root, marker: .xattr, file: "again.txt")
        #expect(try names(root) == ["again.txt"])
        // Without a marker the folder is the user's.
        try build(dir.file("plain"), marker: nil)
        #expect(!AtomicFolder.isMarked(dir.file("plain")))
        #expect(throws: FileError.self) { try self.build(dir.file("plain")) }
    }

    /// A file where the folder should go stays a file (as before).
    @Test func aFileIsNotReplacedByAFolder() throws {
        let dir = try TempDir()
        let f = try dir.write("out", [9])
        #expect(throws: FileError.self) { try self.build(f, force: true) }
        #expect(try readBytes(f) == [9])
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

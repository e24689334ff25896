import Archive
import Crypto
import FlashsmithCore
import Foundation
import Testing
import TestSupport
@testable import RootFS

/// Numbers taken from ELF headers and from device and users tables: each beyond what it can be is
/// an error naming the file (the old code trapped on an unchecked conversion or addition), and
/// nothing from a table reaches /etc/passwd or /etc/shadow that would change its lines.
@Suite struct ELFLimitsTests {
    /// The synthetic ELF64 (little-endian): program headers at 64 (interp, load, dynamic), 56 bytes each.
    func elf(_ patches: [(Int, UInt64)]) -> [UInt8] {
        var b = syntheticELF(is64: true, order: .little, machine: 183, interp: "/lib/ld-linux-aarch64.so.1", needed: ["libc.so.6"], runpath: nil)
        for (offset, value) in patches {
            for i in 0..<8 { b[offset + i] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(i))) }
        }
        return b
    }

    static let phdrs = 64, phentsize = 56
    static let loadHeader = phdrs + phentsize

    /// Offset of the dynamic entry with `tag` (DT_STRTAB 5, DT_STRSZ 10) in the synthetic file.
    func dynamicEntry(_ bytes: [UInt8], tag: UInt64) -> Int {
        let dynOff = Int(bytes[Self.phdrs + 2 * Self.phentsize + 8]) | Int(bytes[Self.phdrs + 2 * Self.phentsize + 9]) << 8
        var o = dynOff
        while o + 16 <= bytes.count {
            if bytes[o] == UInt8(tag) { return o }
            o += 16
        }
        return -1
    }

    @Test(arguments: [
        ("e_phoff 2^63", [(32, UInt64(1) << 63)]),
        ("e_phoff 2^64-1", [(32, UInt64.max)]),
        ("p_offset near 2^64", [(loadHeader + 8, UInt64.max - 15)]),
        ("p_filesz 2^63", [(loadHeader + 32, UInt64(1) << 63)]),
        ("p_filesz 2^64-1", [(loadHeader + 32, UInt64.max)]),
    ])
    func headerNumbersBeyondTheFileAreErrors(name: String, patches: [(Int, UInt64)]) throws {
        let dir = try TempDir()
        let f = try dir.write("a.out", elf(patches))
        #expect(throws: ELFError.self, "\(name)") { try ELFFile.read(f) }
    }

    /// p_vaddr + p_filesz past 2^64, with DT_STRTAB pointing up there: the old lookup added them.
    @Test func segmentAddressesThatWrapAreErrors() throws {
        let dir = try TempDir()
        var b = elf([(Self.loadHeader + 16, UInt64.max - 10)])
        let strtab = dynamicEntry(b, tag: 5)
        for i in 0..<8 { b[strtab + 8 + i] = UInt8(truncatingIfNeeded: (UInt64.max - 5) >> (8 * UInt64(i))) }
        let f = try dir.write("a.out", b)
        #expect(throws: ELFError.self) { try ELFFile.read(f) }
    }

    /// DT_STRSZ is a hint: 2^63 reads what the segment holds, and the names are found.
    @Test(arguments: [UInt64(1) << 63, UInt64.max])
    func hugeStringTableSizeIsOnlyAHint(strsz: UInt64) throws {
        let dir = try TempDir()
        var b = elf([])
        let e = dynamicEntry(b, tag: 10)
        for i in 0..<8 { b[e + 8 + i] = UInt8(truncatingIfNeeded: strsz >> (8 * UInt64(i))) }
        let f = try dir.write("a.out", b)
        #expect(try ELFFile.read(f).needed == ["libc.so.6"])
    }
}

@Suite struct TableLimitsTests {
    /// Ranges whose last minor passes 20 bits (or 2^32: the old code trapped adding), majors past
    /// 12 bits: refused with the file and line, as Linux's dev_t cannot carry them.
    @Test(arguments: [
        ("/dev/x c 600 0 0 4 4294967295 0 1 4", "minor: expected a number up to 1048575"),
        ("/dev/x c 600 0 0 4 1048575 0 1 2", "minor 1048575 + 1 × 1 = 1048576: expected at most 1048575"),
        ("/dev/x c 600 0 0 4 0 0 1048575 3", "minor 0 + 2 × 1048575 = 2097150: expected at most 1048575"),
        ("/dev/x c 600 0 0 4096 0 - - -", "major: expected a number up to 4095"),
        ("/dev/x c 600 0 0 4 0 4294967295 1 2", "start: expected a number up to 1048575"),
        ("/dev/x c 600 0 0 4 0 0 0 100000", "count: expected a number up to 4096"),
    ])
    func deviceNumbersBeyondDevTAreRefused(line: String, message: String) throws {
        #expect {
            try DeviceTable.parse("# devices\n\(line)\n", file: "devices.txt")
        } throws: { error in
            "\(error)".hasPrefix("devices.txt:2: ") && "\(error)".contains(message)
        }
    }

    @Test func largestDeviceNumbersAreAccepted() throws {
        var m = try DeviceTableTests().base()
        try DeviceTable.parse("/dev/x c 600 0 0 4095 1048573 0 1 3\n", file: "d").apply(to: &m)
        #expect(m["/dev/x2"]?.major == 4095 && m["/dev/x2"]?.minor == 1_048_575)
    }

    /// ':' (a field separator in passwd/shadow) or a control character in a field that is copied
    /// verbatim: refused, naming the file and line. A clear-text password is hashed, so it may.
    @Test(arguments: [
        ("eve -1 eve -1 =pw /home/eve:0 /bin/sh - Eve", "home '/home/eve:0'"),
        ("eve -1 eve -1 =pw /home/eve /bin/sh:0 - Eve", "shell '/bin/sh:0'"),
        ("eve -1 eve -1 =pw /home/eve /bin/sh - Eve:0:0", "comment 'Eve:0:0'"),
        ("eve -1 eve -1 $6$x:0 /home/eve /bin/sh - Eve", "password '$6$x:0'"),
        ("eve -1 eve -1 =pw /home/eve /bin/sh - Eve\u{0B}x", "comment 'Eve?x'"),
    ])
    func fieldsThatWouldBreakPasswdAreRefused(line: String, field: String) throws {
        #expect {
            try UsersTable.parse("\n\(line)\n", file: "users.txt")
        } throws: { error in
            "\(error)".hasPrefix("users.txt:2: \(field)") && "\(error)".contains("expected no ':' or control characters")
        }
        let ok = try UsersTable.parse("eve -1 eve -1 =pw:with:colons /home/eve /bin/sh - Eve E.\n", file: "users.txt")
        #expect(ok.users.first?.comment == "Eve E.")
    }
}

/// The folder output's `DIR.mtree` (mtree has no hard links): a file's second name is recorded
/// whole, with the file's size and digest, so `bsdtar @DIR.mtree` stores it whole.
@Suite struct MtreeHardLinkTests {
    @Test func secondNameHasTheFilesSizeAndDigest() throws {
        let dir = try TempDir()
        var m = Manifest(sourceDateEpoch: 0)
        var a = Manifest.Entry(path: "/etc/a", kind: .file, mode: 0o644, source: "t")
        let content = Array("hard-linked content\n".utf8)
        a.content = .bytes(content)
        try m.add(a)
        var b = Manifest.Entry(path: "/etc/b", kind: .hardlink, mode: 0o644, source: "t")
        b.target = "/etc/a"
        try m.add(b)
        let r = try DirectoryOutput.write(m, to: dir.file("tree"))
        let text = String(decoding: try readBytes(r.mtree), as: UTF8.self)
        let digest = SHA256.hash(data: content).map { String(format: "%02x", $0) }.joined()
        for name in ["a", "b"] {
            let line = try #require(text.split(separator: "\n").first { $0.hasPrefix("\(name) ") || $0.hasPrefix("./etc/\(name) ") }, "\(text)")
            #expect(line.contains("size=\(content.count)") && line.contains("sha256digest=\(digest)"), "\(line)")
        }
        // Read back: both names are the whole file.
        let listing = try Listing.of(archive: r.mtree, digests: true)
        #expect(listing.items.first { $0.path == "/etc/b" }?.size == content.count)
    }
}

/// A users table of thousands of users is applied in linear time (every lookup by name or id was
/// a scan, every member list rebuilt: a few thousand users took seconds), and clear-text
/// passwords, each a SHA-512 crypt, are hashed once per user and limited per table.
@Suite struct UsersTableScaleTests {
    @Test func thousandsOfUsersApplyQuickly() throws {
        var text = ""
        for i in 0..<3000 { text += "u\(i) \(5000 + i) g\(i % 50) \(7000 + i % 50) * /home/u\(i) /bin/sh audio,video User \(i)\n" }
        for _ in 0..<500 { text += "bob 1500 staff 50 !=hunter2 /home/bob - audio # repeated\n" }
        let t = try UsersTable.parse(text, file: "users.txt")
        var m = try DeviceTableTests().base()
        let start = ContinuousClock.now
        try t.apply(to: &m)
        let elapsed = ContinuousClock.now - start
        #expect(elapsed < .seconds(10), "\(elapsed)")
        let group = String(decoding: try m.contents(try #require(m["/etc/group"])), as: UTF8.self)
        let audio = try #require(group.split(separator: "\n").first { $0.hasPrefix("audio:") })
        #expect(audio.hasSuffix(":u0,u1,u2") == false && audio.split(separator: ":").last?.split(separator: ",").count == 3001, "\(audio.prefix(80))")
        #expect(audio.hasSuffix(",bob"))
        #expect(m["/home/u2999"]?.uid == 7999 && m["/home/bob"]?.uid == 1500)
        let shadow = String(decoding: try m.contents(try #require(m["/etc/shadow"])), as: UTF8.self)
        #expect(shadow.contains("bob:!$6$"))
    }

    @Test func clearTextPasswordsAreLimitedPerTable() throws {
        var text = ""
        for i in 0...UsersTable.maxHashedPasswords { text += "p\(i) \(3000 + i) p\(i) \(3000 + i) =pw\(i) - - - -\n" }
        let t = try UsersTable.parse(text, file: "users.txt")
        var m = try DeviceTableTests().base()
        #expect {
            try t.apply(to: &m)
        } throws: { error in
            "\(error)".hasPrefix("users.txt:\(UsersTable.maxHashedPasswords + 1): password: expected at most \(UsersTable.maxHashedPasswords) clear-text")
        }
    }
}

extension UsersTableScaleTests {
    @Test func clearTextPasswordsHaveLibxcryptsLimit() throws {
        let long = String(repeating: "x", count: UsersTable.maxPasswordLength + 1)
        #expect {
            _ = try UsersTable.parse("\nlong -1 long -1 =\(long) - - - -\n", file: "users.txt")
        } throws: { error in
            "\(error)".hasPrefix("users.txt:2: password: expected at most 512 bytes of clear text")
        }
        _ = try UsersTable.parse("ok -1 ok -1 =\(long.dropFirst()) - - - -\n", file: "users.txt")
    }
}

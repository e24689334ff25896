import Foundation
import Testing
import TestSupport
@testable import RootFS

/// Buildroot's device table (makedevs) and users table (mkusers) formats, applied to a manifest.
@Suite struct DeviceTableTests {
    func base() throws -> Manifest {
        var m = Manifest(sourceDateEpoch: 0)
        var passwd = Manifest.Entry(path: "/etc/passwd", kind: .file, mode: 0o644, source: "t")
        passwd.content = .bytes(Array("root:x:0:0:root:/root:/bin/sh\nwww:x:33:33::/var/www:/bin/false\n".utf8))
        try m.add(passwd)
        var group = Manifest.Entry(path: "/etc/group", kind: .file, mode: 0o644, source: "t")
        group.content = .bytes(Array("root:x:0:\ntty:x:5:\nwww:x:33:\n".utf8))
        try m.add(group)
        var shadow = Manifest.Entry(path: "/etc/shadow", kind: .file, mode: 0o644, source: "t")
        shadow.content = .bytes(Array("root::::::::\n".utf8))
        try m.add(shadow)
        try m.add(Manifest.Entry(path: "/usr/bin", kind: .directory, mode: 0o755, source: "t"))
        var ping = Manifest.Entry(path: "/usr/bin/ping", kind: .file, mode: 0o755, source: "t")
        ping.content = .bytes([1, 2, 3])
        try m.add(ping)
        return m
    }

    @Test func everyTypeAsMakedevsDoesIt() throws {
        var m = try base()
        let table = """
            # name type mode uid gid major minor start inc count
            /dev d 755 0 0 - - - - -
            /dev/console c 600 0 tty 5 1 - - -
            /dev/ttyS c 660 0 5 4 64 0 1 4
            /dev/sda b 640 0 0 8 0 0 0 0
            /dev/hd b 640 0 0 3 0 1 2 3
            /run/fifo p 620 www www - - - - -
            /etc/shadow f 600 0 0 - - - - -
            /usr/bin/ping f 4755 0 0 - - - - -
            |xattr cap_net_raw+ep
            /opt/missing F 600 0 0 - - - - -
            /var/www d 2775 www www - - - - -
            /usr r -1 www 33 - - - - -
            """
        try DeviceTable.parse(table, file: "t.txt").apply(to: &m)
        #expect(m["/dev/console"].map { [$0.kind == .charDevice, $0.major == 5, $0.minor == 1, $0.gid == 5, $0.mode == 0o600] } == [true, true, true, true, true])
        #expect((0..<4).map { m["/dev/ttyS\($0)"]?.minor } == [64, 65, 66, 67])
        #expect(m["/dev/ttyS"] == nil && m["/dev/ttyS4"] == nil)
        #expect(m["/dev/sda"]?.kind == .blockDevice)
        // start 1, inc 2: hd1 hd2 hd3 with minors 0, 2, 4.
        #expect([1, 2, 3].map { m["/dev/hd\($0)"]?.minor } == [0, 2, 4])
        #expect(m["/run/fifo"].map { [$0.kind == .fifo, $0.uid == 33, $0.gid == 33] } == [true, true, true])
        #expect(m["/etc/shadow"]?.mode == 0o600)
        #expect(m["/usr/bin/ping"]?.mode == 0o4755)
        #expect(m["/usr/bin/ping"]?.xattrs[Capabilities.xattrName] == (try Capabilities.parse("cap_net_raw+ep", context: "").xattr()))
        #expect(m["/opt/missing"] == nil)
        #expect(m["/var/www"]?.mode == 0o2775)
        // r: owners on everything below, mode kept (-1).
        #expect(m.tree("/usr").allSatisfy { m[$0]?.uid == 33 && m[$0]?.gid == 33 })
        #expect(m["/usr/bin/ping"]?.mode == 0o4755)
    }

    @Test(arguments: [
        ("/x q 644 0 0", "t.txt:1", "type"),
        ("/x f 9999 0 0", "t.txt:1", "mode"),
        ("/x c 600 0 0", "t.txt:1", "major and minor"),
        ("relative f 644 0 0", "t.txt:1", "absolute"),
        ("# ok\n/dev/../../etc/x c 600 0 0 1 2", "t.txt:2", "'..'"),
        ("|xattr cap_net_raw+ep", "t.txt:1", "must follow"),
        ("/x f 644 0 0\n|xattr cap_bogus+ep", "t.txt:2", "cap_bogus"),
        ("/x c 600 0 0 1 1048576", "t.txt:1", "minor"),
    ])
    func badLinesNameTheLine(text: String, position: String, word: String) {
        do {
            _ = try DeviceTable.parse(text, file: "t.txt")
            Issue.record("expected an error")
        } catch {
            let s = String(describing: error)
            #expect(s.hasPrefix(position) && s.contains(word), "\(s)")
        }
    }

    @Test func applyErrorsNameTheLine() throws {
        for (text, word) in [("/nope f 600 0 0", "found nothing"), ("/dev/x c 600 nobody 0 1 1", "nobody"), ("/etc/passwd r 600 0 0", "directory")] {
            var m = try base()
            do {
                try DeviceTable.parse(text, file: "t.txt").apply(to: &m)
                Issue.record("expected an error for \(text)")
            } catch {
                #expect(String(describing: error).hasPrefix("t.txt:1: ") && String(describing: error).contains(word), "\(error)")
            }
        }
    }
}

@Suite struct UsersTableTests {
    func base() throws -> Manifest {
        var m = Manifest(sourceDateEpoch: 86400 * 20000)
        for (p, t) in [
            ("/etc/passwd", "root:x:0:0:root:/root:/bin/sh\ndaemon:x:1:1:daemon:/usr/sbin:/bin/false\n"),
            ("/etc/group", "root:x:0:\ndaemon:x:1:\naudio:x:29:\nusers:x:100:\n"),
            ("/etc/shadow", "root::::::::\ndaemon:*:::::::\n"),
        ] {
            var e = Manifest.Entry(path: p, kind: .file, mode: 0o644, source: "skeleton")
            e.content = .bytes(Array(t.utf8))
            try m.add(e)
        }
        return m
    }

    func text(_ m: Manifest, _ p: String) throws -> String { String(decoding: try m.contents(try #require(m[p])), as: UTF8.self) }

    @Test func accountsAsMkusersMakesThem() throws {
        var m = try base()
        let table = """
            # username uid group gid password home shell groups comment
            alice -2 alice -2 =secret /home/alice /bin/sh audio,video Alice   Liddell
            svc -1 svc -1 * - - - -
            bob 1500 staff 50 !=hunter2 /home/bob - - # comment after
            """
        try UsersTable.parse(table, file: "u.txt").apply(to: &m)
        let passwd = try text(m, "/etc/passwd")
        let group = try text(m, "/etc/group")
        let shadow = try text(m, "/etc/shadow")
        // Fixed gids first (staff 50), then automatic: users 100 is taken, so svc gets 101; alice 1000;
        // video is an extra group of a user (-2): 1001.
        #expect(group.contains("staff:x:50:\n"))
        #expect(group.contains("svc:x:101:\n"))
        #expect(group.contains("alice:x:1000:\n"))
        #expect(group.contains("audio:x:29:alice\n"))
        #expect(group.contains("video:x:1001:alice\n"))
        // Fixed uids first (bob 1500), then automatic ones in table order.
        #expect(passwd.contains("bob:x:1500:50::/home/bob:/bin/false\n"))
        #expect(passwd.contains("alice:x:1000:1000:Alice   Liddell:/home/alice:/bin/sh\n"))
        #expect(passwd.contains("svc:x:100:101:-:/:/bin/false\n"))
        #expect(passwd.hasPrefix("root:x:0:0:root:/root:/bin/sh\ndaemon:"))
        let alice = try #require(shadow.split(separator: "\n").first { $0.hasPrefix("alice:") })
        #expect(alice.hasPrefix("alice:$6$") && alice.hasSuffix(":::::::"))
        #expect(shadow.contains("svc:*:::::::\n"))
        #expect(shadow.split(separator: "\n").first { $0.hasPrefix("bob:") }?.hasPrefix("bob:!$6$") == true)
        #expect(m["/home/alice"].map { [$0.uid == 1000, $0.gid == 1000, $0.kind == .directory] } == [true, true, true])
        #expect(m["/home/bob"]?.uid == 1500)
        #expect(m["/etc/shadow"]?.mode == 0o644, "an existing file keeps its mode")
        // The hash is what crypt(3) makes of the password with that salt.
        if toolsAvailable("openssl") {
            let field = alice.split(separator: ":")[1]
            let salt = field.split(separator: "$")[1]
            let ref = try run(try #require(which("openssl")), ["passwd", "-6", "-salt", String(salt), "secret"])
            #expect(ref.out.trimmingCharacters(in: .whitespacesAndNewlines) == String(field))
        }
    }

    @Test func sameInputsSameBytes() throws {
        let table = "alice -2 alice -2 =secret /home/alice /bin/sh - -\n"
        var a = try base()
        var b = try base()
        try UsersTable.parse(table, file: "u.txt").apply(to: &a)
        try UsersTable.parse(table, file: "u.txt").apply(to: &b)
        #expect(try text(a, "/etc/shadow") == (try text(b, "/etc/shadow")))
    }

    @Test(arguments: [
        ("root 0 root 0 - - - - -", "root"),
        ("alice 1000 alice 1000 - home - - -", "home"),
        ("alice x alice 1000 - - - - -", "uid"),
        ("alice 1000 alice", "found 3 field(s)"),
        ("alice 1000 alice 1000 - /home/../etc - - -", "'..'"),
    ])
    func badLinesNameTheLine(text: String, word: String) {
        do {
            _ = try UsersTable.parse(text, file: "u.txt")
            Issue.record("expected an error")
        } catch {
            #expect(String(describing: error).hasPrefix("u.txt:1: ") && String(describing: error).contains(word), "\(error)")
        }
    }

    @Test func idClashesAreErrors() throws {
        for (text, word) in [("daemon 7 daemon 1 - - - - -", "uid 1"), ("x 1 x 77 - - - - -", "uid 1 for 'x' is already user 'daemon'"), ("y 300 audio 30 - - - - -", "gid 29")] {
            var m = try base()
            do {
                try UsersTable.parse(text, file: "u.txt").apply(to: &m)
                Issue.record("expected an error for \(text)")
            } catch {
                #expect(String(describing: error).contains(word), "\(error)")
            }
        }
    }
}

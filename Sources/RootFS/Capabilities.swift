import FlashsmithCore

/// File capabilities: libcap's text form (`cap_from_text(3)`: clauses `caps[=+-]flags`, e.g.
/// `cap_net_raw+ep`, `cap_chown,cap_fowner=eip`, `all=ep`) and the `security.capability` xattr the
/// kernel reads (`struct vfs_cap_data`, include/uapi/linux/capability.h):
/// ```
/// +0  le32 magic_etc   VFS_CAP_REVISION_2 (0x02000000) | VFS_CAP_FLAGS_EFFECTIVE (0x1)
/// +4  le32 permitted[0]    +8  le32 inheritable[0]     (capabilities 0–31)
/// +12 le32 permitted[1]    +16 le32 inheritable[1]     (capabilities 32–63)
/// ```
/// A file has one effective bit: set when any capability is effective.
public struct Capabilities: Sendable, Equatable {
    public static let xattrName = "security.capability"
    static let revision2: UInt32 = 0x0200_0000
    static let flagEffective: UInt32 = 0x1

    /// include/uapi/linux/capability.h, in number order.
    public static let names = [
        "cap_chown", "cap_dac_override", "cap_dac_read_search", "cap_fowner", "cap_fsetid", "cap_kill", "cap_setgid",
        "cap_setuid", "cap_setpcap", "cap_linux_immutable", "cap_net_bind_service", "cap_net_broadcast", "cap_net_admin",
        "cap_net_raw", "cap_ipc_lock", "cap_ipc_owner", "cap_sys_module", "cap_sys_rawio", "cap_sys_chroot", "cap_sys_ptrace",
        "cap_sys_pacct", "cap_sys_admin", "cap_sys_boot", "cap_sys_nice", "cap_sys_resource", "cap_sys_time",
        "cap_sys_tty_config", "cap_mknod", "cap_lease", "cap_audit_write", "cap_audit_control", "cap_setfcap",
        "cap_mac_override", "cap_mac_admin", "cap_syslog", "cap_wake_alarm", "cap_block_suspend", "cap_audit_read",
        "cap_perfmon", "cap_bpf", "cap_checkpoint_restore",
    ]

    public var effective: UInt64 = 0
    public var permitted: UInt64 = 0
    public var inheritable: UInt64 = 0

    public typealias Failure = RootFSError

    public static func parse(_ text: String, context: String) throws -> Capabilities {
        var c = Capabilities()
        let all: UInt64 = (1 << UInt64(names.count)) - 1
        for clause in text.split(whereSeparator: { $0 == " " || $0 == "\t" }) {
            guard let opIndex = clause.firstIndex(where: { "=+-".contains($0) }) else {
                throw Failure(context: context, message: "capability clause '\(clause)': expected NAMES followed by =, + or - and flags e, i, p")
            }
            let list = clause[..<opIndex]
            var set: UInt64 = 0
            if list.isEmpty || list == "all" {
                set = all
            } else {
                for n in list.split(separator: ",") {
                    let name = n.lowercased()
                    if let i = names.firstIndex(of: name) ?? names.firstIndex(of: "cap_" + name) {
                        set |= 1 << UInt64(i)
                    } else if let v = Int(name), v < 64 {
                        set |= 1 << UInt64(v)
                    } else {
                        throw Failure(context: context, message: "capability '\(n)': expected a name such as cap_net_raw, found an unknown one")
                    }
                }
            }
            // Actions: a sequence of [=+-][eip]*.
            var rest = clause[opIndex...]
            while let op = rest.first {
                rest = rest.dropFirst()
                let flags = rest.prefix { "eipEIP".contains($0) }
                rest = rest.dropFirst(flags.count)
                if op == "=" {
                    c.effective &= ~set
                    c.permitted &= ~set
                    c.inheritable &= ~set
                }
                guard "=+-".contains(op) else { throw Failure(context: context, message: "capability clause '\(clause)': unexpected '\(op)'") }
                for f in flags.lowercased() {
                    switch (f, op) {
                    case ("e", "-"): c.effective &= ~set
                    case ("p", "-"): c.permitted &= ~set
                    case ("i", "-"): c.inheritable &= ~set
                    case ("e", _): c.effective |= set
                    case ("p", _): c.permitted |= set
                    default: c.inheritable |= set
                    }
                }
            }
        }
        return c
    }

    /// The `security.capability` value (revision 2, 20 bytes).
    public func xattr() -> [UInt8] {
        var w = ByteWriter()
        w.append(Self.revision2 | (effective != 0 ? Self.flagEffective : 0), .little)
        w.append(UInt32(truncatingIfNeeded: permitted), .little)
        w.append(UInt32(truncatingIfNeeded: inheritable), .little)
        w.append(UInt32(truncatingIfNeeded: permitted >> 32), .little)
        w.append(UInt32(truncatingIfNeeded: inheritable >> 32), .little)
        return w.bytes
    }

    /// Decodes a `security.capability` value (revision 2 or 3; the rootid of 3 is ignored).
    public static func decode(_ v: [UInt8]) -> Capabilities? {
        guard v.count >= 20 else { return nil }
        let r = ByteReader(v)
        guard let magic = try? r.get(UInt32.self, at: 0, .little), magic & 0xFF00_0000 >= revision2,
            let p0 = try? r.get(UInt32.self, at: 4, .little), let i0 = try? r.get(UInt32.self, at: 8, .little),
            let p1 = try? r.get(UInt32.self, at: 12, .little), let i1 = try? r.get(UInt32.self, at: 16, .little)
        else { return nil }
        var c = Capabilities()
        c.permitted = UInt64(p0) | UInt64(p1) << 32
        c.inheritable = UInt64(i0) | UInt64(i1) << 32
        c.effective = magic & flagEffective != 0 ? c.permitted | c.inheritable : 0
        return c
    }

    /// libcap-like text: `cap_a,cap_b=eip` grouped by flag sets.
    public var text: String {
        var groups: [String: [String]] = [:]
        var order: [String] = []
        for i in 0..<64 {
            let bit: UInt64 = 1 << UInt64(i)
            var f = ""
            if effective & bit != 0 { f += "e" }
            if inheritable & bit != 0 { f += "i" }
            if permitted & bit != 0 { f += "p" }
            guard !f.isEmpty else { continue }
            if groups[f] == nil { order.append(f) }
            groups[f, default: []].append(i < Self.names.count ? Self.names[i] : String(i))
        }
        return order.map { (groups[$0] ?? []).joined(separator: ",") + "=" + $0 }.joined(separator: " ")
    }
}

import FlashsmithCore

/// A partition's type: a GPT type GUID or an MBR system id byte.
public enum PartitionType: Sendable, Hashable, CustomStringConvertible {
    case gpt(GUID)
    case mbr(UInt8)

    /// `linux (0FC63DAF-…)` or `0x83 (linux)`: the table's name when there is one.
    public var description: String {
        switch self {
        case let .gpt(g):
            guard let n = PartitionTypes.gpt.first(where: { $0.guid == g })?.name else { return g.description }
            return "\(n) (\(g))"
        case let .mbr(b):
            let text = "0x" + (b < 0x10 ? "0" : "") + String(b, radix: 16)
            guard let n = PartitionTypes.mbr.first(where: { $0.id == b })?.name else { return text }
            return "\(text) (\(n))"
        }
    }

    /// The short name (`linux`, `esp`, `fat32`), or nil for a type the table does not name.
    public var name: String? {
        switch self {
        case let .gpt(g): return PartitionTypes.gpt.first { $0.guid == g }?.name
        case let .mbr(b): return PartitionTypes.mbr.first { $0.id == b }?.name
        }
    }

    /// A type as a board spells it: a name of the table, or a GUID (GPT) or a byte `0x83`/`83` (MBR).
    /// `source` names where the text came from (`board.yaml:12: type`) in the error.
    public static func parse(_ text: String, for kind: PartitionTable.Kind, source: String = "type") throws -> PartitionType {
        let t = text.trimmingSpaces()
        let lower = t.lowercased()
        switch kind {
        case .gpt:
            if let e = PartitionTypes.gpt.first(where: { $0.name == lower }) { return .gpt(e.guid) }
            if let g = GUID(t), g != .zero { return .gpt(g) }
            throw DiskError(
                "\(source): expected a GPT partition type (\(PartitionTypes.gpt.map(\.name).joined(separator: ", ")) or a GUID), found '\(text)'"
                    + didYouMean(lower, PartitionTypes.gpt.map(\.name)), category: .usage)
        case .mbr:
            if let e = PartitionTypes.mbr.first(where: { $0.name == lower }) { return .mbr(e.id) }
            let digits = lower.hasPrefix("0x") ? String(lower.dropFirst(2)) : lower
            if !digits.isEmpty, digits.count <= 2, let b = UInt8(digits, radix: 16), b != 0 { return .mbr(b) }
            throw DiskError(
                "\(source): expected an MBR partition type (\(PartitionTypes.mbr.map(\.name).joined(separator: ", ")) or a byte 0x01…0xff), found '\(text)'"
                    + didYouMean(lower, PartitionTypes.mbr.map(\.name)), category: .usage)
        }
    }
}

func didYouMean(_ word: String, _ candidates: [String]) -> String {
    Spelling.nearest(to: word, among: candidates).map { "; did you mean '\($0)'?" } ?? ""
}

/// The type names a board may use. GPT: the UEFI and Discoverable Partitions Specification GUIDs
/// (the names sfdisk and systemd-repart use, shortened); MBR: the system ids fdisk lists.
public enum PartitionTypes {
    public struct GPTEntry: Sendable {
        public let name: String
        public let guid: GUID
        public let summary: String
    }

    public struct MBREntry: Sendable {
        public let name: String
        public let id: UInt8
        public let summary: String
    }

    static func g(_ name: String, _ text: String, _ summary: String) -> GPTEntry {
        GPTEntry(name: name, guid: GUID(text)!, summary: summary)
    }

    public static let gpt: [GPTEntry] = [
        g("linux", "0FC63DAF-8483-4772-8E79-3D69D8477DE4", "Linux filesystem"),
        g("esp", "C12A7328-F81F-11D2-BA4B-00A0C93EC93B", "EFI System"),
        g("swap", "0657FD6D-A4AB-43C4-84E5-0933C84B4F4F", "Linux swap"),
        g("home", "933AC7E1-2EB4-4F13-B844-0E14E2AEF915", "Linux home"),
        g("srv", "3B8F8425-20E0-4F3B-907F-1A25A76F98E8", "Linux server data"),
        g("var", "4D21B016-B534-45C2-A9FB-5C16E091FD2D", "Linux variable data"),
        g("linux-root-arm64", "B921B045-1DF0-41C3-AF44-4C6F280D3FAE", "Linux root (ARM-64)"),
        g("linux-root-arm", "69DAD710-2CE4-4E3C-B16C-21A1D49ABED3", "Linux root (ARM)"),
        g("linux-root-x86-64", "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709", "Linux root (x86-64)"),
        g("linux-root-x86", "44479540-F297-41B2-9AF7-D131D5F0458A", "Linux root (x86)"),
        g("linux-root-riscv64", "72EC70A6-CF74-40E6-BD49-4BDA08E8F224", "Linux root (RISC-V-64)"),
        g("linux-usr-arm64", "B0E01050-EE5F-4390-949A-9101B17104E9", "Linux /usr (ARM-64)"),
        g("linux-usr-x86-64", "8484680C-9521-48C6-9C11-B0720656F69E", "Linux /usr (x86-64)"),
        g("xbootldr", "BC13C2FF-59E6-4262-A352-B275FD6F7172", "Linux extended boot"),
        g("lvm", "E6D6D379-F507-44C2-A23C-238F2A3DF928", "Linux LVM"),
        g("raid", "A19D880F-05FC-4D3B-A006-743F0F84911E", "Linux RAID"),
        g("bios-boot", "21686148-6449-6E6F-744E-656564454649", "BIOS boot"),
        g("msdata", "EBD0A0A2-B9E5-4433-87C0-68B6B72699C7", "Microsoft basic data"),
        g("u-boot-env", "3DE21764-95BD-54BD-A5C3-4ABE786F38A8", "U-Boot environment"),
    ]

    public static let mbr: [MBREntry] = [
        MBREntry(name: "linux", id: 0x83, summary: "Linux"),
        MBREntry(name: "fat32", id: 0x0C, summary: "W95 FAT32 (LBA)"),
        MBREntry(name: "fat32-chs", id: 0x0B, summary: "W95 FAT32"),
        MBREntry(name: "fat16", id: 0x0E, summary: "W95 FAT16 (LBA)"),
        MBREntry(name: "fat12", id: 0x01, summary: "FAT12"),
        MBREntry(name: "swap", id: 0x82, summary: "Linux swap"),
        MBREntry(name: "extended", id: 0x0F, summary: "W95 Ext'd (LBA)"),
        MBREntry(name: "extended-chs", id: 0x05, summary: "Extended"),
        MBREntry(name: "esp", id: 0xEF, summary: "EFI (FAT-12/16/32)"),
        MBREntry(name: "lvm", id: 0x8E, summary: "Linux LVM"),
        MBREntry(name: "raid", id: 0xFD, summary: "Linux raid autodetect"),
        MBREntry(name: "ntfs", id: 0x07, summary: "HPFS/NTFS/exFAT"),
        MBREntry(name: "gpt-protective", id: 0xEE, summary: "GPT"),
    ]

    /// GPT attribute bit 2: legacy BIOS bootable.
    public static let legacyBIOSBootable: UInt64 = 1 << 2
}

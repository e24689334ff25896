import FlashsmithCore

/// Where genimage (16–19) places an hdimage's partitions and how large it makes the disk, worked
/// out as its image-hd.c setup does, so that the imported board says every offset and size
/// explicitly: genimage's defaults (512-byte alignment, MBR) are not Flashsmith's.
///
/// The order of the rules (genimage's README, "For each partition…"): the table's own sectors come
/// first (the MBR's last 72 bytes; for GPT the header at 512 and 32 sectors of entries at
/// `gpt-location`, default 1 KiB); a partition without an offset goes after everything placed
/// before it, rounded up to its `align` (default: the image's, 512; 1 outside the table); an
/// `autoresize` partition takes what is left (less the backup GPT); a partition without a size
/// takes its image's, rounded up to its alignment in the table. Without a `size`, the disk ends
/// where the last partition does (GPT: after the backup, rounded up to 4 KiB).
struct GenimageDiskLayout {
    typealias Failure = GenimageConfig.Failure
    static let sector = 512
    /// The backup GPT: 32 sectors of entries and the header.
    static let gptBackup = 33 * 512
    static let gptEntries = 32 * 512
    /// Partitions an image may have (far beyond a GPT's 128; it bounds the overlap checks).
    static let maxPartitions = 1024

    enum Table: String { case none, mbr, gpt, hybrid }

    struct Part {
        var section: GenimageConfig.Section
        var name: String
        var offset = 0
        var size = 0
        var align = 0
        var inTable = true
        var autoresize = false
        var image: String?
        var extended = false
    }

    var table = Table.mbr
    var align = 0
    var gptLocation = 2 * 512
    var size = 0
    /// MBR: the entry (1…4) that becomes the extended partition; 0: automatic.
    var extendedPartition = 0
    var parts: [Part] = []

    /// `hdimage`: the image section; `childSize`: the size genimage knows for a partition's image
    /// before building it (a file's, or the image's `size`).
    init(
        image: GenimageConfig.Section, hdimage hd: GenimageConfig.Section, childSize: (String, GenimageConfig.Location) throws -> Int,
        imageHoles: (String) throws -> [(start: Int, end: Int)] = { _ in [] }
    ) throws {
        func fail(_ at: GenimageConfig.Location, _ m: String) -> Failure { Failure(at, "\(image.label): \(m)") }
        size = try Self.bytes(image, "size")
        align = try Self.bytes(hd, "align")
        let typeText = hd.string("partition-table-type") ?? "mbr"
        switch typeText {
        case "none": table = .none
        case "mbr", "dos": table = .mbr
        case "gpt": table = .gpt
        case "hybrid": table = .hybrid
        default:
            throw fail(hd.option("partition-table-type")?.at ?? hd.at, "partition-table-type '\(typeText)': expected none, mbr, gpt or hybrid")
        }
        if hd.option("partition-table") != nil { table = hd.bool("partition-table") ? .mbr : .none }
        if hd.option("gpt") != nil { table = hd.bool("gpt") ? .gpt : .mbr }
        if align == 0 { align = table == .none ? 1 : Self.sector }
        if table != .none, align % Self.sector != 0 {
            throw fail(hd.option("align")?.at ?? hd.at, "align \(align): expected a multiple of 512 (a sector)")
        }
        if let e = hd.option("extended-partition") {
            guard let v = GenimageConfig.integer(e.string), (0...4).contains(v) else { throw fail(e.at, "extended-partition '\(e.string)': expected 1…4, or 0 for automatic") }
            extendedPartition = v
        }
        let location = try Self.bytes(hd, "gpt-location")
        if location != 0 {
            guard location % Self.sector == 0 else { throw fail(hd.option("gpt-location")?.at ?? hd.at, "gpt-location \(location): expected a multiple of 512 (a sector)") }
            gptLocation = location
        }
        let sections = image.sections("partition")
        if sections.count > Self.maxPartitions {
            throw fail(sections[Self.maxPartitions].at, "\(sections.count) partitions: expected at most \(Self.maxPartitions) (a GPT holds 128)")
        }
        for p in sections {
            var part = Part(section: p, name: p.title ?? "")
            part.offset = try Self.bytes(p, "offset")
            part.size = try Self.bytes(p, "size")
            part.align = try Self.bytes(p, "align")
            part.inTable = table != .none && p.bool("in-partition-table", default: true)
            part.autoresize = p.bool("autoresize")
            part.image = p.string("image")
            if part.align == 0 { part.align = part.inTable || table == .none ? align : 1 }
            if part.inTable, part.align % align != 0 {
                throw fail(p.option("align")?.at ?? p.at, "partition '\(part.name)': align \(part.align) is not a multiple of the image's \(align)")
            }
            parts.append(part)
        }
        try place(image: image, childSize: childSize, imageHoles: imageHoles)
    }

    /// genimage's size: its number with k/M/G/s; 0 when absent. At most the largest disk a board
    /// describes (2 TiB), so that sums of a few stay far from overflowing.
    static func bytes(_ s: GenimageConfig.Section, _ name: String) throws -> Int {
        guard let o = s.option(name) else { return 0 }
        let v: Int
        do {
            v = try GenimageConfig.size(o.string).bytes
        } catch {
            throw Failure(o.at, "\(s.label): \(name) '\(o.string)': \(error.reason)")
        }
        guard v <= BoardLayout.Limits.diskSize else {
            throw Failure(o.at, "\(s.label): \(name) '\(o.string)': expected at most \(ByteSize(bytes: BoardLayout.Limits.diskSize)), the largest disk a board describes")
        }
        return v
    }

    var hasGPT: Bool { table == .gpt || table == .hybrid }

    /// The table's own areas before the partitions, as genimage reserves them.
    var tableAreas: [(name: String, start: Int, end: Int)] {
        guard table != .none else { return [] }
        var a = [("the MBR", 440, 512)]
        if hasGPT { a += [("the GPT header", 512, 1024), ("the GPT entries", gptLocation, gptLocation + Self.gptEntries)] }
        return a
    }

    mutating func place(image: GenimageConfig.Section, childSize: (String, GenimageConfig.Location) throws -> Int, imageHoles: (String) throws -> [(start: Int, end: Int)]) throws {
        func fail(_ p: Part, _ m: String) -> Failure { Failure(p.section.at, "\(image.label): partition '\(p.name)': \(m)") }
        var now = table == .none ? 0 : (hasGPT ? gptLocation + Self.gptEntries : 512)
        let inTable = parts.filter(\.inTable).count
        var entries = 0
        let autoresized = parts.filter(\.autoresize)
        if autoresized.count > 1 { throw fail(autoresized[1], "'autoresize' is only supported for one partition") }
        if !autoresized.isEmpty, size == 0 { throw fail(autoresized[0], "autoresize needs the image's size (size = … in image '\(image.title ?? "")')") }
        var extendedIndex = table == .none ? 0 : extendedPartition
        if table == .mbr, extendedIndex == 0, inTable > 4 { extendedIndex = 4 }
        for i in parts.indices {
            var p = parts[i]
            if p.inTable { entries += 1 }
            p.extended = extendedIndex > 0 && p.inTable && entries >= extendedIndex
            if p.extended { now = Self.roundUp(now + align, p.align) }
            if p.offset == 0 && (p.inTable || table == .none) { p.offset = Self.roundUp(now, p.align) }
            guard p.offset % p.align == 0 else { throw fail(p, "offset \(p.offset) is not a multiple of its align \(p.align)") }
            if p.autoresize {
                var left = size - p.offset
                if hasGPT { left -= Self.gptBackup }
                left = left / p.align * p.align
                guard left > 0 else { throw fail(p, "partitions exceed the image's size \(size)") }
                guard left >= p.size else { throw fail(p, "autoresize leaves \(left) bytes, less than its size \(p.size)") }
                p.size = left
            }
            if let name = p.image {
                let child = try childSize(name, p.section.option("image")?.at ?? p.section.at)
                if p.size == 0 { p.size = p.inTable ? Self.roundUp(child, p.align) : child }
                guard child <= p.size else { throw fail(p, "size \(p.size) is too small for '\(name)' (\(child) bytes)") }
            }
            guard p.size > 0 else { throw fail(p, "no size: give size = …, or an image = … whose size genimage knows") }
            if p.inTable, p.size % Self.sector != 0 { throw fail(p, "size \(p.size) is not a multiple of 512 (a sector)") }
            let (end, overflow) = p.offset.addingReportingOverflow(p.size)
            guard !overflow, end <= BoardLayout.Limits.diskSize else { throw fail(p, "ends past \(ByteSize(bytes: BoardLayout.Limits.diskSize)), the largest disk a board describes") }
            for q in parts[..<i] where p.offset < q.offset + q.size && q.offset < end {
                throw fail(p, "(offset \(hex(p.offset)), size \(hex(p.size))) overlaps partition '\(q.name)' (offset \(hex(q.offset)), size \(hex(q.size)))")
            }
            now = max(now, end)
            parts[i] = p
        }
        if size == 0 {
            size = hasGPT ? Self.roundUp(now + Self.gptBackup, 4096) : now
        } else if now > size || (hasGPT && now > size - Self.gptBackup) {
            throw Failure(image.option("size")?.at ?? image.at, "\(image.label): the partitions end at \(hex(now)), past the image's size \(hex(size))\(hasGPT ? " less the backup GPT" : "")")
        }
        var areas = tableAreas
        if hasGPT { areas.append(("the backup GPT", size - Self.gptBackup, size)) }
        for p in parts {
            for a in areas where p.offset < a.end && a.start < p.offset + p.size {
                let start = max(a.start, p.offset) - p.offset, end = min(a.end, p.offset + p.size) - p.offset
                let holes = try Self.holes(p.section) + (try p.image.map { try imageHoles($0) } ?? [])
                if holes.contains(where: { $0.start <= start && end <= $0.end }) { continue }
                throw fail(p, "(offset \(hex(p.offset)), size \(hex(p.size))) overlaps \(a.name) (\(hex(a.start))…\(hex(a.end))); a bootloader that overlaps the table must declare that area a hole (genimage)")
            }
        }
    }

    /// `holes = {"(440; 1K)"}`: ranges of an image that hold nothing (genimage's parse_holes).
    static func holes(_ s: GenimageConfig.Section) throws -> [(start: Int, end: Int)] {
        guard let o = s.option("holes") else { return [] }
        return try o.values.map { text in
            let t = text.filter { $0 != " " && $0 != "\t" }
            let inner = t.hasPrefix("(") && t.hasSuffix(")") ? t.dropFirst().dropLast() : ""
            let parts = inner.split(separator: ";", omittingEmptySubsequences: false)
            guard parts.count == 2, let a = try? GenimageConfig.size(String(parts[0])).bytes, let b = try? GenimageConfig.size(String(parts[1])).bytes, !parts[0].isEmpty, !parts[1].isEmpty else {
                throw Failure(o.at, "\(s.label): invalid hole specification '\(text)', use '(<start>;<end>)'")
            }
            return (a, b)
        }
    }

    static func roundUp(_ v: Int, _ a: Int) -> Int { a <= 1 ? v : (v + a - 1) / a * a }
}

/// genimage's GPT type shortcuts (its README and image-hd.c): the letters of genimage 16, the names
/// of later versions and the Discoverable Partitions Specification's root/usr (and verity) types; compared
/// without case.
enum GenimageGPTTypes {
    static let named: [String: String] = {
        var t: [String: String] = [
            "l": "0fc63daf-8483-4772-8e79-3d69d8477de4", "linux": "0fc63daf-8483-4772-8e79-3d69d8477de4", "linux-generic": "0fc63daf-8483-4772-8e79-3d69d8477de4",
            "s": "0657fd6d-a4ab-43c4-84e5-0933c84b4f4f", "swap": "0657fd6d-a4ab-43c4-84e5-0933c84b4f4f",
            "h": "933ac7e1-2eb4-4f13-b844-0e14e2aef915", "home": "933ac7e1-2eb4-4f13-b844-0e14e2aef915",
            "u": "c12a7328-f81f-11d2-ba4b-00a0c93ec93b", "uefi": "c12a7328-f81f-11d2-ba4b-00a0c93ec93b", "esp": "c12a7328-f81f-11d2-ba4b-00a0c93ec93b",
            "r": "a19d880f-05fc-4d3b-a006-743f0f84911e", "raid": "a19d880f-05fc-4d3b-a006-743f0f84911e",
            "v": "e6d6d379-f507-44c2-a23c-238f2a3df928", "lvm": "e6d6d379-f507-44c2-a23c-238f2a3df928",
            "f": "ebd0a0a2-b9e5-4433-87c0-68b6b72699c7", "fat32": "ebd0a0a2-b9e5-4433-87c0-68b6b72699c7",
            "b": "4778ed65-bf42-45fa-9c5b-287a1dc4aab1", "barebox-state": "4778ed65-bf42-45fa-9c5b-287a1dc4aab1",
            "barebox-env": "6c3737f2-07f8-45d1-ad45-15d260aab24d", "linux-reserved": "8da63339-0007-60c0-c436-083ac8230908",
            "u-boot-env": "3de21764-95bd-54bd-a5c3-4abe786f38a8", "xbootldr": "bc13c2ff-59e6-4262-a352-b275fd6f7172",
            "srv": "3b8f8425-20e0-4f3b-907f-1a25a76f98e8", "var": "4d21b016-b534-45c2-a9fb-5c16e091fd2d", "tmp": "7ec6f557-3bc5-4aca-b293-16ef5df639d1",
            "user-home": "773f91ef-66d4-49b5-bd83-d683bf40ad16",
        ]
        // Discoverable Partitions Specification: root-ARCH and usr-ARCH.
        let dps: [(String, String, String)] = [
            ("alpha", "6523f8ae-3eb1-4e2a-a05a-18b695ae656f", "e18cf08c-33ec-4c0d-8246-c6c6fb3da024"),
            ("arc", "d27f46ed-2919-4cb8-bd25-9531f3c16534", "7978a683-6316-4922-bbee-38bff5a2fecc"),
            ("arm", "69dad710-2ce4-4e3c-b16c-21a1d49abed3", "7d0359a3-02b3-4f0a-865c-654403e70625"),
            ("arm64", "b921b045-1df0-41c3-af44-4c6f280d3fae", "b0e01050-ee5f-4390-949a-9101b17104e9"),
            ("ia64", "993d8d3d-f80e-4225-855a-9daf8ed7ea97", "4301d2a6-4e3b-4b2a-bb94-9e0b2c4225ea"),
            ("loongarch64", "77055800-792c-4f94-b39a-98c91b762bb6", "e611c702-575c-4cbe-9a46-434fa0bf7e3f"),
            ("mips", "e9434544-6e2c-47cc-bae2-12d6deafb44c", "773b2abc-2a99-4398-8bf5-03baac40d02b"),
            ("mips64", "d113af76-80ef-41b4-bdb6-0cff4d3d4a25", "57e13958-7331-4365-8e6e-35eeee17c61b"),
            ("mips-le", "37c58c8a-d913-4156-a25f-48b1b64e07f0", "0f4868e9-9952-4706-979f-3ed3a473e947"),
            ("mips64-le", "700bda43-7a34-4507-b179-eeb93d7a7ca3", "c97c1f32-ba06-40b4-9f22-236061b08aa8"),
            ("parisc", "1aacdb3b-5444-4138-bd9e-e5c2239b2346", "dc4a4480-6917-4262-a4ec-db9384949f25"),
            ("ppc", "1de3f1ef-fa98-47b5-8dcd-4a860a654d78", "7d14fec5-cc71-415d-9d6c-06bf0b3c3eaf"),
            ("ppc64", "912ade1d-a839-4913-8964-a10eee08fbd2", "2c9739e2-f068-46b3-9fd0-01c5a9afbcca"),
            ("ppc64-le", "c31c45e6-3f39-412e-80fb-4809c4980599", "15bb03af-77e7-4d4a-b12b-c0d084f7491c"),
            ("riscv32", "60d5a7fe-8e7d-435c-b714-3dd8162144e1", "b933fb22-5c3f-4f91-af90-e2bb0fa50702"),
            ("riscv64", "72ec70a6-cf74-40e6-bd49-4bda08e8f224", "beaec34b-8442-439b-a40b-984381ed097d"),
            ("s390", "08a7acea-624c-4a20-91e8-6e0fa67d23f9", "cd0f869b-d0fb-4ca0-b141-9ea87cc78d66"),
            ("s390x", "5eead9a9-fe09-4a1e-a1d7-520d00531306", "8a4f5770-50aa-4ed3-874a-99b710db6fea"),
            ("tilegx", "c50cdd70-3862-4cc3-90e1-809a8c93ee2c", "55497029-c7c1-44cc-aa39-815ed1558630"),
            ("x86", "44479540-f297-41b2-9af7-d131d5f0458a", "75250d76-8cc6-458e-bd66-bd47cc81a812"),
            ("x86-64", "4f68bce3-e8cd-4db1-96e7-fbcaf984b709", "8484680c-9521-48c6-9c11-b0720656f69e"),
        ]
        for (arch, root, usr) in dps {
            t["root-\(arch)"] = root
            t["usr-\(arch)"] = usr
        }
        // Their dm-verity hash and signature partitions: NAME-verity, NAME-verity-sig.
        let verity: [(String, String, String)] = [
            ("root-alpha", "fc56d9e9-e6e5-4c06-be32-e74407ce09a5", "d46495b7-a053-414f-80f7-700c99921ef8"),
            ("root-arc", "24b2d975-0f97-4521-afa1-cd531e421b8d", "143a70ba-cbd3-4f06-919f-6c05683a78bc"),
            ("root-arm", "7386cdf2-203c-47a9-a498-f2ecce45a2d6", "42b0455f-eb11-491d-98d3-56145ba9d037"),
            ("root-arm64", "df3300ce-d69f-4c92-978c-9bfb0f38d820", "6db69de6-29f4-4758-a7a5-962190f00ce3"),
            ("root-ia64", "86ed10d5-b607-45bb-8957-d350f23d0571", "e98b36ee-32ba-4882-9b12-0ce14655f46a"),
            ("root-loongarch64", "f3393b22-e9af-4613-a948-9d3bfbd0c535", "5afb67eb-ecc8-4f85-ae8e-ac1e7c50e7d0"),
            ("root-mips", "7a430799-f711-4c7e-8e5b-1d685bd48607", "bba210a2-9c5d-45ee-9e87-ff2ccbd002d0"),
            ("root-mips-le", "d7d150d2-2a04-4a33-8f12-16651205ff7b", "c919cc1f-4456-4eff-918c-f75e94525ca5"),
            ("root-mips64", "579536f8-6a33-4055-a95a-df2d5e2c42a8", "43ce94d4-0f3d-4999-8250-b9deafd98e6e"),
            ("root-mips64-le", "16b417f8-3e06-4f57-8dd2-9b5232f41aa6", "904e58ef-5c65-4a31-9c57-6af5fc7c5de7"),
            ("root-parisc", "d212a430-fbc5-49f9-a983-a7feef2b8d0e", "15de6170-65d3-431c-916e-b0dcd8393f25"),
            ("root-ppc", "98cfe649-1588-46dc-b2f0-add147424925", "1b31b5aa-add9-463a-b2ed-bd467fc857e7"),
            ("root-ppc64", "9225a9a3-3c19-4d89-b4f6-eeff88f17631", "f5e2c20c-45b2-4ffa-bce9-2a60737e1aaf"),
            ("root-ppc64-le", "906bd944-4589-4aae-a4e4-dd983917446a", "d4a236e7-e873-4c07-bf1d-bf6cf7f1c3c6"),
            ("root-riscv32", "ae0253be-1167-4007-ac68-43926c14c5de", "3a112a75-8729-4380-b4cf-764d79934448"),
            ("root-riscv64", "b6ed5582-440b-4209-b8da-5ff7c419ea3d", "efe0f087-ea8d-4469-821a-4c2a96a8386a"),
            ("root-s390", "7ac63b47-b25c-463b-8df8-b4a94e6c90e1", "3482388e-4254-435a-a241-766a065f9960"),
            ("root-s390x", "b325bfbe-c7be-4ab8-8357-139e652d2f6b", "c80187a5-73a3-491a-901a-017c3fa953e9"),
            ("root-tilegx", "966061ec-28e4-4b2e-b4a5-1f0a825a1d84", "b3671439-97b0-4a53-90f7-2d5a8f3ad47b"),
            ("root-x86", "d13c5d3b-b5d1-422a-b29f-9454fdc89d76", "5996fc05-109c-48de-808b-23fa0830b676"),
            ("root-x86-64", "2c7357ed-ebd2-46d9-aec1-23d437ec2bf5", "41092b05-9fc8-4523-994f-2def0408b176"),
            ("usr-alpha", "8cce0d25-c0d0-4a44-bd87-46331bf1df67", "5c6e1c76-076a-457a-a0fe-f3b4cd21ce6e"),
            ("usr-arc", "fca0598c-d880-4591-8c16-4eda05c7347c", "94f9a9a1-9971-427a-a400-50cb297f0f35"),
            ("usr-arm", "c215d751-7bcd-4649-be90-6627490a4c05", "d7ff812f-37d1-4902-a810-d76ba57b975a"),
            ("usr-arm64", "6e11a4e7-fbca-4ded-b9e9-e1a512bb664e", "c23ce4ff-44bd-4b00-b2d4-b41b3419e02a"),
            ("usr-ia64", "6a491e03-3be7-4545-8e38-83320e0ea880", "8de58bc2-2a43-460d-b14e-a76e4a17b47f"),
            ("usr-loongarch64", "f46b2c26-59ae-48f0-9106-c50ed47f673d", "b024f315-d330-444c-8461-44bbde524e99"),
            ("usr-mips", "6e5a1bc8-d223-49b7-bca8-37a5fcceb996", "97ae158d-f216-497b-8057-f7f905770f54"),
            ("usr-mips-le", "46b98d8d-b55c-4e8f-aab3-37fca7f80752", "3e23ca0b-a4bc-4b4e-8087-5ab6a26aa8a9"),
            ("usr-mips64", "81cf9d90-7458-4df4-8dcf-c8a3a404f09b", "05816ce2-dd40-4ac6-a61d-37d32dc1ba7d"),
            ("usr-mips64-le", "3c3d61fe-b5f3-414d-bb71-8739a694a4ef", "f2c2c7ee-adcc-4351-b5c6-ee9816b66e16"),
            ("usr-parisc", "5843d618-ec37-48d7-9f12-cea8e08768b2", "450dd7d1-3224-45ec-9cf2-a43a346d71ee"),
            ("usr-ppc", "df765d00-270e-49e5-bc75-f47bb2118b09", "7007891d-d371-4a80-86a4-5cb875b9302e"),
            ("usr-ppc64", "bdb528a5-a259-475f-a87d-da53fa736a07", "0b888863-d7f8-4d9e-9766-239fce4d58af"),
            ("usr-ppc64-le", "ee2b9983-21e8-4153-86d9-b6901a54d1ce", "c8bfbd1e-268e-4521-8bba-bf314c399557"),
            ("usr-riscv32", "cb1ee4e3-8cd0-4136-a0a4-aa61a32e8730", "c3836a13-3137-45ba-b583-b16c50fe5eb4"),
            ("usr-riscv64", "8f1056be-9b05-47c4-81d6-be53128e5b54", "d2f9000a-7a18-453f-b5cd-4d32f77a7b32"),
            ("usr-s390", "b663c618-e7bc-4d6d-90aa-11b756bb1797", "17440e4f-a8d0-467f-a46e-3912ae6ef2c5"),
            ("usr-s390x", "31741cc4-1a2a-4111-a581-e00b447d2d06", "3f324816-667b-46ae-86ee-9b0c0c6c11b4"),
            ("usr-tilegx", "2fb4bf56-07fa-42da-8132-6b139f2026ae", "4ede75e2-6ccc-4cc8-b9c7-70334b087510"),
            ("usr-x86", "8f461b0d-14ee-4e81-9aa9-049b6fb97abd", "974a71c0-de41-43c3-be5d-5c5ccd1ad2c0"),
            ("usr-x86-64", "77ff5f63-e7b6-4633-acf4-1565b864c0e6", "e7bb33fb-06cf-4e81-8273-e543b413e2e2"),
        ]
        for (name, hash, sig) in verity {
            t["\(name)-verity"] = hash
            t["\(name)-verity-sig"] = sig
        }
        return t
    }()

    /// The GUID `text` names (a GUID as is, lower-cased), or nil; `custom`: the config's gpt-shortcuts.
    static func guid(_ text: String, custom: [String: String]) -> String? {
        let lower = text.lowercased()
        if let c = custom.first(where: { $0.key.lowercased() == lower })?.value { return isGUID(c) ? c.lowercased() : nil }
        if let n = named[lower] { return n }
        return isGUID(text) ? lower : nil
    }

    static func isGUID(_ t: String) -> Bool {
        let groups = t.split(separator: "-", omittingEmptySubsequences: false)
        return groups.map(\.count) == [8, 4, 4, 4, 12] && groups.allSatisfy { $0.allSatisfy { $0.isASCII && $0.isHexDigit } }
    }
}

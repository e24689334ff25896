import Disk
import FlashsmithCore
import Foundation
import Testing
import TestSupport

/// `flashsmith inspect` on disk images: the partitions (start, end, size, type, GUIDs, name,
/// flags), as text and JSON; a broken GPT says why instead of "not a recognised format".
@Suite struct InspectDiskTests {
    @Test func inspectListsGPTPartitions() throws {
        let dir = try TempDir()
        let img = dir.file("disk.img")
        try GPTTests.layouts[0].table.write(to: img)
        let t = try GPTTests.layouts[0].table.resolved()
        let r = try flashsmith("inspect", img)
        #expect(r.status == 0, "\(r.err)")
        #expect(r.out.hasPrefix("\(img): GPT disk image\n"), "\(r.out)")
        #expect(r.out.contains("partition 2: start 0x1100000 (LBA 34816), end 0x3100000, size 33554432 (32MiB), type linux-root-arm64 (B921B045-1DF0-41C3-AF44-4C6F280D3FAE), GUID 11111111-2222-3333-4444-555555555555, name 'root'"), "\(r.out)")
        #expect(r.out.contains("disk id:") && r.out.contains(t.diskID!.description))
        let j = try flashsmith("inspect", "--json", img)
        let o = try #require(try JSONSerialization.jsonObject(with: Data(j.stdout)) as? [String: Any])
        #expect(o["format"] as? String == "gpt" && o["diskSize"] as? Int == 64 * MiB)
        let parts = try #require(o["partitions"] as? [[String: Any]])
        #expect(parts.map { $0["start"] as? Int } == t.partitions.map(\.offset))
        #expect(parts.map { $0["name"] as? String } == ["boot", "root", "data"])
        #expect(parts.map { $0["bootable"] as? Bool } == [true, false, false])
        #expect(parts.map { $0["typeName"] as? String } == ["esp", "linux-root-arm64", "linux"])
    }

    @Test func inspectListsMBRPartitions() throws {
        let dir = try TempDir()
        let img = dir.file("disk.img")
        try MBRTests.layouts[0].table.write(to: img)
        let r = try flashsmith("inspect", img)
        #expect(r.status == 0 && r.out.hasPrefix("\(img): MBR disk image\n"), "\(r.out)\(r.err)")
        #expect(r.out.contains("partition 1: start 0x100000 (LBA 2048), end 0x300000, size 2097152 (2MiB), type 0x0c (fat32), bootable"), "\(r.out)")
        #expect(r.out.contains("partition 3:") && r.out.contains("type 0x82 (swap)"))
    }

    @Test func inspectSaysWhyAGPTIsUnreadable() throws {
        let dir = try TempDir()
        let img = dir.file("disk.img")
        try GPTTests.layouts[0].table.write(to: img)
        try AtomicFile.patch(img, patches: [(offset: 1024 + 40, bytes: [0x77])])
        let r = try flashsmith("inspect", img)
        #expect(r.out.contains("GPT disk image (unreadable)") && r.out.contains("primary GPT entries at 0x400: CRC32 is"), "\(r.out)\(r.err)")
    }
}

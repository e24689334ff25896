import FlashsmithCore
import Foundation
import PropertyBased
import Testing
import TestSupport
@testable import DeviceTree

@Suite struct DeviceTreeTests {
    static let sample = DeviceTree(
        root: .init("", properties: [.string("model", "Flashsmith test"), .strings("compatible", ["flashsmith,test", "simple"]),
                                     .u32("#address-cells", 1), .u32("#size-cells", 1)],
                    children: [
                        .init("memory@40000000", properties: [.string("device_type", "memory"), .cells("reg", [0x4000_0000, 0x1000_0000])]),
                        .init("chosen", properties: [.string("bootargs", "console=ttyAMA0"), .empty("flashsmith,flag")]),
                        .init("images", children: [.init("kernel", properties: [Property("data", Array(0..<200))])]),
                    ]),
        reservations: [(address: 0x4800_0000, size: 0x10000)], bootCPU: 0)

    @Test func roundTripsThroughOwnReader() throws {
        let bytes = try Self.sample.encoded()
        #expect(try DeviceTree.decode(bytes, source: "t") == Self.sample)
    }

    @Test func paddingAddsFreeSpace() throws {
        let plain = try Self.sample.encoded()
        let padded = try Self.sample.encoded(padding: 4096)
        #expect(padded.count == plain.count + 4096)
        #expect(try DeviceTree.decode(padded, source: "t") == Self.sample)
    }

    /// dtc reads what libfdt wrote through us, and we read what dtc compiles.
    @Test func interoperatesWithDtc() throws {
        guard toolsAvailable("dtc") else { return }
        let dir = try TempDir()
        let blob = try dir.write("t.dtb", try Self.sample.encoded())
        let dts = try run("dtc", ["-I", "dtb", "-O", "dts", blob])
        #expect(dts.status == 0, "\(dts.err)")
        #expect(dts.out.contains(#"compatible = "flashsmith,test\0simple";"#))
        #expect(dts.out.contains("reg = <0x40000000 0x10000000>;"))
        #expect(dts.out.contains("/memreserve/\t0x0000000048000000 0x0000000000010000;"))
        // And back: dtc's own compile of that source equals our tree.
        let src = try dir.write("t.dts", dts.stdout)
        #expect(try run("dtc", ["-I", "dts", "-O", "dtb", "-o", dir.file("back.dtb"), src]).status == 0)
        #expect(try DeviceTree.decode(readBytes(dir.file("back.dtb")), source: "back") == Self.sample)
        guard toolsAvailable("fdtdump") else { return }
        #expect(try run("fdtdump", [blob]).out.contains("bootargs = \"console=ttyAMA0\";"))
    }

    @Test func randomTreesRoundTripThroughDtc() async throws {
        guard toolsAvailable("dtc") else { return }
        let dir = try TempDir()
        let names = Gen.letterOrNumber.string(of: 1...8)
        await propertyCheck(count: 25, input: names.array(of: 1...6), Gen.uint8().array(of: 0...40).array(of: 6...6)) { nodeNames, values in
            var seen = Set<String>()
            let children = nodeNames.filter { seen.insert($0.lowercased()).inserted }.enumerated().map { i, n in
                DeviceTree.Node(n, properties: [Property("p\(i)", values[i])])
            }
            let tree = DeviceTree(root: .init("", properties: [.u32("#address-cells", 1)], children: children))
            guard let bytes = try? tree.encoded(), let f = try? dir.write("r.dtb", bytes),
                  let dts = try? run("dtc", ["-I", "dtb", "-O", "dtb", "-o", dir.file("r2.dtb"), f]) else {
                Issue.record("encode or dtc failed")
                return
            }
            #expect(dts.status == 0)
            #expect((try? DeviceTree.decode(readBytes(dir.file("r2.dtb")), source: "r2")) == tree)
        }
    }

    @Test func hostileBlobsAreRefused() throws {
        let good = try Self.sample.encoded()
        func refused(_ bytes: [UInt8], _ message: String) {
            do {
                _ = try DeviceTree.decode(bytes, source: "h.dtb")
                Issue.record("accepted: \(message)")
            } catch {
                #expect(error.description.contains(message), "\(error)")
            }
        }
        refused(Array(good.prefix(20)), "expected a 40-byte header")
        var badMagic = good
        badMagic[0] = 0
        refused(badMagic, "offset 0x0 (magic): expected 0xd00dfeed")
        refused(Array(good.prefix(good.count - 8)), "(totalsize)")
        // A string offset pointing outside the strings block.
        var badString = good
        let r = ByteReader(good)
        let structOff = Int(try r.get(UInt32.self, at: 8, .big))
        // root: BEGIN_NODE(4) + name "\0" padded (4) + PROP(4) len(4) nameoff(4)
        badString.replaceSubrange((structOff + 16)..<(structOff + 20), with: [0x7F, 0xFF, 0xFF, 0x00])
        refused(badString, "FDT_ERR_BADOFFSET")
        // Blocks overlapping: strings offset moved into the structure block.
        var overlap = good
        overlap.replaceSubrange(12..<16, with: [0, 0, 0, UInt8(structOff + 4)])
        refused(overlap, "overlaps the strings block")
        // A property length that brings libfdt 1.6.1's next tag back onto the same property: it
        // looped for ever in fdt_check_full (fuzzing: fit #232537). Refused, naming the field.
        var looping = good
        looping.replaceSubrange((structOff + 12)..<(structOff + 16), with: [0xFF, 0xFF, 0xFF, 0xF4])
        refused(looping, "offset 0x\(String(structOff + 12, radix: 16)) (property length): expected at most")
    }

    @Test func deepNestingIsRefusedNotRecursedInto() throws {
        var node = DeviceTree.Node("leaf")
        for i in 0..<100 { node = DeviceTree.Node("n\(i)", children: [node]) }
        let bytes = try DeviceTree(root: .init("", children: [node])).encoded()
        #expect(throws: DeviceTreeError.self) { try DeviceTree.decode(bytes, source: "deep") }
    }

    @Test func propertyAccessors() {
        #expect(Property.strings("c", ["a", "b"]).stringList == ["a", "b"])
        #expect(Property.string("s", "x").stringValue == "x")
        #expect(Property.cells("r", [1, 0xFFFF_FFFF]).cellValues == [1, 0xFFFF_FFFF])
        #expect(Property("odd", [1, 2, 3]).cellValues == nil)
    }
}

typealias Property = DeviceTree.Property

/// libfdt's sizes are `int`: a blob that would grow past 2 GiB is an error naming the source
/// before anything is allocated (the old code trapped converting the size to Int32, or
/// overflowed adding to a huge count).
@Suite struct FDTBlobSizeLimitTests {
    @Test(arguments: [FDTBlob.maxSize, FDTBlob.maxSize + 1, 3 << 30, Int.max - 8, -1])
    func growingPastWhatLibfdtAddressesIsRefused(size: Int) throws {
        var blob = try FDTBlob(validating: try DeviceTreeTests.sample.encoded(), source: "big.itb", extraSpace: 64)
        #expect {
            try blob.setProperty("/images/kernel", "data", count: size) { _ in Issue.record("filled a property of \(size) bytes") }
        } throws: { e in
            guard case .tooLarge(let source, _, let limit) = e as? DeviceTreeError else { return false }
            return source == "big.itb" && limit == Int(Int32.max) && "\(e)".contains("expected at most 2147483647")
        }
        #expect(throws: DeviceTreeError.self) { try blob.reserve(size) }
        if size > 0 {  // no room asked for at all is a read-only blob
            #expect(throws: DeviceTreeError.self) { _ = try FDTBlob(validating: try DeviceTreeTests.sample.encoded(), source: "big.itb", extraSpace: size) }
        }
    }

    @Test func roomWithinTheLimitIsStillGiven() throws {
        var blob = try FDTBlob(validating: try DeviceTreeTests.sample.encoded(), source: "t", extraSpace: 64)
        try blob.setProperty("/images/kernel", "data", count: 1 << 20) { $0.initializeMemory(as: UInt8.self, repeating: 7) }
        #expect(try DeviceTree.decode(Array(blob.bytes), source: "t").root.children[2].children[0].properties.first { $0.name == "data" }?.value.count == 1 << 20)
    }
}

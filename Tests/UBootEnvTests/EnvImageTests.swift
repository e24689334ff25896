import FlashsmithCore
import PropertyBased
import Testing
import TestSupport
@testable import UBootEnv

@Suite struct EnvImageTests {
    @Test func encodesTheDocumentedLayout() throws {
        let img = EnvImage(variables: [EnvVariable("a", "1"), EnvVariable("bb", "x=y")], size: 32)
        let bytes = try img.encodeCopy()
        #expect(bytes.count == 32)
        #expect(Array(bytes[4..<16]) == Array("a=1\0bb=x=y\0\0".utf8))
        #expect(bytes[16...].allSatisfy { $0 == 0xFF })
        let crc = CRC32.zlib(bytes[4...])
        #expect(try ByteReader(bytes).get(UInt32.self, at: 0, .little) == crc)
    }

    @Test func redundantCopyHasFlagOutsideTheCRC() throws {
        let img = EnvImage(variables: [EnvVariable("a", "1")], size: 16, redundant: true, byteOrder: .big, padByte: 0)
        let one = try img.encodeCopy(flag: 7), two = try img.encodeCopy(flag: 8)
        #expect(one[4] == 7 && two[4] == 8)
        #expect(one[0..<4] == two[0..<4])
        #expect(try ByteReader(one).get(UInt32.self, at: 0, .big) == CRC32.zlib(one[5...]))
        #expect(one[10...].allSatisfy { $0 == 0 })
    }

    @Test func emptyEnvironmentIsOneNUL() throws {
        let bytes = try EnvImage(variables: [], size: 8).encodeCopy()
        #expect(Array(bytes[4...]) == [0, 0xFF, 0xFF, 0xFF])
    }

    @Test func tooLargeSaysByHowManyBytes() {
        let img = EnvImage(variables: [EnvVariable("abc", "12345")], size: 12)  // needs 11, has 8
        #expect(throws: EnvError.doesNotFit(needed: 11, capacity: 8, size: 12)) { try img.encodeCopy() }
        #expect(EnvError.doesNotFit(needed: 11, capacity: 8, size: 12).description.hasSuffix("3 bytes over"))
    }

    @Test func exactlyFullFits() throws {
        let img = EnvImage(variables: [EnvVariable("abc", "1234")], size: 14)  // "abc=1234\0\0" = 10 = 14 - 4
        #expect(try img.encodeCopy().count == 14)
    }

    @Test func roundTripsArbitraryBytes() async {
        let name = Gen.letterOrNumber.string(of: 1...12)
        let value = Gen.uint8(in: 1...255).array(of: 0...40)
        await propertyCheck(count: 150, input: name.array(of: 0...20), value.array(of: 20...20), Gen.bool) { names, values, redundant in
            var seen: Set<String> = []
            let vars = zip(names, values).compactMap { n, v -> EnvVariable? in
                guard seen.insert(n).inserted, !v.isEmpty else { return nil }
                return EnvVariable(name: Array(n.utf8), value: v)
            }
            let img = EnvImage(variables: vars, size: 4096, redundant: redundant)
            guard let bytes = try? img.encodeCopy(flag: 3) else {
                Issue.record("encode failed")
                return
            }
            let copy = EnvCopy.decode(bytes[...], index: 1, offset: 0, redundant: redundant, byteOrder: nil, source: "t")
            #expect(copy.crcOK)
            #expect(copy.variables == vars)
            #expect(copy.flag == (redundant ? 3 : nil))
            #expect(copy.image() == img)
        }
    }

    @Test func setReplacesInPlaceAndDropsDuplicates() {
        var img = EnvImage(variables: [EnvVariable("a", "1"), EnvVariable("b", "2"), EnvVariable("a", "3")], size: 64)
        img.set(Array("a".utf8), Array("9".utf8))
        #expect(img.variables == [EnvVariable("a", "9"), EnvVariable("b", "2")])
        img.set(Array("c".utf8), Array("4".utf8))
        #expect(img.variables.last == EnvVariable("c", "4"))
        let removedB = img.unset(Array("b".utf8))
        let removedZ = img.unset(Array("zz".utf8))
        #expect(removedB && !removedZ)
        #expect(img.variables.map(\.nameText) == ["a", "c"])
    }

    @Test func applyMatchesSetAndUnset() async {
        let names = Gen.int(in: 0...3).map { ["a", "b", "c", "d"][$0] }
        await propertyCheck(count: 200, input: names.array(of: 0...8), names.array(of: 0...12), Gen.bool.array(of: 12...12)) { start, ops, isSet in
            let base = EnvImage(variables: start.enumerated().map { EnvVariable($1, "v\($0)") }, size: 4096)
            var viaApply = base, viaMethods = base
            var assignments: [EnvAssignment] = []
            for (i, n) in ops.enumerated() {
                if isSet[i] {
                    assignments.append(.set(EnvVariable(n, "w\(i)")))
                    viaMethods.set(Array(n.utf8), Array("w\(i)".utf8))
                } else {
                    assignments.append(.unset(Array(n.utf8)))
                    viaMethods.unset(Array(n.utf8))
                }
            }
            EnvText.apply(assignments, to: &viaApply)
            #expect(viaApply == viaMethods)
        }
    }

    @Test(arguments: [("", "empty variable name"), ("a=b", "contains '='"), ("a b", "contains whitespace")])
    func badNamesAreRefused(name: String, message: String) {
        do {
            try EnvVariable.validate(name: Array(name.utf8), source: "arg")
            Issue.record("accepted \(name)")
        } catch {
            #expect(error.description.contains(message))
        }
    }
}

@Suite struct EnvDecodeTests {
    func blob(_ text: String, size: Int = 64, redundant: Bool = false, flag: UInt8 = 1, order: ByteOrder = .little) throws -> [UInt8] {
        try EnvImage(variables: EnvText.parseEquals(Array(text.utf8), source: "t"), size: size, redundant: redundant, byteOrder: order).encodeCopy(flag: flag)
    }

    @Test func detectsBigEndianCRC() throws {
        let b = try blob("a=1\n", order: .big)
        let c = EnvCopy.decode(b[...], index: 1, offset: 0, redundant: false, byteOrder: nil, source: "t")
        #expect(c.crcOK && c.byteOrder == .big)
    }

    @Test func unterminatedDataIsAnError() {
        var b = [UInt8](repeating: 0x41, count: 16)
        b[6] = UInt8(ascii: "=")
        let c = EnvCopy.decode(b[...], index: 1, offset: 0, redundant: false, byteOrder: nil, source: "t")
        #expect(c.variables == nil)
        #expect(c.parseError?.description.contains("double NUL") == true)
    }

    @Test func entryWithoutEqualsNamesItsOffset() {
        var b = [UInt8](repeating: 0xFF, count: 16)
        b.replaceSubrange(4..<12, with: Array("a=1\0oops".utf8))
        b[12] = 0
        b[13] = 0
        let c = EnvCopy.decode(b[...], index: 2, offset: 0x100, redundant: false, byteOrder: nil, source: "f")
        #expect(c.parseError == .malformedEntry(source: "f", copy: 2, offset: 0x108, found: "oops"))
    }

    @Test func padByteIsDetected() throws {
        let b = try EnvImage(variables: [EnvVariable("a", "1")], size: 32, padByte: 0x00).encodeCopy()
        #expect(EnvCopy.decode(b[...], index: 1, offset: 0, redundant: false, byteOrder: nil, source: "t").padByte == 0)
    }

    /// Both valid copies: the winner for each flag pair, as U-Boot's `env_check_redund` and
    /// libubootenv 0.3.2 decide (pairs checked against fw_printenv by hand, and in InteropTests).
    @Test(arguments: [
        (UInt8(1), UInt8(2), 2), (2, 1, 1), (5, 5, 1), (255, 0, 2), (0, 255, 1), (254, 255, 2), (255, 1, 1), (0, 0, 1),
    ])
    func counterSelection(f1: UInt8, f2: UInt8, winner: Int) throws {
        let a = EnvCopy.decode(try blob("a=1\n", redundant: true, flag: f1)[...], index: 1, offset: 0, redundant: true, byteOrder: nil, source: "t")
        let b = EnvCopy.decode(try blob("a=2\n", redundant: true, flag: f2)[...], index: 2, offset: 64, redundant: true, byteOrder: nil, source: "t")
        #expect(EnvSelection.choose(a, b, scheme: .counter).active == winner)
    }

    @Test(arguments: [(UInt8(1), UInt8(0), 1), (0, 1, 2), (1, 1, 1), (255, 0, 1), (0, 255, 2), (0, 0, 1)])
    func booleanSelection(f1: UInt8, f2: UInt8, winner: Int) throws {
        let a = EnvCopy.decode(try blob("a=1\n", redundant: true, flag: f1)[...], index: 1, offset: 0, redundant: true, byteOrder: nil, source: "t")
        let b = EnvCopy.decode(try blob("a=2\n", redundant: true, flag: f2)[...], index: 2, offset: 64, redundant: true, byteOrder: nil, source: "t")
        #expect(EnvSelection.choose(a, b, scheme: .boolean).active == winner)
    }

    @Test func aBadCopyLosesWhateverItsFlag() throws {
        var bad = try blob("a=1\n", redundant: true, flag: 9)
        bad[10] ^= 0xFF
        let a = EnvCopy.decode(bad[...], index: 1, offset: 0, redundant: true, byteOrder: nil, source: "t")
        let b = EnvCopy.decode(try blob("a=2\n", redundant: true, flag: 1)[...], index: 2, offset: 64, redundant: true, byteOrder: nil, source: "t")
        let s = EnvSelection.choose(a, b, scheme: .counter)
        #expect(s.active == 2 && s.reason == "only copy 2 has a valid CRC")
    }

    @Test(arguments: [(UInt8(0), UInt8(1)), (254, 255), (255, 0)])
    func counterAdvancesAndWraps(current: UInt8, next: UInt8) {
        #expect(EnvSelection.nextFlag(after: current, scheme: .counter) == next)
        #expect(EnvSelection.nextFlag(after: current, scheme: .boolean) == 1)
    }
}

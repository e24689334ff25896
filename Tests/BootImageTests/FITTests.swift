import DeviceTree
import FlashsmithCore
import Foundation
import Testing
import TestSupport
@testable import BootImage

@Suite struct FITHashTests {
    /// Check values: the CRC catalogue's "123456789" and the published SHA/MD5 digests of "abc".
    @Test func knownVectors() {
        #expect(FITHashAlgorithm.crc16ccitt.digest(Array("123456789".utf8)) == [0x31, 0xC3])
        #expect(FITHashAlgorithm.crc32.digest(Array("123456789".utf8)) == [0xCB, 0xF4, 0x39, 0x26])
        #expect(hexString(FITHashAlgorithm.md5.digest(Array("abc".utf8))) == "900150983cd24fb0d6963f7d28e17f72")
        #expect(hexString(FITHashAlgorithm.sha1.digest(Array("abc".utf8))) == "a9993e364706816aba3e25717850c26c9cd0d89d")
        #expect(hexString(FITHashAlgorithm.sha256.digest(Array("abc".utf8))) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        for a in FITHashAlgorithm.allCases { #expect(a.digest([1, 2, 3]).count == a.digestSize) }
    }

    @Test func streamingEqualsWhole() {
        let data = (0..<100_000).map { UInt8(truncatingIfNeeded: $0 &* 13) }
        for a in FITHashAlgorithm.allCases {
            var h = a.hasher()
            data.withUnsafeBytes { p in
                h.update(UnsafeRawBufferPointer(rebasing: p[0..<777]))
                h.update(UnsafeRawBufferPointer(rebasing: p[777...]))
            }
            #expect(h.finalize() == a.digest(data))
        }
    }
}

@Suite struct FITSpecTests {
    func parse(_ yaml: String) throws -> FITSpec.Parsed {
        try FITSpec.parse(yaml, path: "/tmp/spec.yaml")
    }

    @Test func buildsTheTreeInOrder() throws {
        let p = try parse("""
            description: two images
            images:
              kernel: { type: kernel, arch: arm64, os: linux, load: 0x40400000, entry: 0x40400000, data: Image, hash: [sha256, crc32] }
              fdt-1: { type: flat_dt, arch: arm64, data: /abs/virt.dtb, hash: sha1, compression: none }
            configurations:
              default: conf-1
              conf-1: { kernel: kernel, fdt: [fdt-1], description: Boot }
            """)
        let images = try #require(p.tree.root.node(at: "images"))
        #expect(images.children.map(\.name) == ["kernel", "fdt-1"])
        let k = images.children[0]
        #expect(k.property("load")?.cellValues == [0x4040_0000])
        #expect(k.property("compression")?.stringValue == "none")
        #expect(k.children.map(\.name) == ["hash-1", "hash-2"])
        #expect(k.children[1].property("algo")?.stringValue == "crc32")
        #expect(p.dataFiles.map(\.file) == ["/tmp/Image", "/abs/virt.dtb"])
        #expect(p.tree.root.node(at: "configurations")?.property("default")?.stringValue == "conf-1")
    }

    @Test func fitOnlyTypesAreAccepted() throws {
        let p = try parse("images: { bitstream: { type: fpga, data: x }, optee: { type: tee, arch: arm64, os: tee, data: y } }")
        #expect(p.tree.root.node(at: "images/bitstream")?.property("type")?.stringValue == "fpga")
    }

    @Test(arguments: [
        ("images: { k: { type: kernal, data: x } }", "images/k/type (line 1): expected filesystem"),
        ("images: { k: { type: kernel } }", "expected images/k/data"),
        ("images: { k: { type: kernel, data: x, hash: sha3 } }", "images/k/hash (line 1): expected crc16-ccitt"),
        ("images: { k: { type: kernel, data: x } }\nconfigurations: { c: { kernel: nope } }", "configurations/c/kernel: expected an image name (k)"),
        ("description: [unclosed", "expected valid YAML"),
    ])
    func errorsNameThePlace(yaml: String, message: String) {
        do {
            _ = try parse(yaml)
            Issue.record("accepted")
        } catch {
            #expect("\(error)".contains(message), "\(error)")
        }
    }
}

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

    /// What an .its can say: numbered hash and signature nodes, free-form properties under
    /// `properties:` (strings, cells, string lists, empty), 64-bit addresses with address-cells: 2.
    @Test func signaturesAndPropertiesAsAnItsHasThem() throws {
        let p = try parse("""
            address-cells: 2
            properties: {creator: me}
            images:
              kernel:
                data: Image
                load: 0x1_0008_0000
                entry: 0x100080000
                hash-1: {algo: sha256}
                signature-1: {algo: "sha256,rsa2048", key-name-hint: dev, padding: pss, properties: {comment: test key}}
                properties: {phase: u-boot, reg: [1, 2], names: [a, b], flag: ~, count: 7}
            configurations:
              default: c
              c:
                kernel: kernel
                compatible: vendor,board
                signature-1: {algo: "sha256,rsa2048", key-name-hint: dev, sign-images: [kernel]}
                properties: {note: x}
            """)
        #expect(p.tree.root.property("#address-cells")?.cellValues == [2])
        #expect(p.tree.root.property("creator")?.stringValue == "me")
        let k = try #require(p.tree.root.node(at: "images/kernel"))
        #expect(k.properties.map(\.name) == ["data", "load", "entry", "phase", "reg", "names", "flag", "count", "compression"])
        #expect(k.property("load")?.cellValues == [1, 0x80000])
        #expect(k.property("reg")?.cellValues == [1, 2])
        #expect(k.property("names")?.stringList == ["a", "b"])
        #expect(k.property("flag")?.value == [])
        #expect(k.property("count")?.cellValues == [7])
        #expect(k.children.map(\.name) == ["hash-1", "signature-1"])
        let sig = k.children[1]
        #expect(sig.properties.map(\.name) == ["algo", "key-name-hint", "padding", "comment"])
        let c = try #require(p.tree.root.node(at: "configurations/c"))
        #expect(c.properties.map(\.name) == ["kernel", "compatible", "note"])
        #expect(c.children.first?.property("sign-images")?.stringList == ["kernel"])
    }

    @Test func fitOnlyTypesAreAccepted() throws {
        let p = try parse("images: { bitstream: { type: fpga, data: x }, optee: { type: tee, arch: arm64, os: tee, data: y } }")
        #expect(p.tree.root.node(at: "images/bitstream")?.property("type")?.stringValue == "fpga")
    }

    @Test(arguments: [
        ("images: { k: { type: kernal, data: x } }", "spec.yaml:1: images/k/type: expected filesystem"),
        ("images: { k: { type: kernel } }", "spec.yaml:1: expected images/k/data"),
        ("images: { k: { type: kernel, data: x, hash: sha3 } }", "spec.yaml:1: images/k/hash: expected crc16-ccitt"),
        ("images: { k: { type: kernel, data: x } }\nconfigurations: { c: { kernel: nope } }", "spec.yaml:2: configurations/c/kernel: expected an image name (k)"),
        ("description: [unclosed", "expected valid YAML"),
        // Strict keys: the issue's `lod:` was stored as a property, and U-Boot refused the FIT.
        ("images:\n  kernel:\n    type: kernel\n    lod: 0x40400000\n    data: x\n", "spec.yaml:4: unknown key 'lod' in images/kernel; did you mean 'load'?"),
        ("descripton: x\nimages: { k: { data: x } }", "spec.yaml:1: unknown key 'descripton' in the FIT spec; did you mean 'description'?"),
        ("images: { k: { data: x } }\nconfigurations:\n  c:\n    kernl: k\n", "spec.yaml:4: unknown key 'kernl' in configurations/c; did you mean 'kernel'?"),
        ("images: { k: { data: x, signature-1: {algo: 'sha256,rsa2048', key-name-hnt: dev} } }", "spec.yaml:1: unknown key 'key-name-hnt' in images/k/signature-1; did you mean 'key-name-hint'?"),
        ("images: { k: { data: x, signatur-1: {algo: 'sha256,rsa2048', key-name-hint: dev} } }", "spec.yaml:1: unknown key 'signatur-1' in images/k; did you mean 'signature-1'?"),
        ("images: { k: { data: x, signature-1: {algo: 'sha256,rsa2048', key-name-hint: dev, sign-images: [k]} } }", "spec.yaml:1: unknown key 'sign-images' in images/k/signature-1"),
        ("images: { k: { data: x, signature-1: {algo: 'md5,rsa2048', key-name-hint: dev} } }", "spec.yaml:1: images/k/signature-1/algo: expected sha1|sha256"),
        ("images: { k: { data: x, signature-1: {algo: 'sha256,rsa2048'} } }", "spec.yaml:1: images/k/signature-1/key-name-hint: expected the key's name"),
        ("images: { k: { data: x } }\nconfigurations: { c: { kernel: k, signature-1: {algo: 'sha256,rsa2048', key-name-hint: dev, sign-images: [kernel, fdt]} } }",
         "spec.yaml:2: configurations/c/signature-1/sign-images: expected properties of this configuration (kernel), found 'fdt'"),
        ("images: { k: { data: x, hash: sha1, hash-2: {algo: md5} } }", "spec.yaml:1: images/k/hash-2: expected hash: [algorithms] or hash-N: nodes, not both"),
        ("address-cells: 4294967296\nimages: { k: { data: x } }", "spec.yaml:1: address-cells: expected 1 (32-bit addresses) or 2 (64-bit)"),
        ("address-cells: 18446744073709551615\nimages: { k: { data: x } }", "spec.yaml:1: address-cells: expected 1"),
        ("images: { k: { data: x, load: 0x100000000 } }", "spec.yaml:1: images/k/load: expected a 32-bit address"),
        ("images: { k: { data: x, properties: {big: 0x100000000} } }", "spec.yaml:1: images/k/properties/big: expected a 32-bit number"),
        ("images: { k: { data: x, properties: [a] } }", "spec.yaml:1: images/k/properties: expected a mapping"),
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

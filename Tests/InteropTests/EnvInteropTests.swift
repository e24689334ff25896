import FlashsmithCore
import Foundation
import Testing
import TestSupport
import UBootEnv

/// Flashsmith's environment blobs against the real peers: mkenvimage (u-boot-tools) and
/// fw_printenv/fw_setenv (libubootenv-tool 0.3.2).
@Suite struct EnvInteropTests {
    /// `env create` writes the same bytes as mkenvimage, and fails where it fails.
    @Test(arguments: EnvCorpus.names, MkenvVariant.all)
    func createMatchesMkenvimage(caseName: String, variant: MkenvVariant) throws {
        guard toolsAvailable("mkenvimage") else { return }
        let c = EnvCorpus.make(caseName, headerSize: variant.redundant ? 5 : 4)
        let dir = try TempDir()
        let input = try dir.write("env.txt", c.text)
        let peer = try run("mkenvimage", variant.flags + ["-s", "\(c.size)", "-o", dir.file("peer.bin"), input])
        let ours = try flashsmith(["env", "create"] + variant.flags + ["-s", hex(c.size), "-o", dir.file("ours.bin"), input])
        if c.fits {
            #expect(peer.status == 0, "\(peer.err)")
            #expect(ours.status == 0, "\(ours.err)")
            #expect(try readBytes(dir.file("ours.bin")) == readBytes(dir.file("peer.bin")))
        } else {
            #expect(peer.status != 0)
            #expect(ours.status == 65)
            #expect(ours.err.contains("1 bytes over"), "\(ours.err)")
            #expect(!FileManager.default.fileExists(atPath: dir.file("ours.bin")))
        }
    }

    /// Standard input works as mkenvimage's `-` does, and output defaults to standard output.
    @Test func createFromStdinToStdout() throws {
        guard toolsAvailable("mkenvimage") else { return }
        let text = EnvCorpus.special()
        let peer = try run("mkenvimage", ["-s", "8192", "-"], stdin: text)
        let ours = try flashsmith(["env", "create", "-s", "8KiB"], stdin: text)
        #expect(peer.status == 0 && ours.status == 0)
        #expect(ours.stdout == peer.stdout)
    }

    /// What fw_printenv prints for an environment: sorted by name, last definition wins, raw values.
    func fwPrintenvExpectation(_ text: [UInt8]) throws -> [UInt8] {
        var last: [[UInt8]: [UInt8]] = [:]
        for v in try EnvText.parseEquals(text, source: "t") { last[v.name] = v.value }
        var out: [UInt8] = []
        for name in last.keys.sorted(by: { $0.lexicographicallyPrecedes($1) }) {
            out += name + [UInt8(ascii: "=")] + last[name]! + [10]
        }
        return out
    }

    /// fw_printenv reads a single blob and a redundant pair (two copies in one file, a two-line config).
    @Test(arguments: ["one", "thousand", "special"], [false, true])
    func fwPrintenvReadsFlashsmithBlobs(caseName: String, redundant: Bool) throws {
        guard toolsAvailable("fw_printenv") else { return }
        let c = EnvCorpus.make(caseName, headerSize: redundant ? 5 : 4)
        let dir = try TempDir()
        let input = try dir.write("env.txt", c.text)
        let blob = dir.file("env.bin")
        let layout = redundant ? ["-r", "--copies", "2"] : []
        #expect(try flashsmith(["env", "create", "-s", hex(c.size), "-o", blob] + layout + [input]).status == 0)
        #expect(try readBytes(blob).count == (redundant ? 2 : 1) * c.size)
        var config = "\(blob) 0x0 \(hex(c.size))\n"
        if redundant { config += "\(blob) \(hex(c.size)) \(hex(c.size))\n" }
        let cfg = try dir.write("fw_env.config", config)
        let r = try run("fw_printenv", ["-c", cfg])
        #expect(r.status == 0, "\(r.err)")
        #expect(r.stdout == (try fwPrintenvExpectation(c.text)))
    }

    /// Flashsmith reads what mkenvimage writes, detecting layout and byte order.
    @Test(arguments: ["empty", "one", "thousand", "special", "exactlyFull"], MkenvVariant.all)
    func readsMkenvimageBlobs(caseName: String, variant: MkenvVariant) throws {
        guard toolsAvailable("mkenvimage") else { return }
        let c = EnvCorpus.make(caseName, headerSize: variant.redundant ? 5 : 4)
        let dir = try TempDir()
        let input = try dir.write("env.txt", c.text)
        #expect(try run("mkenvimage", variant.flags + ["-s", "\(c.size)", "-o", dir.file("peer.bin"), input]).status == 0)
        let r = try flashsmith("env", "print", "--json", dir.file("peer.bin"))
        #expect(r.status == 0, "\(r.err)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout)) as? [String: Any])
        #expect(json["redundant"] as? Bool == variant.redundant)
        let copies = try #require(json["copies"] as? [[String: Any]])
        #expect(copies.first?["byteOrder"] as? String == (variant.flags.contains("-b") ? "big" : "little"))
        #expect(copies.first?["padByte"] as? Int == (variant.flags.contains("-p") ? 0 : 255) || caseName == "exactlyFull")
        // The variables, compared as bytes through the text output.
        let text = try flashsmith("env", "print", dir.file("peer.bin"))
        let expected = try EnvText.parseEquals(c.text, source: "t")
        #expect(try EnvText.parseEquals(text.stdout, source: "print") == expected)
    }

    /// After `env set`, fw_printenv shows the new values (single and redundant).
    @Test(arguments: [false, true])
    func fwPrintenvSeesEnvSet(redundant: Bool) throws {
        guard toolsAvailable("fw_printenv") else { return }
        let dir = try TempDir()
        let input = try dir.write("env.txt", "bootdelay=3\nstale=1\nbootcmd=boot\n")
        let blob = dir.file("env.bin")
        let size = 0x4000
        #expect(try flashsmith(["env", "create", "-s", hex(size), "-o", blob, input] + (redundant ? ["-r", "--copies", "2"] : [])).status == 0)
        let cfg = try dir.write("fw_env.config", redundant ? "\(blob) 0 4000\n\(blob) 0x4000 4000\n" : "\(blob) 0 4000\n")
        let set = try flashsmith("env", "set", blob, "bootdelay=0", "newvar=hello world", "--unset", "stale")
        #expect(set.status == 0, "\(set.err)")
        let r = try run("fw_printenv", ["-c", cfg])
        #expect(r.out == "bootcmd=boot\nbootdelay=0\nnewvar=hello world\n", "\(r.err)")
        if redundant {
            let j = try flashsmith("env", "print", "--json", blob)
            let obj = try #require(try JSONSerialization.jsonObject(with: Data(j.stdout)) as? [String: Any])
            #expect(obj["active"] as? Int == 2)
            let flags = (obj["copies"] as? [[String: Any]])?.compactMap { $0["flag"] as? Int }
            #expect(flags == [1, 2])
        }
    }

    /// fw_setenv and Flashsmith take turns on one redundant pair; each reads the other's writes and
    /// both agree on the copy in use at every step.
    @Test func alternatingWritersAgree() throws {
        guard toolsAvailable("fw_printenv", "fw_setenv") else { return }
        let dir = try TempDir()
        let blob = dir.file("env.bin")
        let input = try dir.write("env.txt", "step=0\n")
        #expect(try flashsmith("env", "create", "-r", "--copies", "2", "-s", "0x2000", "-o", blob, input).status == 0)
        let cfg = try dir.write("fw_env.config", "\(blob) 0 2000\n\(blob) 0x2000 2000\n")
        for step in 1...6 {
            if step.isMultiple(of: 2) {
                #expect(try flashsmith("env", "set", blob, "step=\(step)").status == 0)
            } else {
                #expect(try run("fw_setenv", ["-c", cfg, "step", "\(step)"]).status == 0)
            }
            let peer = try run("fw_printenv", ["-c", cfg, "-n", "step"])
            let ours = try flashsmith("env", "print", blob, "-n", "step")
            #expect(peer.out == "\(step)\n")
            #expect(ours.out == "\(step)\n", "step \(step): \(ours.err)")
        }
    }

    /// Hand-made pairs (wrapped counters, equal counters, a corrupt copy): Flashsmith picks the copy
    /// fw_printenv picks.
    @Test(arguments: [
        (UInt8(255), UInt8(0), false), (0, 255, false), (254, 255, false), (7, 7, false), (9, 3, false), (3, 9, true), (200, 10, true),
    ])
    func selectionMatchesFwPrintenv(flag1: UInt8, flag2: UInt8, corruptSecond: Bool) throws {
        guard toolsAvailable("fw_printenv") else { return }
        let dir = try TempDir()
        let size = 0x1000
        let one = try EnvImage(variables: [EnvVariable("who", "copy1")], size: size, redundant: true).encodeCopy(flag: flag1)
        var two = try EnvImage(variables: [EnvVariable("who", "copy2")], size: size, redundant: true).encodeCopy(flag: flag2)
        if corruptSecond { two[100] ^= 0x55 }
        let blob = try dir.write("env.bin", one + two)
        let cfg = try dir.write("fw_env.config", "\(blob) 0 1000\n\(blob) 0x1000 1000\n")
        let peer = try run("fw_printenv", ["-c", cfg, "-n", "who"])
        let ours = try flashsmith("env", "print", blob, "-n", "who")
        #expect(peer.status == 0)
        #expect(ours.out == peer.out, "flags \(flag1)/\(flag2): peer \(peer.out) ours \(ours.out) \(ours.err)")
    }

    /// `env set` on a pair fw_setenv wrote last writes the copy U-Boot would not use, with the next flag.
    @Test func setAfterFwSetenvAdvancesTheCounter() throws {
        guard toolsAvailable("fw_setenv") else { return }
        let dir = try TempDir()
        let blob = dir.file("env.bin")
        let input = try dir.write("env.txt", "a=1\n")
        #expect(try flashsmith("env", "create", "-r", "--copies", "2", "-s", "0x2000", "-o", blob, input).status == 0)
        let cfg = try dir.write("fw_env.config", "\(blob) 0 2000\n\(blob) 0x2000 2000\n")
        #expect(try run("fw_setenv", ["-c", cfg, "a", "2"]).status == 0)  // writes copy 2 with flag 2
        let before = try readBytes(blob)
        #expect(try flashsmith("env", "set", blob, "a=3").status == 0)  // must write copy 1 with flag 3
        let after = try readBytes(blob)
        #expect(after[4] == 3)
        #expect(after[0x2000...] == before[0x2000...])
        #expect(try run("fw_printenv", ["-c", cfg, "-n", "a"]).out == "3\n")
    }
}

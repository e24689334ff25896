import Testing
@testable import UBootEnv

@Suite struct EnvTextTests {
    func vars(_ text: String) throws -> [String] {
        try EnvText.parseEquals(Array(text.utf8), source: "t").map { "\($0.nameText)=\($0.valueText)" }
    }

    /// mkenvimage's rules, case by case (each checked against mkenvimage in InteropTests).
    @Test(arguments: [
        ("a=1\nb=2\n", ["a=1", "b=2"]),
        ("a=1\nb=2", ["a=1", "b=2"]),
        ("\n\na=1\n\n\nb=2\n\n", ["a=1", "b=2"]),
        ("# comment\na=1\n#b=2\n", ["a=1"]),
        ("a=#not a comment\n", ["a=#not a comment"]),
        ("a=x\\\ny\n", ["a=x\ny"]),
        ("a=x\\\n\\\ny\n", ["a=x\n\ny"]),
        ("a=1=2\n", ["a=1=2"]),
        ("a=\n", ["a="]),
        ("a= spaced \n", ["a= spaced "]),
        ("", []),
    ])
    func mkenvimageSyntax(text: String, expected: [String]) throws {
        #expect(try vars(text) == expected)
    }

    @Test func badLineNamesItsLine() {
        #expect(throws: EnvError.badLine(source: "t", line: 3, expected: "name=value", found: "oops")) {
            try EnvText.parseEquals(Array("a=1\n\noops\n".utf8), source: "t")
        }
        #expect(throws: EnvError.emptyName(source: "t:1")) { try EnvText.parseEquals(Array("=v\n".utf8), source: "t") }
    }

    @Test func ubootScriptSyntax() throws {
        let a = try EnvText.parseUBoot(Array("# c\n  bootcmd   run x; boot\nbootdelay\t3\n\nstale\n".utf8), source: "s")
        #expect(a == [.set(EnvVariable("bootcmd", "run x; boot")), .set(EnvVariable("bootdelay", "3")), .unset(Array("stale".utf8))])
    }

    @Test func scriptsMayMixSyntaxes() throws {
        let a = try EnvText.parseScript(Array("a=1 2\nb 3=4\nc\nd=\ne=x\\\ny\n".utf8), source: "s")
        #expect(a == [
            .set(EnvVariable("a", "1 2")), .set(EnvVariable("b", "3=4")), .unset(Array("c".utf8)), .unset(Array("d".utf8)),
            .set(EnvVariable("e", "x\ny")),
        ])
    }

    @Test func equalsWriterRoundTrips() throws {
        let v = [EnvVariable("a", "line1\nline2"), EnvVariable("b", "x\\y"), EnvVariable("c", "=")]
        #expect(try EnvText.parseEquals(EnvText.writeEquals(v), source: "t") == v)
    }

    @Test func unrepresentableValuesAreRefused() {
        #expect(throws: EnvError.self) { try EnvText.writeEquals([EnvVariable("a", "ends\\")]) }
        #expect(throws: EnvError.self) { try EnvText.writeEquals([EnvVariable("a", "x\n#y")]) }
        #expect(throws: EnvError.self) { try EnvText.writeUBoot([EnvVariable("a", "two\nlines")]) }
    }

    @Test func ubootWriterRoundTrips() throws {
        let v = [EnvVariable("bootcmd", "run a; run b"), EnvVariable("x", "1")]
        #expect(try EnvText.parseUBoot(EnvText.writeUBoot(v), source: "t") == v.map { .set($0) })
    }
}

@Suite struct FWEnvConfigTests {
    @Test func parsesPeersSyntax() throws {
        let c = try FWEnvConfig.parse(Array("""
            # device  offset  size  sector  count
            /dev/mtd1  0x0     0x20000  0x20000  2
              # indented comment
            /dev/mtd1\t0x40000\t20000\t20000\t2   trailing ignored

            /dev/mtd9 0 4000
            """.utf8), path: "fw_env.config")
        #expect(c.redundant)
        #expect(c.locations == [
            .init(device: "/dev/mtd1", offset: 0, envSize: 0x20000, sectorSize: 0x20000, sectorCount: 2),
            .init(device: "/dev/mtd1", offset: 0x40000, envSize: 0x20000, sectorSize: 0x20000, sectorCount: 2),
        ])
    }

    @Test(arguments: [("0x100", 256), ("100", 100), ("0144", 100), ("-0x4000", -0x4000), ("+8", 8)])
    func offsetsAreCIntegers(text: String, value: Int) {
        #expect(FWEnvConfig.parseCInteger(text) == value)
    }

    @Test func sizesAreHexEvenWithoutPrefix() throws {
        let c = try FWEnvConfig.parse(Array("env.bin 0 4000\n".utf8), path: "c")
        #expect(c.envSize == 0x4000 && !c.redundant)
    }

    @Test(arguments: [
        ("env.bin 0\n", "c:1: expected 'device offset env-size"),
        ("env.bin zz 4000\n", "c:1: offset: expected a C integer"),
        ("env.bin 0 xyz\n", "c:1: env size: expected a hexadecimal number"),
        ("# nothing\n", "c:2: expected at least one"),
        ("a 0 4000\nb 0 2000\n", "must have the same env size"),
    ])
    func errorsNameTheLine(text: String, message: String) {
        do {
            _ = try FWEnvConfig.parse(Array(text.utf8), path: "c")
            Issue.record("accepted")
        } catch {
            #expect(error.description.contains(message), "\(error)")
        }
    }
}

@Suite struct DefaultEnvironmentTests {
    @Test func findsTheRunWithStandardNames() throws {
        var bin = [UInt8](repeating: 0x11, count: 100)
        bin += Array("%s=%d\0junk=1\0\0".utf8)  // a short run without standard names
        bin += Array("not env\0bootcmd=run distro\0bootdelay=2\0arch=arm\0\0".utf8)
        bin += [0x90, 0x90]
        let f = try DefaultEnvironment.find(in: bin, source: "u-boot.bin")
        #expect(f.variables.map(\.nameText) == ["bootcmd", "bootdelay", "arch"])
        #expect(f.offset == 100 + 14 + 8)
    }

    @Test func noEnvironmentIsAClearError() {
        #expect(throws: EnvError.self) { try DefaultEnvironment.find(in: [UInt8](repeating: 0, count: 64), source: "x") }
    }
}

import Foundation
import Testing
import TestSupport
import UBootEnv

extension E2E {
    /// `flashsmith env extract-default` against U-Boot itself: an environment written by Flashsmith
    /// makes Debian's qemu_arm64 U-Boot run `env default -a; printenv`, which resets to the built-in
    /// default environment and prints it. Every variable Flashsmith extracted from `u-boot.bin` must
    /// be there with the same value, and U-Boot's count of default bytes must match.
    @Suite("extract-default finds the environment U-Boot itself falls back to")
    struct DefaultEnvTests {
        static let uboot = "/usr/lib/u-boot/qemu_arm64/u-boot.bin"

        @Test func extractedDefaultMatchesUBootsPrintenv() throws {
            guard toolsAvailable("qemu-system-aarch64"), filesAvailable(Self.uboot) else { return }
            let dir = try TempDir("flashsmith-e2e-default")
            let extracted = try flashsmith("env", "extract-default", Self.uboot)
            #expect(extracted.status == 0, "\(extracted.err)")
            let vars = try EnvText.parseEquals(extracted.stdout, source: "extract-default")
            #expect(vars.count > 20)

            let flash = try dir.write("flash1.img", [UInt8](repeating: 0xFF, count: 64 << 20))
            let config = try dir.write("fw_env.config", "\(flash) 0x0 0x40000\n")
            let token = UUID().uuidString.prefix(8)
            let text = try dir.write("env.txt", """
                bootdelay=0
                m=FSDEF
                bootcmd=echo ${m}-BEGIN-\(token); env default -a; printenv; echo FSDEF-END-\(token); poweroff

                """)
            #expect(try flashsmith("env", "create", "-c", config, text).status == 0)
            let r = try QEMU.run(
                "qemu-system-aarch64",
                ["-M", "virt", "-cpu", "cortex-a57", "-m", "1024", "-accel", "tcg", "-nographic", "-no-reboot", "-nic", "none",
                 "-bios", Self.uboot, "-drive", "if=pflash,format=raw,index=1,file=\(flash)"],
                log: dir.file("qemu.log"), timeout: .seconds(120), markers: ["FSDEF-END-\(token)"]
            )
            print("E2E timing: U-Boot env default -a; printenv \(r.summary)")
            let log = r.log.replacingOccurrences(of: "\r", with: "")
            let begin = try #require(log.range(of: "FSDEF-BEGIN-\(token)\n"), "bootcmd did not run: \(r.tail())")
            let end = try #require(log.range(of: "\nEnvironment size: "), "no printenv output: \(r.tail())")
            let printed = log[begin.upperBound..<end.lowerBound]
                .split(separator: "\n").compactMap { (line: Substring) -> (String, String)? in
                    guard let eq = line.firstIndex(of: "=") else { return nil }
                    return (String(line[..<eq]), String(line[eq...].dropFirst()))
                }
            let uboot: [String: String] = Dictionary(printed, uniquingKeysWith: { _, last in last })
            // U-Boot's import skips entries with an empty value (`mtdids=` in this default): they
            // are stored in the binary but never become variables.
            let defined = vars.filter { !$0.value.isEmpty }
            #expect(defined.count < vars.count, "expected empty-valued entries such as mtdids= in Debian's default")
            for v in vars {
                let expected: String? = v.value.isEmpty ? nil : v.valueText
                #expect(uboot[v.nameText] == expected, "\(v.nameText): U-Boot has \(uboot[v.nameText] ?? "nothing")")
            }
            let extra = Set(uboot.keys).subtracting(vars.map(\.nameText))
            #expect(extra.isEmpty, "U-Boot's default has variables extract-default missed: \(extra.sorted())")
            // "Environment size: USED/TOTAL bytes": the default, exported: name=value\0 each, then \0.
            let sizeLine = log[end.upperBound...].prefix { $0 != "\n" }
            let used = Int(sizeLine.split(separator: "/").first ?? "")
            #expect(used == defined.reduce(1) { $0 + $1.name.count + $1.value.count + 2 }, "U-Boot: \(sizeLine)")
        }
    }
}

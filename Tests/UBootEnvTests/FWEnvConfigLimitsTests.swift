import Testing
import UBootEnv

/// fw_env.config numbers are checked where they are read: a 17-byte config asking for a 1 GiB env
/// (which made `env print` allocate 1 GiB for a 4 KiB file) or a negative size is an error naming
/// the line; signs belong to offsets only, once.
@Suite struct FWEnvConfigLimitsTests {
    @Test(arguments: [
        ("env.bin 0 40000000\n", "c:1: env size: expected at most 0x1000000, found '40000000'"),
        ("env.bin 0 -10\n", "c:1: env size: expected a hexadecimal number"),
        ("env.bin 0 ffffffffffffffffffff\n", "c:1: env size: expected a hexadecimal number"),
        ("env.bin 0x-10 4000\n", "c:1: offset: expected a C integer"),
        ("env.bin --16 4000\n", "c:1: offset: expected a C integer"),
        ("env.bin 99999999999999999999 4000\n", "c:1: offset: expected a C integer"),
        ("env.bin 0x7fffffffffffffff 4000\n", "c:1: offset: expected at most 0x100000000000000 either way"),
        ("env.bin 0 4000 -20000\n", "c:1: sector size: expected a hexadecimal number"),
        ("env.bin 0 4000 80000000\n", "c:1: sector size: expected at most 0x40000000"),
        ("env.bin 0 4000 20000 7fffffffffffffff\n", "c:1: number of sectors: expected at most 0x10000"),
    ])
    func numbersBeyondTheirRangeAreErrors(text: String, message: String) {
        #expect {
            _ = try FWEnvConfig.parse(Array(text.utf8), path: "c")
        } throws: { error in
            "\(error)".hasPrefix(message)
        }
    }

    @Test(arguments: [("0x10", 16), ("-0x10", -16), ("+010", 8), ("0", 0)])
    func offsetsKeepOneSign(text: String, value: Int) {
        #expect(FWEnvConfig.parseCInteger(text) == value)
    }
}

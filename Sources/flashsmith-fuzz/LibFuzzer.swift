#if FLASHSMITH_LIBFUZZER
import FlashsmithFuzz
#if canImport(Glibc)
import Glibc
#endif

/// libFuzzer's driver (libclang_rt.fuzzer_no_main, linked by scripts/fuzz.sh --engine libfuzzer):
/// this executable keeps its own main and hands libFuzzer the loop.
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
) -> CInt

nonisolated(unsafe) var libFuzzerTarget: FuzzTarget?
nonisolated(unsafe) var libFuzzerScratch: FuzzScratch?

enum LibFuzzer {
    static func run(_ target: FuzzTarget, arguments: [String]) -> Never {
        do {
            let scratch = try FuzzScratch(seeds: FuzzTargets.defaultSeeds, prefix: "flashsmith-libfuzzer-\(target.name)")
            try target.prepare(scratch)
            libFuzzerScratch = scratch
        } catch {
            fail("\(target.name): \(error)")
        }
        libFuzzerTarget = target
        var argc = CInt(arguments.count)
        var cArgs: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        let status = cArgs.withUnsafeMutableBufferPointer { buf -> CInt in
            var argv = buf.baseAddress!
            return LLVMFuzzerRunDriver(&argc, &argv) { data, size in
                guard let target = libFuzzerTarget, let scratch = libFuzzerScratch, size <= Mutator.maxInputSize else { return -1 }
                let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
                do { try target.run(bytes, scratch) } catch {}
                return 0
            }
        }
        exit(status)
    }
}
#endif

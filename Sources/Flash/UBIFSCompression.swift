import CLZO
import CZlib
import CZstd

/// Compression of UBIFS data nodes as mkfs.ubifs does it (`ubifs-utils/common/compr.c`), one
/// 4 KiB block at a time: blocks under 128 bytes and blocks that do not shrink are stored as they
/// are; `lzo` is LZO1X-999 (what mkfs.ubifs writes, at level 7: see ``lzoLevel``; the kernel reads any LZO1X), `zlib` raw
/// deflate with the kernel crypto API's parameters (level 6, 2 KiB window, memLevel 8), `zstd`
/// level 1 (see ``zstdLevel``); `favor_lzo` takes zlib only when it saves more than `favorPercent` % over LZO.
/// One `UBIFSCompressor` per thread: each keeps its own work memory and streams.
final class UBIFSCompressor {
    enum Mode: Sendable, Equatable {
        case none, lzo, zlib, zstd
        case favorLZO(percent: Int)
    }

    let mode: Mode
    private var lzoWork: UnsafeMutableRawPointer?
    private var zstd: OpaquePointer?
    private var deflater = z_stream()
    private var deflaterReady = false
    /// Output of the second compressor under favor_lzo, and of zlib and zstd (bounded worst case).
    private var scratch = [UInt8](repeating: 0, count: UBIFSMedia.blockSize * 2 + 1024)

    /// LZO1X-999 at level 7 rather than mkfs.ubifs's 9: on 4 KiB blocks of the bench's text it
    /// writes 0.01 % more bytes in a quarter of the time (measured: 18,505,111 vs 18,503,725 bytes
    /// for 20 MB, 0.65 s vs 2.66 s on one core). Any LZO1X level decompresses the same way.
    static let lzoLevel: Int32 = 7

    /// zstd at level 1 rather than mkfs.ubifs's 3 (its default): on 4 KiB blocks of the bench's
    /// text it writes 0.03 % more bytes in 55 % of the time (measured: 13,246,038 vs 13,241,532
    /// bytes for 20 MB, 0.17 s vs 0.32 s on one core). Any level decompresses the same way.
    static let zstdLevel: Int32 = 1

    /// `lzo_init` checks the library's type sizes; once per process, before any LZO call.
    static let lzoReady: Bool = flashsmith_lzo_init() == LZO_E_OK

    init(mode: Mode) {
        self.mode = mode
        switch mode {
        case .lzo, .favorLZO:
            lzoWork = UnsafeMutableRawPointer.allocate(byteCount: Int(flashsmith_lzo1x_999_mem_compress()), alignment: 16)
        default: break
        }
        if case .zstd = mode { zstd = ZSTD_createCCtx() }
        switch mode {
        case .zlib, .favorLZO:
            deflaterReady = flashsmith_deflate_init_raw_window(&deflater, 6, 11, 8) == Z_OK
        default: break
        }
    }

    deinit {
        lzoWork?.deallocate()
        if let zstd { ZSTD_freeCCtx(zstd) }
        if deflaterReady { deflateEnd(&deflater) }
    }

    /// Compresses `input` into `output` (room for at least 2 × 4 KiB + 1 KiB) and returns the
    /// compressor used and the stored length; `.none` when stored as is.
    func compress(_ input: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer) -> (UBIFSMedia.Compressor, Int) {
        func stored() -> (UBIFSMedia.Compressor, Int) {
            output.baseAddress!.copyMemory(from: input.baseAddress!, byteCount: input.count)
            return (.none, input.count)
        }
        guard input.count >= UBIFSMedia.minCompressLength else { return stored() }
        var result: (UBIFSMedia.Compressor, Int)?
        switch mode {
        case .none: result = nil
        case .lzo: result = lzo(input, output).map { (.lzo, $0) }
        case .zlib: result = zlib(input, output).map { (.zlib, $0) }
        case .zstd:
            let n = ZSTD_compressCCtx(zstd, output.baseAddress, output.count, input.baseAddress, input.count, Self.zstdLevel)
            result = ZSTD_isError(n) != 0 ? nil : (.zstd, n)
        case let .favorLZO(percent):
            result = favorLZO(input, output, percent: percent)
        }
        guard let result, result.1 < input.count else { return stored() }
        return result
    }

    private func lzo(_ input: UnsafeRawBufferPointer, _ output: UnsafeMutableRawBufferPointer) -> Int? {
        guard Self.lzoReady else { return nil }
        var outLength = lzo_uint(output.count)
        let rc = lzo1x_999_compress_level(
            input.baseAddress!.assumingMemoryBound(to: UInt8.self), lzo_uint(input.count),
            output.baseAddress!.assumingMemoryBound(to: UInt8.self), &outLength, lzoWork, nil, 0, nil, Self.lzoLevel)
        return rc == LZO_E_OK ? Int(outLength) : nil
    }

    private func zlib(_ input: UnsafeRawBufferPointer, _ output: UnsafeMutableRawBufferPointer) -> Int? {
        guard deflaterReady, deflateReset(&deflater) == Z_OK else { return nil }
        deflater.next_in = UnsafeMutablePointer(mutating: input.baseAddress!.assumingMemoryBound(to: Bytef.self))
        deflater.avail_in = uInt(input.count)
        deflater.next_out = output.baseAddress!.assumingMemoryBound(to: Bytef.self)
        deflater.avail_out = uInt(output.count)
        guard deflate(&deflater, Z_FINISH) == Z_STREAM_END else { return nil }
        return Int(deflater.total_out)
    }

    /// mkfs.ubifs's `favor_lzo_compress`: LZO unless zlib's output is at most (100 - percent) % of it.
    private func favorLZO(_ input: UnsafeRawBufferPointer, _ output: UnsafeMutableRawBufferPointer, percent: Int) -> (UBIFSMedia.Compressor, Int)? {
        let lzoLength = lzo(input, output)
        let zlibLength = scratch.withUnsafeMutableBytes { zlib(input, $0) }
        switch (lzoLength, zlibLength) {
        case (nil, nil): return nil
        case let (l?, z?):
            if l <= z || Double(z) / Double(l) * 100 > Double(100 - percent) { return (.lzo, l) }
            scratch.withUnsafeBytes { output.baseAddress!.copyMemory(from: $0.baseAddress!, byteCount: z) }
            return (.zlib, z)
        case let (l?, nil): return (.lzo, l)
        case let (nil, z?):
            scratch.withUnsafeBytes { output.baseAddress!.copyMemory(from: $0.baseAddress!, byteCount: z) }
            return (.zlib, z)
        }
    }
}

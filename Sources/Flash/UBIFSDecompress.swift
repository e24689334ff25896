import CLZO
import CZlib
import CZstd
import FlashsmithCore

/// Decompression of UBIFS data nodes (what the kernel's `ubifs_decompress` does): LZO1X (safe
/// decoder), raw deflate (zlib without header, window 2^15), zstd frames. Every decoder is told the
/// exact output size the node records and fails, never overruns, when the stored bytes disagree.
enum UBIFSDecompress {
    /// `lzo_init()` once per process.
    static let lzoReady: Bool = flashsmith_lzo_init() == LZO_E_OK

    /// Decodes `input` (a node's stored bytes) into `output`, which is exactly the size the node
    /// records; returns why not when the bytes are not a valid stream of that size.
    static func decompress(_ compressor: UBIFSMedia.Compressor, _ input: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer) -> String? {
        switch compressor {
        case .none:
            guard input.count == output.count else { return "\(input.count) stored bytes for \(output.count)" }
            if !input.isEmpty { output.baseAddress!.copyMemory(from: input.baseAddress!, byteCount: input.count) }
            return nil
        case .lzo: return lzo(input, output)
        case .zlib: return inflate(input, output)
        case .zstd: return zstd(input, output)
        }
    }

    static func lzo(_ input: UnsafeRawBufferPointer, _ output: UnsafeMutableRawBufferPointer) -> String? {
        guard lzoReady else { return "liblzo2 failed to initialise" }
        guard let src = input.baseAddress, let dst = output.baseAddress else { return input.isEmpty ? "no stored bytes" : "no room" }
        var outLen = lzo_uint(output.count)
        let r = lzo1x_decompress_safe(src.assumingMemoryBound(to: UInt8.self), lzo_uint(input.count), dst.assumingMemoryBound(to: UInt8.self), &outLen, nil)
        guard r == LZO_E_OK else { return "LZO stream invalid (lzo error \(r))" }
        guard Int(outLen) == output.count else { return "LZO stream gives \(outLen) bytes, expected \(output.count)" }
        return nil
    }

    static func inflate(_ input: UnsafeRawBufferPointer, _ output: UnsafeMutableRawBufferPointer) -> String? {
        guard let src = input.baseAddress, let dst = output.baseAddress else { return input.isEmpty ? "no stored bytes" : "no room" }
        var s = z_stream()
        guard flashsmith_inflate_init_raw(&s) == Z_OK else { return "zlib failed to initialise" }
        defer { inflateEnd(&s) }
        s.next_in = UnsafeMutablePointer(mutating: src.assumingMemoryBound(to: Bytef.self))
        s.avail_in = uInt(input.count)
        s.next_out = dst.assumingMemoryBound(to: Bytef.self)
        s.avail_out = uInt(output.count)
        let r = CZlib.inflate(&s, Z_FINISH)
        // The kernel accepts a stream whose end marker is missing when the output is full.
        guard r == Z_STREAM_END || (r == Z_BUF_ERROR || r == Z_OK) && s.avail_out == 0 else { return "deflate stream invalid (zlib error \(r))" }
        guard Int(s.total_out) == output.count else { return "deflate stream gives \(s.total_out) bytes, expected \(output.count)" }
        return nil
    }

    static func zstd(_ input: UnsafeRawBufferPointer, _ output: UnsafeMutableRawBufferPointer) -> String? {
        guard let src = input.baseAddress, let dst = output.baseAddress else { return input.isEmpty ? "no stored bytes" : "no room" }
        let r = ZSTD_decompress(dst, output.count, src, input.count)
        if ZSTD_isError(r) != 0 { return "zstd stream invalid (\(String(cString: ZSTD_getErrorName(r))))" }
        guard r == output.count else { return "zstd stream gives \(r) bytes, expected \(output.count)" }
        return nil
    }
}

import CZstd

/// zstd decompression of whole files (Galexie's ledger batches): streaming, so frames written
/// without their content size decompress too, any number of frames in a row, bounded in size.
public enum Zstd {
    public struct DecompressionError: Error, Sendable, CustomStringConvertible {
        /// Where the compressed input stood when decompression failed.
        public var inputOffset: Int
        public var reason: String
        public var description: String { "corrupt zstd input at byte \(inputOffset): \(reason)" }
    }

    /// Decompresses `input` (one or more zstd frames); fails on a corrupt or truncated frame and
    /// once the output would pass `limit` bytes.
    public static func decompress(_ input: [UInt8], limit: Int = 1 << 30) throws -> [UInt8] {
        guard let context = ZSTD_createDStream() else {
            throw DecompressionError(inputOffset: 0, reason: "cannot allocate a zstd decompression context")
        }
        defer { ZSTD_freeDStream(context) }
        ZSTD_initDStream(context)
        var output: [UInt8] = []
        output.reserveCapacity(min(limit, max(input.count * 4, 1 << 16)))
        let chunk = ZSTD_DStreamOutSize()
        var buffer = [UInt8](repeating: 0, count: chunk)
        var consumed = 0
        // The last return value: 0 when a frame is complete and fully flushed.
        var last = 0
        try input.withUnsafeBytes { source in
            var inBuffer = ZSTD_inBuffer(src: source.baseAddress, size: source.count, pos: 0)
            while true {
                let progress = try buffer.withUnsafeMutableBytes { target -> (written: Int, hint: Int) in
                    var outBuffer = ZSTD_outBuffer(dst: target.baseAddress, size: target.count, pos: 0)
                    let hint = ZSTD_decompressStream(context, &outBuffer, &inBuffer)
                    if ZSTD_isError(hint) != 0 {
                        throw DecompressionError(inputOffset: inBuffer.pos, reason: String(cString: ZSTD_getErrorName(hint)))
                    }
                    return (outBuffer.pos, hint)
                }
                last = progress.hint
                consumed = inBuffer.pos
                if progress.written > 0 {
                    guard output.count + progress.written <= limit else {
                        throw DecompressionError(inputOffset: inBuffer.pos, reason: "decompresses to more than \(limit) bytes")
                    }
                    output.append(contentsOf: buffer[0..<progress.written])
                }
                // Done when all input is read and nothing is left to flush.
                if inBuffer.pos == inBuffer.size && progress.written < chunk { break }
            }
        }
        guard !input.isEmpty else { throw DecompressionError(inputOffset: 0, reason: "empty input") }
        guard last == 0 else {
            throw DecompressionError(inputOffset: consumed, reason: "truncated: the last frame is incomplete")
        }
        return output
    }

    /// Whether `bytes` start with the zstd frame magic number.
    public static func isFrame(_ bytes: [UInt8]) -> Bool {
        bytes.count >= 4 && bytes[0] == 0x28 && bytes[1] == 0xB5 && bytes[2] == 0x2F && bytes[3] == 0xFD
    }

    /// Compresses `input` as one frame (with its content size), at `level`.
    public static func compress(_ input: [UInt8], level: Int32 = 3) throws -> [UInt8] {
        let bound = ZSTD_compressBound(input.count)
        var out = [UInt8](repeating: 0, count: bound)
        let written = input.withUnsafeBytes { src in
            out.withUnsafeMutableBytes { dst in ZSTD_compress(dst.baseAddress, bound, src.baseAddress, src.count, level) }
        }
        guard ZSTD_isError(written) == 0, written <= out.count else {
            throw DecompressionError(inputOffset: 0, reason: "compression failed: \(String(cString: ZSTD_getErrorName(written)))")
        }
        out.removeSubrange(written...)
        return out
    }
}

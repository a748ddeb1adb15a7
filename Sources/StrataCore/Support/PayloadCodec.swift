import CZstd

/// zstd compression of large payloads.
public enum PayloadCodec {
    /// Payloads at least this large are stored compressed.
    public static let compressionThreshold = 4096

    public static func encode(_ json: [UInt8]) -> ([UInt8], PayloadCompression) {
        guard json.count >= compressionThreshold else { return (json, .none) }
        let bound = ZSTD_compressBound(json.count)
        var out = [UInt8](repeating: 0, count: bound)
        let written = json.withUnsafeBytes { src in
            out.withUnsafeMutableBytes { dst in
                ZSTD_compress(dst.baseAddress, bound, src.baseAddress, src.count, 3)
            }
        }
        // Incompressible input: keep it as is rather than store a larger frame.
        guard ZSTD_isError(written) == 0, written < json.count else { return (json, .none) }
        out.removeSubrange(written...)
        return (out, .zstd)
    }

    public static func decode(_ stored: [UInt8], _ compression: PayloadCompression) throws -> [UInt8] {
        switch compression {
        case .none: return stored
        case .zstd:
            let size = stored.withUnsafeBytes { ZSTD_getFrameContentSize($0.baseAddress, $0.count) }
            // ZSTD_CONTENTSIZE_UNKNOWN / _ERROR are the two largest UInt64 values.
            guard size < UInt64.max - 1, size <= 1 << 30 else {
                throw StrataError(.backend, "stored payload is not a zstd frame with a known size")
            }
            var out = [UInt8](repeating: 0, count: Int(size))
            let n = stored.withUnsafeBytes { src in
                out.withUnsafeMutableBytes { dst in ZSTD_decompress(dst.baseAddress, dst.count, src.baseAddress, src.count) }
            }
            guard ZSTD_isError(n) == 0 else {
                throw StrataError(.backend, "corrupt zstd payload: \(String(cString: ZSTD_getErrorName(n)))")
            }
            guard n == out.count else {
                throw StrataError(.backend, "corrupt zstd payload: the frame declares \(out.count) bytes but holds \(n)")
            }
            return out
        }
    }
}

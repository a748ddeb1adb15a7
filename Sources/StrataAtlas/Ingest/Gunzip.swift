import CZlib
import Foundation
import StrataAtlasModel
import StrataCore

/// gzip decompression (the OpenGrants exports are `.json.gz`), through the system's zlib.
///
/// Why not compress-nio (in the mirror): it is a streaming `ByteBuffer` codec for HTTP bodies, and
/// would bring swift-nio's channel-facing API and another zlib module into the Atlas target for one
/// whole-file inflate of local files. When the crawlers fetch gzip over HTTP (async-http-client
/// already decompresses responses), that path needs no code here; this stays the offline one. The
/// output is capped at 1 GiB.
public enum Gunzip {
    public static func isGzip(_ bytes: [UInt8]) -> Bool { bytes.count > 2 && bytes[0] == 0x1F && bytes[1] == 0x8B }

    public static func decompress(_ input: [UInt8], source: String) throws -> [UInt8] {
        var stream = z_stream()
        // 15 + 32: accept a gzip (or zlib) header.
        guard inflateInit2_(&stream, 15 + 32, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw StrataError(.invalidInput, "cannot initialize zlib", at: InputLocation(source: source))
        }
        defer { inflateEnd(&stream) }
        var output: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        var status: Int32 = Z_OK
        try input.withUnsafeBufferPointer { inBuffer in
            stream.next_in = UnsafeMutablePointer(mutating: inBuffer.baseAddress)
            stream.avail_in = uInt(inBuffer.count)
            repeat {
                let produced = chunk.withUnsafeMutableBufferPointer { outBuffer -> Int in
                    stream.next_out = outBuffer.baseAddress
                    stream.avail_out = uInt(outBuffer.count)
                    status = inflate(&stream, Z_NO_FLUSH)
                    return outBuffer.count - Int(stream.avail_out)
                }
                guard status == Z_OK || status == Z_STREAM_END else {
                    throw StrataError(.invalidInput, "corrupt or truncated gzip data (zlib status \(status))", at: InputLocation(source: source))
                }
                output.append(contentsOf: chunk[0..<produced])
                if output.count > 1 << 30 { throw StrataError(.invalidInput, "decompresses to more than 1 GiB", at: InputLocation(source: source)) }
            } while status != Z_STREAM_END && (stream.avail_in > 0 || stream.avail_out == 0)
        }
        guard status == Z_STREAM_END else {
            throw StrataError(.invalidInput, "truncated gzip data", at: InputLocation(source: source))
        }
        return output
    }
}

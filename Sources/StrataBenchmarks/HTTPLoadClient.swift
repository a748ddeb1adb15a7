import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A minimal HTTP/1.1 keep-alive client over blocking sockets, one thread per connection: cheap
/// enough that at 1,000 requests/s the latency it measures is the server's, not its own (libcurl
/// behind URLSession added milliseconds here).
final class HTTPConnection {
    private let fd: Int32
    private var buffer = [UInt8](repeating: 0, count: 1 << 16)
    private var pending: [UInt8] = []

    init(host: String, port: UInt16) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw HTTPLoadError("socket failed") }
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = port.bigEndian
        addr.sin_addr.s_addr = inet_addr(host)
        let connected = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            close(fd)
            throw HTTPLoadError("cannot connect to \(host):\(port)")
        }
    }

    deinit { close(fd) }

    /// Sends a GET and reads the whole response; returns the status code.
    func get(_ path: String, host: String) throws -> Int {
        let request = Array("GET \(path) HTTP/1.1\r\nHost: \(host)\r\nConnection: keep-alive\r\n\r\n".utf8)
        var sent = 0
        while sent < request.count {
            let n = request[sent...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
            guard n > 0 else { throw HTTPLoadError("send failed") }
            sent += n
        }
        // Headers, then Content-Length bytes of body.
        var headerEnd: Int?
        while headerEnd == nil {
            try fill()
            headerEnd = find([13, 10, 13, 10], in: pending)
        }
        let head = String(decoding: pending[..<headerEnd!], as: UTF8.self)
        let status = Int(head.split(separator: " ").dropFirst().first ?? "") ?? 0
        var length = 0
        for line in head.split(separator: "\r\n") where line.lowercased().hasPrefix("content-length:") {
            length = Int(line.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)) ?? 0
        }
        let total = headerEnd! + 4 + length
        while pending.count < total { try fill() }
        pending.removeFirst(total)
        return status
    }

    private func fill() throws {
        let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        guard n > 0 else { throw HTTPLoadError("connection closed") }
        pending.append(contentsOf: buffer[0..<n])
    }

    private func find(_ needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        for i in 0...(haystack.count - needle.count) where haystack[i] == needle[0] && Array(haystack[i..<(i + needle.count)]) == needle {
            return i
        }
        return nil
    }
}

struct HTTPLoadError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

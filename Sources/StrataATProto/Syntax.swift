import Foundation

/// atproto's identifier syntaxes (atproto.com/specs: did, handle, nsid, record-key, tid, at-uri,
/// lexicon string formats), checked byte by byte without regular expressions.
public enum Syntax {
    private static func isAlpha(_ c: UInt8) -> Bool { (c | 0x20) >= UInt8(ascii: "a") && (c | 0x20) <= UInt8(ascii: "z") }
    private static func isDigit(_ c: UInt8) -> Bool { c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9") }
    private static func isAlnum(_ c: UInt8) -> Bool { isAlpha(c) || isDigit(c) }

    /// `did:method:identifier`: method lowercase letters; identifier of letters, digits and `._:%-`,
    /// not ending in `:` or `%`; at most 2048 characters.
    public static func isValidDID(_ s: String) -> Bool {
        let b = Array(s.utf8)
        guard b.count <= 2048, b.count > 4, b.starts(with: Array("did:".utf8)) else { return false }
        var i = 4
        let methodStart = i
        while i < b.count, b[i] >= UInt8(ascii: "a"), b[i] <= UInt8(ascii: "z") { i += 1 }
        guard i > methodStart, i < b.count, b[i] == UInt8(ascii: ":") else { return false }
        i += 1
        guard i < b.count else { return false }
        for c in b[i...] {
            guard isAlnum(c) || c == UInt8(ascii: ".") || c == UInt8(ascii: "_") || c == UInt8(ascii: ":") || c == UInt8(ascii: "%") || c == UInt8(ascii: "-")
            else { return false }
        }
        return b.last != UInt8(ascii: ":") && b.last != UInt8(ascii: "%")
    }

    /// A domain name of at least two labels (letters, digits, hyphens; 1-63 each, no hyphen at
    /// either end), at most 253 characters, the last label starting with a letter.
    public static func isValidHandle(_ s: String) -> Bool {
        let b = Array(s.utf8)
        guard b.count <= 253 else { return false }
        let labels = b.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        guard labels.count >= 2 else { return false }
        for label in labels {
            guard (1...63).contains(label.count), label.allSatisfy({ isAlnum($0) || $0 == UInt8(ascii: "-") }),
                label.first != UInt8(ascii: "-"), label.last != UInt8(ascii: "-")
            else { return false }
        }
        return labels.last.map { isAlpha($0[$0.startIndex]) } ?? false
    }

    /// A reversed domain authority and a name: at least three segments, at most 317 characters; the
    /// first segment does not start with a digit, the name is letters and digits starting with a
    /// letter (at most 63).
    public static func isValidNSID(_ s: String) -> Bool {
        let b = Array(s.utf8)
        guard b.count <= 317 else { return false }
        let segments = b.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        guard segments.count >= 3, let name = segments.last, let first = segments.first else { return false }
        for segment in segments.dropLast() {
            guard (1...63).contains(segment.count), segment.allSatisfy({ isAlnum($0) || $0 == UInt8(ascii: "-") }),
                segment.first != UInt8(ascii: "-"), segment.last != UInt8(ascii: "-")
            else { return false }
        }
        guard !isDigit(first[first.startIndex]) else { return false }
        return (1...63).contains(name.count) && isAlpha(name[name.startIndex]) && name.allSatisfy(isAlnum)
    }

    /// 1-512 characters of letters, digits and `_~.:-`, not `.` or `..`.
    public static func isValidRecordKey(_ s: String) -> Bool {
        let b = Array(s.utf8)
        guard (1...512).contains(b.count), s != ".", s != ".." else { return false }
        return b.allSatisfy {
            isAlnum($0) || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "~") || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: ":") || $0 == UInt8(ascii: "-")
        }
    }

    /// 13 characters of base32-sortable (`234567a-z`), the first at most `j` (the top bit is 0).
    public static func isValidTID(_ s: String) -> Bool {
        let b = Array(s.utf8)
        guard b.count == 13 else { return false }
        func sortable(_ c: UInt8) -> Bool { (c >= UInt8(ascii: "2") && c <= UInt8(ascii: "7")) || (c >= UInt8(ascii: "a") && c <= UInt8(ascii: "z")) }
        guard b.allSatisfy(sortable) else { return false }
        return (b[0] >= UInt8(ascii: "2") && b[0] <= UInt8(ascii: "7")) || (b[0] >= UInt8(ascii: "a") && b[0] <= UInt8(ascii: "j"))
    }

    /// A DID or a handle.
    public static func isValidATIdentifier(_ s: String) -> Bool { isValidDID(s) || isValidHandle(s) }

    /// An MST key: `collection/rkey`, both parts non-empty, letters, digits and `_~.:-`, at most
    /// 1024 bytes (the repository spec's rule; it does not require the collection to be an NSID).
    public static func isValidMSTKey(_ s: String) -> Bool {
        let b = Array(s.utf8)
        guard b.count <= 1024 else { return false }
        let parts = b.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else { return false }
        return parts.allSatisfy { part in
            part.allSatisfy {
                isAlnum($0) || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "~") || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: ":") || $0 == UInt8(ascii: "-")
            }
        }
    }

    /// `at://AUTHORITY[/COLLECTION[/RKEY]]`: a DID or handle, an NSID, a record key; no query,
    /// fragment or trailing slash; at most 8 KiB.
    public static func isValidATURI(_ s: String) -> Bool {
        guard s.utf8.count <= 8192, s.hasPrefix("at://") else { return false }
        let parts = s.dropFirst(5).split(separator: "/", omittingEmptySubsequences: false)
        guard (1...3).contains(parts.count), isValidATIdentifier(String(parts[0])) else { return false }
        if parts.count >= 2 { guard isValidNSID(String(parts[1])) else { return false } }
        if parts.count == 3 { guard isValidRecordKey(String(parts[2])) else { return false } }
        return true
    }

    /// The lexicon `datetime` format: RFC 3339 with an uppercase `T`, seconds, an optional fraction,
    /// and `Z` or a numeric offset other than `-00:00`; a real date.
    public static func isValidDatetime(_ s: String) -> Bool {
        let b = Array(s.utf8)
        guard b.count >= 20, b.count <= 64 else { return false }
        func digits(_ range: Range<Int>) -> Int? {
            guard range.upperBound <= b.count else { return nil }
            var v = 0
            for i in range {
                guard isDigit(b[i]) else { return nil }
                v = v * 10 + Int(b[i] - UInt8(ascii: "0"))
            }
            return v
        }
        guard let year = digits(0..<4), b[4] == UInt8(ascii: "-"), let month = digits(5..<7), b[7] == UInt8(ascii: "-"),
            let day = digits(8..<10), b[10] == UInt8(ascii: "T"), let hour = digits(11..<13), b[13] == UInt8(ascii: ":"),
            let minute = digits(14..<16), b[16] == UInt8(ascii: ":"), let second = digits(17..<19)
        else { return false }
        guard (1...12).contains(month), hour <= 23, minute <= 59, second <= 60 else { return false }
        let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
        let days = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1]
        guard (1...days).contains(day) else { return false }
        var i = 19
        if b[i] == UInt8(ascii: ".") {
            i += 1
            let start = i
            while i < b.count, isDigit(b[i]) { i += 1 }
            guard i > start, i - start <= 20 else { return false }
        }
        guard i < b.count else { return false }
        if b[i] == UInt8(ascii: "Z") { return i + 1 == b.count }
        guard b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-"), b.count == i + 6, let oh = digits((i + 1)..<(i + 3)),
            b[i + 3] == UInt8(ascii: ":"), let om = digits((i + 4)..<(i + 6)), oh <= 23, om <= 59
        else { return false }
        return !(b[i] == UInt8(ascii: "-") && oh == 0 && om == 0)
    }

    /// The lexicon `cid` format: 8-256 characters of letters, digits, `+` and `=`, and not a CIDv0.
    public static func isValidCIDString(_ s: String) -> Bool {
        let b = Array(s.utf8)
        guard (8...256).contains(b.count), !s.hasPrefix("Qmb") else { return false }
        return b.allSatisfy { isAlnum($0) || $0 == UInt8(ascii: "+") || $0 == UInt8(ascii: "=") }
    }
}

/// The hostnames a relay accepts in `com.atproto.sync.requestCrawl`, as the reference relay rules
/// them: scheme optional (http:// or https://, dropped), case folded, a trailing slash dropped; a
/// domain of at least two labels whose last starts with a letter, at most 253 characters; no IP
/// address, no port, no path — except `localhost:PORT` for development.
public enum CrawlHostname {
    public static func normalize(_ input: String) throws(ATProtoError) -> String {
        var s = input.trimmingCharacters(in: .whitespacesAndNewlines).lowercased()
        for scheme in ["https://", "http://"] where s.hasPrefix(scheme) {
            s.removeFirst(scheme.count)
        }
        if s.hasSuffix("/") { s.removeLast() }
        guard !s.isEmpty else { throw ATProtoError("the hostname is empty") }
        guard s.utf8.count <= 253 else { throw ATProtoError("the hostname is longer than 253 characters") }
        guard !s.contains(where: { "/?#@ \\[]".contains($0) }) else { throw ATProtoError("'\(s.prefix(80))' is not a bare hostname (no path, query, user or brackets)") }
        if s.hasPrefix("localhost:") {
            guard let port = Int(s.dropFirst("localhost:".count)), (1...65535).contains(port), !s.hasSuffix(":0") else {
                throw ATProtoError("'\(s.prefix(80))': localhost needs a port 1-65535")
            }
            return "localhost:\(port)"
        }
        guard !s.contains(":") else { throw ATProtoError("'\(s.prefix(80))': ports are only allowed on localhost") }
        let labels = s.split(separator: ".", omittingEmptySubsequences: false)
        if labels.count == 4, labels.allSatisfy({ !$0.isEmpty && $0.allSatisfy(\.isNumber) }) {
            throw ATProtoError("'\(s)': IP addresses are not allowed, name a host")
        }
        guard labels.count >= 2 else { throw ATProtoError("'\(s.prefix(80))': a single-label name is not a public host") }
        guard Syntax.isValidHandle(s) else { throw ATProtoError("'\(s.prefix(80))' is not a valid hostname") }
        return s
    }
}

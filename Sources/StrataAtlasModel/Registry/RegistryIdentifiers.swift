import Foundation
import StrataCore

/// Package ids (purls without a version) and repository URLs as PG Atlas writes them.
public enum RegistryIdentifiers {
    /// `pkg:npm/` + the lowercased name, percent-encoded except `/` (so `@` becomes `%40`).
    public static func npm(_ name: String) -> String {
        "pkg:npm/" + percentEncode(name.lowercased(), keeping: "/")
    }

    /// `pkg:pypi/` + the PEP 503 normalized name.
    public static func pypi(_ name: String) -> String { "pkg:pypi/" + pep503(name) }

    public static func cargo(_ name: String) -> String { "pkg:cargo/" + name }

    public static func pub(_ name: String) -> String { "pkg:pub/" + name.lowercased() }

    /// `pkg:composer/vendor/name`.
    public static func composer(_ name: String) -> String { "pkg:composer/" + name }

    /// deps.dev's system (`PYPI`, `NPM`, `CARGO`, `MAVEN`, `GO`, `RUBYGEMS`, `NUGET`) as a purl type.
    public static func purlType(depsDevSystem system: String) -> String? {
        switch system.uppercased() {
        case "PYPI": "pypi"
        case "NPM": "npm"
        case "CARGO": "cargo"
        case "MAVEN": "maven"
        case "GO": "golang"
        case "RUBYGEMS": "gem"
        case "NUGET": "nuget"
        default: nil
        }
    }

    /// PEP 503: lowercase, runs of `-`, `_` and `.` become one `-`.
    public static func pep503(_ name: String) -> String {
        var out = ""
        var inRun = false
        for c in name.lowercased() {
            if c == "-" || c == "_" || c == "." {
                if !inRun { out.append("-") }
                inRun = true
            } else {
                out.append(c)
                inRun = false
            }
        }
        return out
    }

    /// Like Python's `urllib.parse.quote(text, safe=keeping)`.
    static func percentEncode(_ text: String, keeping: String) -> String {
        let keep = Set(keeping.utf8)
        var out = ""
        for b in text.utf8 {
            let unreserved = (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A)
                || b == UInt8(ascii: "-") || b == UInt8(ascii: "_") || b == UInt8(ascii: ".") || b == UInt8(ascii: "~")
            if unreserved || keep.contains(b) {
                out.unicodeScalars.append(Unicode.Scalar(b))
            } else {
                let hex = Array("0123456789ABCDEF")
                out.append("%")
                out.append(hex[Int(b >> 4)])
                out.append(hex[Int(b & 0xF)])
            }
        }
        return out
    }

    /// A repository URL as https without `git+`, credentials, query, fragment, trailing `.git` or `/`.
    ///
    /// Accepts `git+https://`, `git://`, `ssh://git@host/path`, `git@host:path`, `http://`, and
    /// npm's `github:`/`gitlab:`/`bitbucket:` shorthands. Returns nil for anything that is not a
    /// URL (e.g. `UNKNOWN`, an empty string, a bare path).
    public static func repositoryURL(_ raw: String) -> String? {
        var s = raw.trimmingCharacters(in: .whitespacesAndNewlines)
        if s.hasPrefix("git+") { s.removeFirst(4) }
        let lower = s.lowercased()
        for (prefix, host) in [("github:", "github.com"), ("gitlab:", "gitlab.com"), ("bitbucket:", "bitbucket.org")]
        where lower.hasPrefix(prefix) && !lower.hasPrefix(prefix + "//") {
            s = "https://\(host)/" + s.dropFirst(prefix.count)
        }
        // scp-like `git@github.com:owner/repo.git`
        if !s.contains("://"), let at = s.firstIndex(of: "@"), let colon = s[at...].firstIndex(of: ":") {
            s = "https://" + s[s.index(after: at)..<colon] + "/" + s[s.index(after: colon)...]
        }
        guard let schemeEnd = s.range(of: "://") else { return nil }
        let scheme = s[..<schemeEnd.lowerBound].lowercased()
        guard ["https", "http", "git", "ssh", "git+ssh"].contains(scheme) else { return nil }
        var rest = String(s[schemeEnd.upperBound...])
        if let cut = rest.firstIndex(where: { $0 == "#" || $0 == "?" }) { rest = String(rest[..<cut]) }
        var authority = rest
        var path = ""
        if let slash = rest.firstIndex(of: "/") {
            authority = String(rest[..<slash])
            path = String(rest[slash...])
        }
        if let at = authority.lastIndex(of: "@") { authority = String(authority[authority.index(after: at)...]) }
        // ssh's port or an scp-style colon has no place in an https URL.
        if scheme != "https" && scheme != "http", let colon = authority.firstIndex(of: ":") {
            authority = String(authority[..<colon])
        }
        authority = authority.lowercased()
        guard !authority.isEmpty, authority.contains(".") || authority == "localhost" else { return nil }
        while true {
            if path.hasSuffix("/") {
                path.removeLast()
            } else if path.lowercased().hasSuffix(".git") {
                path.removeLast(4)
            } else {
                break
            }
        }
        return "https://" + authority + path
    }
}

enum RegistryText {
    /// The date if it is RFC 3339 (a PyPI `upload_time` without offset is UTC and gets a `Z`).
    static func rfc3339(_ text: String?) -> String? {
        guard let text, !text.isEmpty else { return nil }
        if RFC3339.parse(text) != nil { return text }
        if RFC3339.parse(text + "Z") != nil { return text + "Z" }
        return nil
    }

    /// Compares versions segment by segment: numbers numerically, other text lexically; a version
    /// that ends where the other continues is smaller.
    static func versionLess(_ a: String, _ b: String) -> Bool {
        let x = segments(a)
        let y = segments(b)
        for (p, q) in zip(x, y) where p != q {
            switch (p, q) {
            case (.number(let m), .number(let n)): return m < n
            case (.number, .text): return false
            case (.text, .number): return true
            case (.text(let m), .text(let n)): return m < n
            }
        }
        if x.count != y.count { return x.count < y.count }
        return a < b
    }

    enum Segment: Equatable {
        case number(UInt64)
        case text(String)
    }

    static func segments(_ version: String) -> [Segment] {
        var out: [Segment] = []
        var current = ""
        var numeric = false
        func flush() {
            guard !current.isEmpty else { return }
            if numeric, let n = UInt64(current) {
                out.append(.number(n))
            } else {
                out.append(.text(current))
            }
            current = ""
        }
        for c in version {
            if c.isASCII && c.isNumber {
                if !numeric { flush() }
                numeric = true
                current.append(c)
            } else if c.isLetter {
                if numeric { flush() }
                numeric = false
                current.append(c)
            } else {
                flush()
            }
        }
        flush()
        return out
    }

    /// Packagist's order: the dot-separated parts after a leading `v` as integers (0 when not one).
    static func composerTuple(_ version: String) -> [Int] {
        var text = Substring(version)
        while text.hasPrefix("v") { text = text.dropFirst() }
        return text.split(separator: ".", omittingEmptySubsequences: false).map { Int($0) ?? 0 }
    }

    static func tupleLess(_ a: [Int], _ b: [Int]) -> Bool {
        for (x, y) in zip(a, b) where x != y { return x < y }
        return a.count < b.count
    }

    /// Sorts releases by date (undated last), then by version.
    static func sortReleases(_ releases: [RegistryObservation.Release]) -> [RegistryObservation.Release] {
        let keyed = releases.map { ($0, $0.date.flatMap(RFC3339.parse)) }
        return keyed.sorted { l, r in
            switch (l.1, r.1) {
            case (let a?, let b?) where a != b: return a < b
            case (.some, nil): return true
            case (nil, .some): return false
            default: return versionLess(l.0.version, r.0.version)
            }
        }.map(\.0)
    }

    /// Sorts by purl, then range (nil first), without exact duplicates.
    static func sortDependencies(_ dependencies: [RegistryObservation.Dependency]) -> [RegistryObservation.Dependency] {
        var out: [RegistryObservation.Dependency] = []
        func less(_ l: RegistryObservation.Dependency, _ r: RegistryObservation.Dependency) -> Bool {
            if l.purl != r.purl { return l.purl < r.purl }
            switch (l.versionRange, r.versionRange) {
            case (let a?, let b?): return a < b
            case (nil, .some): return true
            default: return false
            }
        }
        for d in dependencies.sorted(by: less) where out.last != d {
            out.append(d)
        }
        return out
    }
}

/// A PEP 508 requirement as PG Atlas reads `requires_dist`: the name, the version specifier and
/// the environment marker.
struct PythonRequirement: Equatable {
    var name: String
    var specifier: String?
    var marker: String?

    /// Nil when the text does not start with a valid project name.
    init?(_ text: String) {
        var requirement = Substring(text)
        if let semicolon = requirement.firstIndex(of: ";") {
            let m = requirement[requirement.index(after: semicolon)...].trimmingCharacters(in: .whitespaces)
            marker = m.isEmpty ? nil : m
            requirement = requirement[..<semicolon]
        }
        var rest = Substring(requirement.trimmingCharacters(in: .whitespaces))
        let nameEnd = rest.firstIndex { !($0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == ".")) }
            ?? rest.endIndex
        let name = rest[..<nameEnd]
        guard let first = name.first, first.isLetter || first.isNumber, let last = name.last, last.isLetter || last.isNumber
        else { return nil }
        self.name = String(name)
        rest = Substring(rest[nameEnd...].trimmingCharacters(in: .whitespaces))
        if rest.hasPrefix("[") {
            guard let close = rest.firstIndex(of: "]") else { return nil }
            rest = Substring(rest[rest.index(after: close)...].trimmingCharacters(in: .whitespaces))
        }
        if rest.hasPrefix("@") {
            specifier = nil  // a direct reference (URL) has no version range
            return
        }
        if rest.hasPrefix("(") {
            guard rest.hasSuffix(")") else { return nil }
            rest = rest.dropFirst().dropLast()
        }
        let spec = String(rest.filter { !$0.isWhitespace })
        guard spec.isEmpty || "<>=!~".contains(spec.first!) else { return nil }
        specifier = spec.isEmpty ? nil : spec
    }
}

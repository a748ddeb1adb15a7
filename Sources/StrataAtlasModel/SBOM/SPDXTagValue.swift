import Foundation
import StrataCore

/// SPDX 2.2/2.3 tag-value documents (`Tag: value` lines, `<text>...</text>` for multi-line values,
/// `#` comments), read into the JSON form's shape so one graph builder serves both.
///
/// The conversion keeps what the graph and the checks need — the document's creation info, each
/// package's id, name, version, download location and external references, the ids of files and
/// snippets, relationships — and leaves the rest (licenses, checksums, annotations, ...) in the
/// original text, which is what the log keeps. Checked: the version, the mandatory document fields
/// (SPDXVersion, DataLicense, SPDXID, DocumentName, DocumentNamespace, Creator, Created), each
/// package's SPDXID and PackageDownloadLocation, relationship syntax, text blocks that end; every
/// problem names its line.
public enum SPDXTagValue {
    /// Whether `text` looks like a tag-value document: its first line that is not blank or a
    /// comment is `SPDXVersion: ...`.
    public static func looks(like text: String) -> Bool {
        var rest = Substring(text)
        while !rest.isEmpty {
            let end = rest.firstIndex(where: \.isNewline) ?? rest.endIndex
            let line = rest[..<end].trimmingCharacters(in: .whitespaces)
            rest = end == rest.endIndex ? "" : rest[rest.index(after: end)...]
            if line.isEmpty || line.hasPrefix("#") { continue }
            return line.hasPrefix("SPDXVersion:")
        }
        return false
    }

    /// Decodes a document's bytes: UTF-8 (with or without a byte-order mark) or UTF-16 with one.
    public static func decode(_ bytes: [UInt8]) -> String? {
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { return String(validating: bytes.dropFirst(3), as: UTF8.self) }
        if bytes.starts(with: [0xFF, 0xFE]) || bytes.starts(with: [0xFE, 0xFF]) {
            let big = bytes[0] == 0xFE
            var units: [UInt16] = []
            units.reserveCapacity(bytes.count / 2)
            var i = 2
            while i + 1 < bytes.count {
                units.append(big ? UInt16(bytes[i]) << 8 | UInt16(bytes[i + 1]) : UInt16(bytes[i + 1]) << 8 | UInt16(bytes[i]))
                i += 2
            }
            return String(validating: units, as: UTF16.self)
        }
        return String(validating: bytes, as: UTF8.self)
    }

    struct Line {
        var number: Int
        var tag: String
        var value: String
    }

    /// Splits the text into tag/value pairs, joining `<text>` blocks.
    static func lines(_ text: String) throws(SBOMError) -> [Line] {
        var result: [Line] = []
        var problems: [String] = []
        let raw = text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" || $0 == "\r" })
        var i = 0
        while i < raw.count {
            let number = i + 1
            let line = String(raw[i])
            i += 1
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
            guard let colon = trimmed.firstIndex(of: ":") else {
                problems.append("line \(number): expected \"Tag: value\", found \"\(trimmed.prefix(60))\"")
                continue
            }
            let tag = String(trimmed[..<colon]).trimmingCharacters(in: .whitespaces)
            var value = String(trimmed[trimmed.index(after: colon)...]).trimmingCharacters(in: .whitespaces)
            if tag.isEmpty || tag.contains(" ") {
                problems.append("line \(number): \"\(tag)\" is not a tag")
                continue
            }
            if value.hasPrefix("<text>") {
                var body = String(value.dropFirst("<text>".count))
                var closed = false
                while true {
                    if let end = body.range(of: "</text>") {
                        body = String(body[..<end.lowerBound])
                        closed = true
                        break
                    }
                    guard i < raw.count else { break }
                    body += "\n" + raw[i]
                    i += 1
                }
                if !closed {
                    problems.append("line \(number): the <text> block of \(tag) has no </text>")
                    break
                }
                value = body
            }
            result.append(Line(number: number, tag: tag, value: value))
        }
        if !problems.isEmpty { throw SBOMError(Array(problems.prefix(10))) }
        return result
    }

    /// The document in the JSON form's shape, and its graph.
    public static func parse(_ text: String) throws(SBOMError) -> (document: JSONValue, sbom: SBOMDocument) {
        let lines = try lines(text)
        var problems: [String] = []
        var doc: [String: JSONValue] = [:]
        var creators: [JSONValue] = []
        var created: String?
        var packages: [[String: JSONValue]] = []
        var files: [[String: JSONValue]] = []
        var snippets: [[String: JSONValue]] = []
        var relationships: [JSONValue] = []
        var relationshipLines: [Int] = []
        enum Section { case document, package, file, snippet, other }
        var section = Section.document
        var packageLines: [Int] = []

        /// Document fields that appear once: where each was first given.
        var seen: [String: Int] = [:]
        let once: Set<String> = ["SPDXVersion", "DataLicense", "DocumentName", "DocumentNamespace", "Created", "LicenseListVersion"]
        for line in lines {
            let value = line.value
            if once.contains(line.tag) {
                if let first = seen[line.tag] {
                    problems.append("line \(line.number): \(line.tag) is given twice (first on line \(first))")
                    continue
                }
                seen[line.tag] = line.number
            }
            switch line.tag {
            case "SPDXVersion": doc["spdxVersion"] = .string(value)
            case "DataLicense": doc["dataLicense"] = .string(value)
            case "DocumentName": doc["name"] = .string(value)
            case "DocumentNamespace": doc["documentNamespace"] = .string(value)
            case "Creator": creators.append(.string(value))
            case "Created": created = value
            case "PackageName":
                section = .package
                packages.append(["name": .string(value)])
                packageLines.append(line.number)
            case "FileName":
                section = .file
                files.append(["fileName": .string(value)])
            case "SnippetSPDXID":
                section = .snippet
                snippets.append(["SPDXID": .string(value)])
            case "LicenseID", "Annotator", "Reviewer":
                section = .other
            case "SPDXID":
                switch section {
                case .document where doc["SPDXID"] == nil: doc["SPDXID"] = .string(value)
                case .package: packages[packages.count - 1]["SPDXID"] = .string(value)
                case .file: files[files.count - 1]["SPDXID"] = .string(value)
                default: problems.append("line \(line.number): SPDXID outside a document, package or file section")
                }
            case "PackageVersion" where section == .package: packages[packages.count - 1]["versionInfo"] = .string(value)
            case "PackageDownloadLocation" where section == .package: packages[packages.count - 1]["downloadLocation"] = .string(value)
            case "ExternalRef" where section == .package:
                let parts = value.split(whereSeparator: \.isWhitespace).map(String.init)
                guard parts.count == 3 else {
                    problems.append("line \(line.number): ExternalRef needs \"CATEGORY TYPE LOCATOR\", found \"\(value)\"")
                    continue
                }
                var refs = packages[packages.count - 1]["externalRefs"]?.arrayValue ?? []
                refs.append(["referenceCategory": .string(parts[0]), "referenceType": .string(parts[1]), "referenceLocator": .string(parts[2])])
                packages[packages.count - 1]["externalRefs"] = .array(refs)
            case "Relationship":
                let parts = value.split(whereSeparator: \.isWhitespace).map(String.init)
                guard parts.count == 3 else {
                    problems.append("line \(line.number): Relationship needs \"ELEMENT TYPE ELEMENT\", found \"\(value)\"")
                    continue
                }
                relationships.append(["spdxElementId": .string(parts[0]), "relationshipType": .string(parts[1]), "relatedSpdxElement": .string(parts[2])])
                relationshipLines.append(line.number)
            default:
                break  // license, checksum, annotation and other fields: kept in the original text
            }
        }
        let version = doc["spdxVersion"]?.stringValue
        let format: SBOMDocument.Format
        switch version {
        case "SPDX-2.2": format = .spdx22TagValue
        case "SPDX-2.3": format = .spdx23TagValue
        case nil: throw SBOMError("SPDXVersion: missing (expected SPDX-2.2 or SPDX-2.3)")
        case let v?: throw SBOMError("SPDXVersion: \"\(v)\" is not supported (SPDX-2.2 and SPDX-2.3 are)")
        }
        for (key, tag) in [("dataLicense", "DataLicense"), ("SPDXID", "SPDXID"), ("name", "DocumentName"), ("documentNamespace", "DocumentNamespace")]
        where doc[key] == nil {
            problems.append("\(tag): missing required document field")
        }
        if creators.isEmpty { problems.append("Creator: missing (at least one is required)") }
        if let created {
            if RFC3339.parse(created) == nil { problems.append("Created: \"\(created)\" is not a date-time (YYYY-MM-DDThh:mm:ssZ)") }
        } else {
            problems.append("Created: missing required document field")
        }
        for (i, p) in packages.enumerated() {
            let at = "line \(packageLines[i]) (package \(p["name"]?.stringValue ?? ""))"
            if p["SPDXID"] == nil { problems.append("\(at): SPDXID missing") }
            if p["downloadLocation"] == nil { problems.append("\(at): PackageDownloadLocation missing") }
        }
        if !problems.isEmpty { throw SBOMError(Array(problems.prefix(10))) }
        doc["creationInfo"] = ["created": .string(created ?? ""), "creators": .array(creators)]
        doc["packages"] = .array(packages.map(JSONValue.object))
        if !files.isEmpty { doc["files"] = .array(files.map(JSONValue.object)) }
        if !snippets.isEmpty { doc["snippets"] = .array(snippets.map(JSONValue.object)) }
        doc["relationships"] = .array(relationships)
        let document = JSONValue.object(doc)
        let sbom: SBOMDocument
        do {
            sbom = try SPDXGraph.build(document, format: format)
        } catch {
            // The graph builder names JSON paths; name the tag-value lines instead.
            throw SBOMError(error.reasons.map { reason in
                for (prefix, numbers) in [("/relationships/", relationshipLines), ("/packages/", packageLines)] where reason.hasPrefix(prefix) {
                    let rest = reason.dropFirst(prefix.count)
                    let digits = rest.prefix(while: \.isNumber)
                    if let index = Int(digits), index < numbers.count {
                        let tail = rest.dropFirst(digits.count).drop { $0 != ":" }
                        return "line \(numbers[index])\(tail)"
                    }
                }
                return reason
            })
        }
        return (document, sbom)
    }
}

import Foundation

/// The payload schemas, one JSON Schema per event type and version, loaded from `schemas/`.
///
/// A schema file is named `<type>.v<version>.json` (`sbom.submitted.v1.json`). Other JSON files in
/// the folder tree (for example the CycloneDX schemas under `schemas/external/`) are loaded too, so
/// payload schemas can `$ref` them by relative path.
public struct SchemaCatalog: Sendable {
    public let registry: SchemaRegistry
    /// Versions per type.
    public let versions: [String: [Int]]

    static func uri(type: String, version: Int) -> String { "strata:schemas/\(type).v\(version).json" }

    public func hasSchema(type: String, version: Int) -> Bool { versions[type]?.contains(version) ?? false }

    /// Validates a payload; returns its violations (empty when valid).
    public func violations(of payload: JSONValue, type: String, version: Int, limit: Int = 5) -> [SchemaViolation] {
        registry.validate(payload, against: SchemaCatalog.uri(type: type, version: version), limit: limit)
    }

    /// Loads every `*.json` under `directory`.
    public static func load(from directory: URL) throws -> SchemaCatalog {
        let fm = FileManager.default
        guard let enumerator = fm.enumerator(at: directory, includingPropertiesForKeys: nil) else {
            throw StrataError(.invalidSchema, "cannot read schema folder \(directory.path)")
        }
        var documents: [(uri: String, document: JSONValue)] = []
        var versions: [String: [Int]] = [:]
        let root = directory.standardizedFileURL.path
        for case let url as URL in enumerator where url.pathExtension == "json" {
            let path = url.standardizedFileURL.path
            let relative = path.hasPrefix(root + "/") ? String(path.dropFirst(root.count + 1)) : url.lastPathComponent
            let bytes: [UInt8]
            do {
                bytes = Array(try Data(contentsOf: url))
            } catch {
                throw StrataError(.invalidSchema, "cannot read schema: \(error.localizedDescription)", at: InputLocation(source: path))
            }
            let document: JSONValue
            do {
                document = try JSONParser.parse(bytes)
            } catch {
                throw StrataError(.invalidSchema, "\(error.reason)", at: InputLocation(source: path, line: error.line, column: error.column))
            }
            documents.append((uri: "strata:schemas/" + relative, document: document))
            if !relative.contains("/"), let (type, version) = parseName(url.lastPathComponent) {
                versions[type, default: []].append(version)
            }
        }
        let registry: SchemaRegistry
        do {
            registry = try SchemaRegistry(documents: documents)
        } catch let error as SchemaDefinitionError {
            throw StrataError(.invalidSchema, error.description)
        }
        return SchemaCatalog(registry: registry, versions: versions.mapValues { $0.sorted() })
    }

    /// Builds a catalog from in-memory schemas (tests, embedded defaults).
    public static func make(_ schemas: [(type: String, version: Int, schema: JSONValue)]) throws -> SchemaCatalog {
        let documents = schemas.map { (uri: uri(type: $0.type, version: $0.version), document: $0.schema) }
        var versions: [String: [Int]] = [:]
        for s in schemas { versions[s.type, default: []].append(s.version) }
        do {
            return SchemaCatalog(registry: try SchemaRegistry(documents: documents), versions: versions.mapValues { $0.sorted() })
        } catch let error as SchemaDefinitionError {
            throw StrataError(.invalidSchema, error.description)
        }
    }

    /// `sbom.submitted.v1.json` -> ("sbom.submitted", 1)
    static func parseName(_ file: String) -> (String, Int)? {
        guard file.hasSuffix(".json") else { return nil }
        let stem = file.dropLast(5)
        guard let dot = stem.lastIndex(of: "."), stem[stem.index(after: dot)...].hasPrefix("v"),
            let version = Int(stem[stem.index(dot, offsetBy: 2)...]), version > 0
        else { return nil }
        return (String(stem[..<dot]), version)
    }
}

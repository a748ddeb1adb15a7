import Foundation
import Yams

/// The topics Strata runs with, as declared in `topology/topics.yaml`.
///
/// ```yaml
/// topics:
///   ledger:
///     partitions: 8
///     types: [stellar.ledger.closed]
///     max_payload_bytes: 16777216
///     description: Stellar ledgers, one event per closed ledger.
/// ```
public struct Topology: Sendable, Equatable {
    public var topics: [String: TopicSpec]

    public init(topics: [TopicSpec]) {
        self.topics = Dictionary(topics.map { ($0.name, $0) }, uniquingKeysWith: { _, last in last })
    }

    public var sortedTopics: [TopicSpec] { topics.values.sorted { $0.name < $1.name } }

    public static let maximumPartitions = 1024
    static let topicKeys: Set<String> = ["partitions", "types", "max_payload_bytes", "description"]

    /// Loads and validates a topology file.
    public static func load(from url: URL) throws -> Topology {
        let text: String
        do {
            text = try String(contentsOf: url, encoding: .utf8)
        } catch {
            throw StrataError(.invalidTopology, "cannot read topology file: \(error.localizedDescription)",
                at: InputLocation(source: url.path))
        }
        return try parse(text, source: url.path)
    }

    /// Parses a topology document; every error names the line it is about.
    public static func parse(_ text: String, source: String) throws -> Topology {
        func fail(_ message: String, _ mark: Mark?) -> StrataError {
            StrataError(.invalidTopology, message, at: InputLocation(source: source, line: mark?.line, column: mark?.column))
        }
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch let error as YamlError {
            throw fail("not valid YAML: \(yamlProblem(error))", yamlMark(error))
        }
        guard let root, let top = root.mapping else {
            throw fail("expected a mapping with a 'topics' key", root?.mark)
        }
        for (key, _) in top where key.string != "topics" {
            throw fail("unknown key '\(key.string ?? "?")' (expected 'topics')", key.mark)
        }
        guard let topicsNode = top["topics"] else { throw fail("missing 'topics'", top.mark) }
        guard let topicsMapping = topicsNode.mapping else { throw fail("'topics' must be a mapping of topic names", topicsNode.mark) }
        var specs: [TopicSpec] = []
        var seen: Set<String> = []
        for (nameNode, body) in topicsMapping {
            guard let name = nameNode.string, isValidTopicName(name) else {
                throw fail("invalid topic name '\(nameNode.string ?? "?")': use 1-64 of a-z, 0-9, '.', '_', '-'", nameNode.mark)
            }
            guard seen.insert(name).inserted else { throw fail("topic '\(name)' is declared twice", nameNode.mark) }
            guard let fields = body.mapping else { throw fail("topic '\(name)' must be a mapping", body.mark) }
            for (key, _) in fields where !topicKeys.contains(key.string ?? "") {
                throw fail("unknown key '\(key.string ?? "?")' in topic '\(name)' (expected one of: \(topicKeys.sorted().joined(separator: ", ")))", key.mark)
            }
            guard let partitionsNode = fields["partitions"] else {
                throw fail("topic '\(name)' is missing 'partitions'", body.mark)
            }
            guard let partitions = partitionsNode.scalar.flatMap({ Int($0.string) }), (1...maximumPartitions).contains(partitions) else {
                throw fail("topic '\(name)': partitions must be an integer from 1 to \(maximumPartitions), got '\(partitionsNode.string ?? "?")'", partitionsNode.mark)
            }
            var types: [String] = []
            if let typesNode = fields["types"] {
                guard let seq = typesNode.sequence else { throw fail("topic '\(name)': 'types' must be a list", typesNode.mark) }
                for t in seq {
                    guard let s = t.string, !s.isEmpty else { throw fail("topic '\(name)': event types must be strings", t.mark) }
                    types.append(s)
                }
            }
            var maxPayload = TopicSpec.defaultMaxPayloadBytes
            if let m = fields["max_payload_bytes"] {
                guard let v = m.scalar.flatMap({ Int($0.string) }), v > 0, v <= 256 << 20 else {
                    throw fail("topic '\(name)': max_payload_bytes must be an integer from 1 to \(256 << 20)", m.mark)
                }
                maxPayload = v
            }
            specs.append(TopicSpec(name: name, partitions: partitions, eventTypes: types, maxPayloadBytes: maxPayload,
                description: fields["description"]?.string ?? ""))
        }
        if specs.isEmpty { throw fail("no topics declared", topicsNode.mark) }
        return Topology(topics: specs)
    }

    public static func isValidTopicName(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count <= 64
            && name.utf8.allSatisfy { ($0 >= 97 && $0 <= 122) || ($0 >= 48 && $0 <= 57) || $0 == 46 || $0 == 95 || $0 == 45 }
    }

    public static func yamlMark(_ error: YamlError) -> Mark? {
        switch error {
        case .scanner(_, _, let mark, _), .parser(_, _, let mark, _), .composer(_, _, let mark, _): return mark
        default: return nil
        }
    }

    public static func yamlProblem(_ error: YamlError) -> String {
        switch error {
        case .scanner(_, let problem, _, _), .parser(_, let problem, _, _), .composer(_, let problem, _, _): return problem
        default: return "\(error)"
        }
    }
}

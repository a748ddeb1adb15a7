/// Where a piece of input came from: a file (or `stdin`, or an HTTP request) and a line in it.
public struct InputLocation: Sendable, Hashable, CustomStringConvertible {
    public var source: String
    public var line: Int?
    public var column: Int?

    public init(source: String, line: Int? = nil, column: Int? = nil) {
        self.source = source
        self.line = line
        self.column = column
    }

    public var description: String {
        var text = source
        if let line { text += ":\(line)" }
        if let column { text += ":\(column)" }
        return text
    }
}

/// The one error type Strata's modules throw to callers: a code to branch on, a message for humans,
/// and, for bad input, where the input was wrong.
public struct StrataError: Error, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let name: String
        private init(_ name: String) { self.name = name }
        public var description: String { name }

        /// The input is not well-formed JSON.
        public static let malformedJSON = Code("malformed_json")
        /// The event envelope is missing a field or has a field of the wrong shape.
        public static let invalidEnvelope = Code("invalid_envelope")
        /// The payload does not match the schema of its type and version.
        public static let schemaViolation = Code("schema_violation")
        /// The topic is not declared in the topology.
        public static let unknownTopic = Code("unknown_topic")
        /// The event type (or version) has no schema, or is not allowed on the topic.
        public static let unknownEventType = Code("unknown_event_type")
        /// The payload is larger than the topic allows.
        public static let payloadTooLarge = Code("payload_too_large")
        /// The topology file is invalid or disagrees with the log.
        public static let invalidTopology = Code("invalid_topology")
        /// A schema document is itself invalid.
        public static let invalidSchema = Code("invalid_schema")
        /// Configuration (flags, environment, URLs) is invalid.
        public static let invalidConfiguration = Code("invalid_configuration")
        /// A requested partition, offset or object does not exist.
        public static let notFound = Code("not_found")
        /// The storage backend failed; the operation had no effect.
        public static let backend = Code("backend")
        /// The embedded PostgreSQL cluster could not be created, started or stopped.
        public static let embeddedDatabase = Code("embedded_database")
        /// Input that a domain parser rejected (an SBOM, a ledger file, ...).
        public static let invalidInput = Code("invalid_input")
        /// The operation conflicts with the current state (e.g. a replay already running).
        public static let conflict = Code("conflict")
        /// A source Strata reads from (a data lake, a registry) failed or answered with an error.
        public static let upstream = Code("upstream")
        /// A wait passed its deadline (the database did not answer in time); nothing is known to
        /// have happened.
        public static let timeout = Code("timeout")
    }

    public var code: Code
    public var message: String
    public var location: InputLocation?

    public init(_ code: Code, _ message: String, at location: InputLocation? = nil) {
        self.code = code
        self.message = message
        self.location = location
    }

    public var description: String {
        if let location { return "\(location): \(message)" }
        return message
    }

    /// The same error, located at `location` unless it already has a location.
    public func located(at location: InputLocation?) -> StrataError {
        var copy = self
        if copy.location == nil { copy.location = location }
        return copy
    }
}

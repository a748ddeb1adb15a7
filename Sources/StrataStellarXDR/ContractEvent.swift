/// A `ContractEvent`, or the event inside a `DiagnosticEvent`.
public struct DecodedContractEvent: Sendable, Equatable {
    /// The emitting contract as a `C...` strkey; nil for events without one.
    public var contractID: String?
    /// `ContractEventType`: 0 system, 1 contract, 2 diagnostic.
    public var type: Int
    /// Set only for events read from a `DiagnosticEvent` wrapper (whatever their `type`).
    public var inSuccessfulContractCall: Bool?
    public var topics: [SCValue]
    public var data: SCValue

    public init(contractID: String?, type: Int, inSuccessfulContractCall: Bool? = nil, topics: [SCValue], data: SCValue) {
        self.contractID = contractID
        self.type = type
        self.inSuccessfulContractCall = inSuccessfulContractCall
        self.topics = topics
        self.data = data
    }
}

/// A v4 transaction-level event (today: fee charges and refunds) and when it happened.
public struct DecodedTransactionEvent: Sendable, Equatable {
    /// `TransactionEventStage`: 0 before all transactions, 1 after this one, 2 after all transactions.
    public var stage: Int
    public var event: DecodedContractEvent
}

extension XDRReader {
    public mutating func readContractEvent() throws -> DecodedContractEvent {
        try readEmptyExtension("ContractEvent.ext")
        let contractID = try readOptional("ContractEvent.contractID") { r in StrKey.encode(.contract, try r.readHash("ContractID")) }
        let type = try readDiscriminant("ContractEventType", allowed: 0...2)
        _ = try readDiscriminant("ContractEvent.body", allowed: 0...0)
        let topics = try readArray("ContractEvent.topics") { r in try r.readSCValue() }
        return DecodedContractEvent(contractID: contractID, type: Int(type), topics: topics, data: try readSCValue())
    }

    public mutating func readDiagnosticEvent() throws -> DecodedContractEvent {
        let successful = try readBool("DiagnosticEvent.inSuccessfulContractCall")
        var event = try readContractEvent()
        event.inSuccessfulContractCall = successful
        return event
    }

    public mutating func readTransactionEvent() throws -> DecodedTransactionEvent {
        let stage = try readDiscriminant("TransactionEventStage", allowed: 0...2)
        return DecodedTransactionEvent(stage: Int(stage), event: try readContractEvent())
    }
}

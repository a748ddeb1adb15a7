import StrataCore

// Temporary while the registry parsers are written (replaced by RegistryIngest.swift).
extension AtlasIngest {
    public func registryDraftsIfAvailable(paths: [String]) throws -> [EventDraft] { [] }
}

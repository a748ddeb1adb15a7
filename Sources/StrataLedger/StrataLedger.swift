// The Stellar ledger domain.

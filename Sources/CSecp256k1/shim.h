#include <secp256k1.h>

/// secp256k1_context_static is a C global, which Swift 6 refuses to read from concurrent code; the
/// context is immutable (verification needs nothing else).
static inline const secp256k1_context *strata_secp256k1_context(void) { return secp256k1_context_static; }

/// A context for signing (the static one cannot sign): made once, by the caller.
static inline secp256k1_context *strata_secp256k1_signing_context(void) { return secp256k1_context_create(SECP256K1_CONTEXT_NONE); }

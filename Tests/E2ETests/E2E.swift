import Testing

/// End-to-end proofs in real consumers, each a QEMU guest under TCG (no root, no KVM).
///
/// One parent suite, serialized: its nested suites (one per file, declared in extensions) run one
/// at a time, so at most one QEMU runs per test process on the 2-core machines.
@Suite(.serialized)
struct E2E {}

//! Unit tests over hand-built batches.

//! Corpus tests: every record batch in the real captures.

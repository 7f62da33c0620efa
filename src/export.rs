//! Stage 5: output.

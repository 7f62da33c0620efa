//! Stage 4: Kafka sessions.

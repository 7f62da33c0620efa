//! Stage 3: Kafka framing and headers.

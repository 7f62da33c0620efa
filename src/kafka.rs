//! Stage 3: Kafka framing and headers.
//!
//! Pure functions and small state machines over bytes: the API table
//! ([`api`]), request/response headers ([`header`]), the streaming framer with
//! gap handling and resynchronization ([`frame`]), and the plausibility tests
//! used to recognise Kafka without being told the port ([`detect`]), the
//! schema-driven body decoder generated from Kafka's message definitions
//! ([`schema`]), record batches and message sets with their codecs
//! ([`records`]), the error-code table ([`errors`]) and what the protocol
//! allows of them ([`rules`]). Nothing here knows
//! about connections or correlation; that is [`crate::session`].

pub mod api;
pub mod detect;
pub mod embedded;
pub mod errors;
pub mod frame;
pub mod header;
pub mod records;
pub mod rules;
pub mod schema;
pub mod secrets;

pub use api::ApiKey;

//! Producers: retries (repeated sequences), idempotence and transaction outcomes (committed, aborted, fenced), oversize messages, acks.

use super::Detector;

/// This family's detectors.
pub fn detectors() -> Vec<Box<dyn Detector>> {
    Vec::new()
}

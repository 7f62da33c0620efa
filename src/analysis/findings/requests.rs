//! Requests and responses: requests without responses (and what became of their connection), responses slower than the norm for their API on their broker, throttling.

use super::Detector;

/// This family's detectors.
pub fn detectors() -> Vec<Box<dyn Detector>> {
    Vec::new()
}

//! Bootstrap and version negotiation: clients that never complete bootstrap, ApiVersions failing or looping, API versions the client wants that the broker does not offer.

use super::Detector;

/// This family's detectors.
pub fn detectors() -> Vec<Box<dyn Detector>> {
    Vec::new()
}

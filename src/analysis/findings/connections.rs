//! Connections: resets, refused connections, reconnect storms, a broker that stopped answering.

use super::Detector;

/// This family's detectors.
pub fn detectors() -> Vec<Box<dyn Detector>> {
    Vec::new()
}

//! Consumer lag from the wire: fetch offsets against high watermarks per partition over time; OffsetCommit progress.

use super::Detector;

/// This family's detectors.
pub fn detectors() -> Vec<Box<dyn Detector>> {
    Vec::new()
}

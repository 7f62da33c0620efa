//! Consumer-group trouble, classic and KIP-848: rebalance storms, members that stopped heartbeating, rejected commits, coordinator moves and loading; normal membership changes as information.

use super::Detector;

/// This family's detectors.
pub fn detectors() -> Vec<Box<dyn Detector>> {
    Vec::new()
}

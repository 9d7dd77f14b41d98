//! Placement constraints (in progress).

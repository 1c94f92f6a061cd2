//! The scoring routing engine (being written).

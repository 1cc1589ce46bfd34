//! Shared helpers for braid's integration tests (`mod support;` in a test crate).

pub mod tshark;

//! Shared helpers for braid's integration tests (`mod support;` in a test crate).
#![allow(dead_code)] // each test crate uses a different part

pub mod captures;
pub mod tshark;

//! braid runtime.

pub mod capture;

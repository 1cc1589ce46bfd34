//! braid runtime.

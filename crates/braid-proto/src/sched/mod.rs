//! Schedulers: which subflow carries the next data (being built).

//! Deterministic network simulator (built in the simulator issue).

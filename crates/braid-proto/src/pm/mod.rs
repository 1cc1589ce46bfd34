//! Path manager: a pure policy, events in and actions out (being built).

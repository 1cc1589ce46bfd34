//! The parts of the `braid` command line that tests reach directly: the benchmark
//! suites of `braid bench`, so that a test can run just the cases behind one target,
//! and the simulated applications `braid demo` shares with them.

pub mod bench;
pub mod waiting_sink;

//! The parts of the `braid` command line that tests reach directly: the benchmark
//! suites of `braid bench`, so that a test can run just the cases behind one target.

pub mod bench;

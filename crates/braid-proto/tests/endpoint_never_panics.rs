//! The endpoint fuzz target's program on stable, with proptest: a live MPTCP pair
//! (two subflows, data both ways) with arbitrary segments injected, checked for
//! panics, for stream corruption and for bounded memory. The program and its oracles
//! are `fuzz/src/endpoint_pair.rs`, shared with `cargo +nightly fuzz run
//! endpoint_pair` (fuzz/README.md).
//!
//! The cases are drawn from a fixed seed, so that the suite gives the same verdict on
//! every run. Failures the current core is known to have are listed in
//! [`KNOWN_FAILURES`] (where the panic happened, and its message): a case that fails
//! with one of them is reported and passes; any other failure fails the test. Empty
//! the list as the core is fixed.

#[path = "../../../fuzz/src/endpoint_pair.rs"]
mod endpoint_pair;

use std::cell::RefCell;
use std::panic::{catch_unwind, AssertUnwindSafe};

use proptest::prelude::*;
use proptest::test_runner::RngSeed;

/// (`file:line:` where the panic happened, or its start; a piece of its message) of
/// failures found and not yet fixed.
const KNOWN_FAILURES: &[(&str, &str)] = &[];

thread_local! {
    /// Where the last panic on this thread happened.
    static PANIC_AT: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Runs the program; `Err` with (file:line, message) if it panicked.
fn run(program: &[u8]) -> Result<(), (String, String)> {
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        endpoint_pair::check_endpoint_pair(program)
    }));
    outcome.map_err(|payload| {
        let message = payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
        let file = PANIC_AT.with(|p| p.borrow_mut().take()).unwrap_or_default();
        (file, message)
    })
}

fn known(file: &str, message: &str) -> bool {
    KNOWN_FAILURES
        .iter()
        .any(|(f, m)| file.contains(f) && message.contains(m))
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 8192,
        failure_persistence: None,
        rng_seed: RngSeed::Fixed(0x00b7_a1d5),
        ..ProptestConfig::default()
    })]

    #[test]
    fn injected_segments_never_panic_corrupt_or_grow_memory(
        program in proptest::collection::vec(any::<u8>(), 0..1500)
    ) {
        let default_hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let at = info.location().map(|l| format!("{}:{}:", l.file(), l.line()));
            PANIC_AT.with(|p| *p.borrow_mut() = at);
            if std::env::var_os("BRAID_SHOW_PANICS").is_some() {
                default_hook(info);
            }
        }));
        let result = run(&program);
        let _ = std::panic::take_hook();
        if let Err((file, message)) = result {
            if known(&file, &message) {
                eprintln!("known failure ({file}): {message}");
            } else {
                prop_assert!(false, "{file}: {message}");
            }
        }
    }
}

/// Replays one program, from the comma-separated bytes in `BRAID_FUZZ_INPUT` or the
/// file it names (a libFuzzer artifact), tracing what it does:
/// `BRAID_FUZZ_INPUT=... BRAID_FUZZ_TRACE=1 cargo test -p braid-proto --test
/// endpoint_never_panics -- --ignored replay --nocapture`.
#[test]
#[ignore = "a tool: replays BRAID_FUZZ_INPUT"]
fn replay() {
    let input = std::env::var("BRAID_FUZZ_INPUT").expect("BRAID_FUZZ_INPUT");
    let program: Vec<u8> = match std::fs::read(&input) {
        Ok(bytes) => bytes,
        Err(_) => input
            .split(',')
            .map(str::trim)
            .filter(|b| !b.is_empty())
            .map(|b| b.parse().expect("comma-separated bytes"))
            .collect(),
    };
    endpoint_pair::check_endpoint_pair(&program);
}

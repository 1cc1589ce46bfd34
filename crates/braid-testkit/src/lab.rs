//! What every namespace test does before and around its own work: decide whether it
//! may run, take its turn, build the layout, and run bounded work inside a namespace.
//!
//! A test that cannot have network namespaces (not root, no `ip`) is skipped with a
//! message on standard error, unless `BRAID_REQUIRE_NETNS=1` is set: then it fails, so
//! that a CI run which should have run it cannot pass by skipping.

use std::io::{self, Write};
use std::ops::Deref;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Mutex, MutexGuard};
use std::time::Instant;

use crate::netns::{self, Netns, Topology};

/// Whether test `test` may use network namespaces. Without them it prints why it is
/// skipped and returns false, or panics when `BRAID_REQUIRE_NETNS=1`.
pub fn netns_available(test: &str) -> bool {
    match netns::available() {
        Ok(()) => true,
        Err(why) => {
            if std::env::var("BRAID_REQUIRE_NETNS").is_ok_and(|v| v == "1") {
                panic!("{test}: network namespaces are required (BRAID_REQUIRE_NETNS=1) but {why}");
            }
            // Straight to the file descriptor: libtest captures `eprintln!`, and a skip
            // must be seen.
            let _ = writeln!(
                io::stderr(),
                "SKIPPED {test}: {why}. Run as root (or set BRAID_REQUIRE_NETNS=1 to make \
                 this a failure)."
            );
            false
        }
    }
}

/// One lab at a time in a test process: the tests measure nothing, but two bulk
/// transfers on two cores at once would only make each slower and their time limits
/// tighter. A test that panicked while holding the turn does not poison it.
pub fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// A test's own [`Topology`], held until the lab is dropped (namespaces first, then the
/// turn). It dereferences to the topology: `lab.client`, `lab.server`, `lab.paths`.
///
/// ```no_run
/// use braid_testkit::Lab;
///
/// let Some(lab) = Lab::new("pings_cross_both_paths", 2) else {
///     return; // skipped: not root
/// };
/// for path in &lab.paths {
///     lab.client
///         .exec("ping", &["-c1", "-W2", &path.server_ip.to_string()])
///         .expect("ping across the path");
/// }
/// ```
#[derive(Debug)]
pub struct Lab {
    // Fields drop in order: the namespaces go before the next test may start.
    pub topo: Topology,
    _turn: MutexGuard<'static, ()>,
}

impl Lab {
    /// The layout with `paths` paths (1 to 8) for test `test`, or `None` when the test
    /// is skipped (see [`netns_available`]). Waits for the labs of other tests of this
    /// process to go; panics if the namespaces cannot be built.
    pub fn new(test: &str, paths: u8) -> Option<Lab> {
        if !netns_available(test) {
            return None;
        }
        let turn = serial();
        let topo = Topology::new(paths)
            .unwrap_or_else(|e| panic!("{test}: cannot build the namespaces: {e}"));
        Some(Lab { topo, _turn: turn })
    }
}

impl Deref for Lab {
    type Target = Topology;

    fn deref(&self) -> &Topology {
        &self.topo
    }
}

/// Runs `f` on a thread inside `ns`; its result arrives on the returned channel (a
/// panic drops the sender, which [`wait`] reports).
pub fn spawn_in<T, F>(ns: &Netns, name: &str, f: F) -> mpsc::Receiver<io::Result<T>>
where
    F: FnOnce() -> io::Result<T> + Send + 'static,
    T: Send + 'static,
{
    let (tx, rx) = mpsc::channel();
    ns.spawn(name, move || {
        let _ = tx.send(f());
        Ok(())
    })
    .expect("spawn a thread in the namespace");
    rx
}

/// Waits for a result of [`spawn_in`] until `deadline`; panics naming `what`, with
/// `progress()` (what the ends had done), if it failed, panicked or is late.
pub fn wait<T>(
    rx: &mpsc::Receiver<io::Result<T>>,
    deadline: Instant,
    what: &str,
    progress: &dyn Fn() -> String,
) -> T {
    let left = deadline.saturating_duration_since(Instant::now());
    match rx.recv_timeout(left) {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => panic!("{what} failed: {e}; {}", progress()),
        Err(RecvTimeoutError::Timeout) => panic!(
            "{what} did not finish in time ({}s left when the wait began); {}",
            left.as_secs(),
            progress()
        ),
        Err(RecvTimeoutError::Disconnected) => panic!("{what} panicked; {}", progress()),
    }
}

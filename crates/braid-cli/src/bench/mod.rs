//! `braid bench`: the performance suites, run on the simulator.
//!
//! Three suites, each a set of simulated runs with fixed seeds, so that every figure
//! is exact and the same on every machine:
//!
//! - [`aggregation`]: how much of the sum of two paths one MPTCP connection gets,
//!   per scheduler and receive buffer size, against TCP over the best single path
//!   (Linux's simult_flows cases, and Wi-Fi + cellular);
//! - [`handover`]: how long the application waits, and whether a byte is lost, when
//!   the path carrying the data fails, with and without the host being told;
//! - [`fairness`]: the share of a bottleneck an MPTCP connection with two or three
//!   subflows takes from one TCP connection, per congestion controller.
//!
//! Each suite checks the project's targets and says which are met, with the
//! numbers. `--json` prints everything as one JSON document, `--plots DIR` draws one
//! SVG per run (per-subflow throughput over time, see [`plot`]).

pub mod aggregation;
pub mod fairness;
pub mod handover;
pub mod plot;

use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use anyhow::{bail, Context, Result};
use braid_proto::pm::EndpointFlags;
use braid_sim::report::Report;
use braid_sim::scenario::{RunOptions, Scenario, ScenarioError};
use serde_json::{json, Value};

/// The seed when none is given: `braid bench` prints the same figures every time.
pub const DEFAULT_SEED: u64 = 1;

/// A client's endpoint that opens a subflow from its address once the connection is
/// up (`ip mptcp endpoint add ADDR subflow`).
pub const SUBFLOW: EndpointFlags = EndpointFlags {
    signal: false,
    subflow: true,
    backup: false,
    fullmesh: false,
};

/// One suite.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Suite {
    /// One MPTCP connection over two paths: goodput as a fraction of their sum.
    Aggregation,
    /// The path carrying the data fails mid-transfer: the application's wait.
    Handover,
    /// MPTCP and TCP at one bottleneck: MPTCP's share.
    Fairness,
}

impl Suite {
    pub const ALL: [Suite; 3] = [Suite::Aggregation, Suite::Handover, Suite::Fairness];

    pub fn name(self) -> &'static str {
        match self {
            Suite::Aggregation => "aggregation",
            Suite::Handover => "handover",
            Suite::Fairness => "fairness",
        }
    }
}

pub struct Options {
    /// `None`: every suite.
    pub suite: Option<Suite>,
    pub json: bool,
    pub plots: Option<PathBuf>,
    pub seed: u64,
}

/// A target of the project and whether this run meets it.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    /// What is asked, in words.
    pub what: String,
    pub met: bool,
    /// The measurement it was judged on.
    pub measured: String,
}

impl Target {
    fn to_json(&self) -> Value {
        json!({ "target": self.what, "met": self.met, "measured": self.measured })
    }
}

/// What a suite produced.
pub struct SuiteResult {
    pub suite: Suite,
    /// Human-readable tables and notes.
    pub text: String,
    pub json: Value,
    pub targets: Vec<Target>,
    /// One plot per run: file name and SVG.
    pub plots: Vec<(String, String)>,
}

pub fn run(options: Options) -> Result<()> {
    if let Some(dir) = &options.plots {
        check_plot_dir(dir)?;
    }
    let suites: Vec<Suite> = match options.suite {
        Some(s) => vec![s],
        None => Suite::ALL.to_vec(),
    };
    let mut results = Vec::new();
    for suite in suites {
        let result = match suite {
            Suite::Aggregation => aggregation::run(options.seed),
            Suite::Handover => handover::run(options.seed),
            Suite::Fairness => fairness::run(options.seed),
        }
        .with_context(|| format!("the {} suite", suite.name()))?;
        if let Some(dir) = &options.plots {
            write_plots(dir, &result.plots)?;
        }
        results.push(result);
    }
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    if options.json {
        let suites: serde_json::Map<String, Value> = results
            .iter()
            .map(|r| {
                let mut v = r.json.clone();
                if let Value::Object(m) = &mut v {
                    m.insert(
                        "targets".into(),
                        r.targets.iter().map(Target::to_json).collect(),
                    );
                    if options.plots.is_some() {
                        m.insert(
                            "plots".into(),
                            r.plots.iter().map(|(name, _)| json!(name)).collect(),
                        );
                    }
                }
                (r.suite.name().to_string(), v)
            })
            .collect();
        let doc = json!({ "seed": options.seed, "suites": suites });
        writeln!(out, "{}", serde_json::to_string_pretty(&doc)?)?;
    } else {
        for (i, r) in results.iter().enumerate() {
            if i > 0 {
                writeln!(out)?;
            }
            write!(out, "{}", r.text)?;
            writeln!(out)?;
            write!(out, "{}", targets_text(&r.targets))?;
        }
        if let Some(dir) = &options.plots {
            let n: usize = results.iter().map(|r| r.plots.len()).sum();
            writeln!(out, "\n{n} plots written to {}", dir.display())?;
        }
    }
    out.flush()?;
    Ok(())
}

/// The targets, one line each.
pub fn targets_text(targets: &[Target]) -> String {
    let mut o = String::from("Targets\n");
    for t in targets {
        o.push_str(&format!(
            "  [{}] {}: {}\n",
            if t.met { "met" } else { "NOT MET" },
            t.what,
            t.measured
        ));
    }
    o
}

/// Makes `dir` if needed and proves a file can be written there, before any run,
/// so that a bad `--plots` costs no time.
fn check_plot_dir(dir: &Path) -> Result<()> {
    if dir.exists() && !dir.is_dir() {
        bail!(
            "--plots {}: exists and is not a directory; give a directory (it is created if missing)",
            dir.display()
        );
    }
    std::fs::create_dir_all(dir).with_context(|| {
        format!(
            "--plots {}: cannot create the directory; give one you can create, or make its parent writable",
            dir.display()
        )
    })?;
    let probe = dir.join(".braid-bench-write-test");
    std::fs::write(&probe, b"").with_context(|| {
        format!(
            "--plots {}: cannot write files there; make it writable (chmod u+w {}) or give another directory",
            dir.display(),
            dir.display()
        )
    })?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

fn write_plots(dir: &Path, plots: &[(String, String)]) -> Result<()> {
    for (name, svg) in plots {
        let path = dir.join(name);
        std::fs::write(&path, svg).with_context(|| {
            format!(
                "cannot write the plot {}; make {} writable or give another --plots directory",
                path.display(),
                dir.display()
            )
        })?;
    }
    Ok(())
}

/// `f` over every item, on as many threads as the machine has cores; the results in
/// the order of `items`. Each run is a simulation of its own, so the results do not
/// depend on the threads.
/// The report of a suite's scenario, run with `seed`.
fn simulate(scenario: Result<Scenario, ScenarioError>, seed: u64) -> Result<Report> {
    let scenario = scenario.context("the benchmark's scenario")?;
    let options = RunOptions {
        seed: Some(seed),
        ..RunOptions::default()
    };
    let run = scenario.run(&options).context("running the simulation")?;
    Ok(run.report)
}

pub fn parallel_map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .min(items.len())
        .max(1);
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<R>>> = Mutex::new((0..items.len()).map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(item) = items.get(i) else {
                    return;
                };
                let r = f(item);
                results.lock().expect("no thread panics holding it")[i] = Some(r);
            });
        }
    });
    results
        .into_inner()
        .expect("no thread panicked holding it")
        .into_iter()
        .map(|r| r.expect("every item was run"))
        .collect()
}

/// A file name from words: lower case, letters, digits, `+`, `.` and `-`.
pub fn slug(parts: &[&str]) -> String {
    let mut s = String::new();
    for part in parts {
        if !s.is_empty() {
            s.push('-');
        }
        for c in part.chars() {
            let c = c.to_ascii_lowercase();
            if c.is_ascii_alphanumeric() || c == '+' || c == '.' {
                s.push(c);
            } else if !s.ends_with('-') && !s.is_empty() {
                s.push('-');
            }
        }
        while s.ends_with('-') {
            s.pop();
        }
    }
    s
}

/// Bits per second as Mbit/s with one decimal.
pub fn mbit(bps: f64) -> String {
    format!("{:.1}", bps / 1e6)
}

/// A fraction as a percentage with one decimal.
pub fn percent(x: f64) -> String {
    format!("{:.1}%", 100.0 * x)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_file_names() {
        assert_eq!(
            slug(&["10+10", "1/25 ms", "lowest-rtt"]),
            "10+10-1-25-ms-lowest-rtt"
        );
        assert_eq!(slug(&["Wi-Fi + cell, 1% loss"]), "wi-fi-+-cell-1-loss");
    }

    #[test]
    fn parallel_map_keeps_the_order() {
        let items: Vec<u64> = (0..100).collect();
        assert_eq!(
            parallel_map(&items, |x| x * 2),
            (0..100).map(|x| x * 2).collect::<Vec<_>>()
        );
    }
}

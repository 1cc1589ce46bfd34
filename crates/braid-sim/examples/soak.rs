//! The soak (see `tests/soak/mod.rs`): runs seeded random scenarios and prints a
//! summary of the outcomes, with the seeds of each kind of failure.
//!
//! ```text
//! cargo run --release -p braid-sim --example soak -- [N] [--from S] [--jobs J]
//! cargo run --release -p braid-sim --example soak -- --seed S          # one seed, in detail
//! cargo run --release -p braid-sim --example soak -- --json S          # its whole report
//! cargo run --release -p braid-sim --example soak -- --toml S > s.toml # braid sim s.toml
//! cargo run --release -p braid-sim --example soak -- --pcap S DIR       # its links' pcaps
//! ```
//!
//! `scripts/soak.sh [N]` runs N seeds (default 10,000) from 0. The exit status is 1
//! when any seed failed.

#[path = "../tests/soak/mod.rs"]
mod soak;

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::Instant as WallClock;

use soak::{run_seed, Tally, Verdict};

fn usage() -> ! {
    eprintln!(
        "usage: soak [N] [--from S] [--jobs J] | --seed S | --json S | --toml S | --pcap S DIR"
    );
    std::process::exit(2)
}

fn number(arg: Option<String>) -> u64 {
    arg.and_then(|a| a.replace('_', "").parse().ok())
        .unwrap_or_else(|| usage())
}

fn main() {
    let mut args = std::env::args().skip(1);
    let (mut count, mut from, mut jobs) = (10_000u64, 0u64, 2u64);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--from" => from = number(args.next()),
            "--jobs" => jobs = number(args.next()).max(1),
            "--seed" => return one(number(args.next())),
            "--json" => {
                let run = run_seed(number(args.next()));
                println!("{}", run.report.map(|r| r.to_json()).unwrap_or_default());
                return;
            }
            "--pcap" => {
                let seed = number(args.next());
                let dir = std::path::PathBuf::from(args.next().unwrap_or_else(|| usage()));
                match soak::capture_seed(seed, &dir) {
                    Ok(_) => println!("seed {seed}: captures in {}", dir.display()),
                    Err(e) => {
                        eprintln!(
                            "error: cannot capture seed {seed} into {}: {e}",
                            dir.display()
                        );
                        std::process::exit(1);
                    }
                }
                return;
            }
            "--toml" => {
                let draw = soak::draw(number(args.next()));
                print!("# {}\n{}", draw.summary, draw.spec.to_toml());
                return;
            }
            _ if !arg.starts_with('-') => count = number(Some(arg)),
            _ => usage(),
        }
    }
    // Panics are verdicts here; the hook would print each one's backtrace.
    std::panic::set_hook(Box::new(|_| {}));
    let started = WallClock::now();
    let next = AtomicU64::new(from);
    let end = from + count;
    let (tx, rx) = mpsc::channel::<(u64, Verdict)>();
    let mut tally = Tally::default();
    std::thread::scope(|scope| {
        for _ in 0..jobs {
            let tx = tx.clone();
            let next = &next;
            scope.spawn(move || loop {
                let seed = next.fetch_add(1, Ordering::Relaxed);
                if seed >= end {
                    return;
                }
                let verdict = run_seed(seed).verdict;
                if tx.send((seed, verdict)).is_err() {
                    return;
                }
            });
        }
        drop(tx);
        for (seed, verdict) in rx {
            if let Verdict::Failure { .. } = verdict {
                println!("seed {seed}: {verdict}");
            }
            tally.add(seed, &verdict);
            if tally.runs % 250 == 0 || tally.runs == count {
                eprintln!(
                    "[{:>6}/{count}] {:>5.0}s  {} passed, {} documented, {} failed",
                    tally.runs,
                    started.elapsed().as_secs_f64(),
                    tally.passed,
                    tally.documented.len(),
                    tally.failed()
                );
            }
            let _ = std::io::stdout().flush();
        }
    });
    println!(
        "\nseeds {from}..{end} in {:.0}s\n{}",
        started.elapsed().as_secs_f64(),
        tally.summary()
    );
    println!(
        "Reproduce a seed: scripts/soak.sh --seed S, or --toml S > s.toml and braid sim s.toml"
    );
    if tally.failed() > 0 {
        std::process::exit(1);
    }
}

/// One seed in detail: what was drawn, the verdict, and the report's MPTCP part.
fn one(seed: u64) {
    let run = run_seed(seed);
    println!("seed {seed}: {}\n{}", run.draw.summary, run.verdict);
    if let Some(report) = run.report {
        println!(
            "outcome {:?} at {} us, {} events",
            report.outcome, report.end_us, report.events
        );
        print!("{}", braid_sim::report::text::mptcp(&report));
    }
}

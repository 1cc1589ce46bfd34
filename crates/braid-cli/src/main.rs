//! `braid`: Multipath TCP tools.

use std::path::PathBuf;
use std::process::ExitCode;

use braid_cli::bench;
use clap::{Parser, Subcommand};

mod connect;
mod demo;
mod listen;
mod paths;
mod pcap;
mod sim;

#[derive(Parser)]
#[command(
    name = "braid",
    version,
    about = "Multipath TCP (RFC 8684) in userspace, and the tools around it"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Watch Multipath TCP use Wi-Fi and cellular at once, and survive Wi-Fi dropping out.
    ///
    /// Runs in the simulator (no privileges, no network; under a second in a release
    /// build): a phone with Wi-Fi (50 Mbit/s, 10 ms) and cellular (20 Mbit/s, 30 ms)
    /// uploads to a server for 20 s over one MPTCP connection, joining the cellular path
    /// once connected; Wi-Fi goes down from 8 s to 12 s. Prints each path's throughput
    /// per second, a timeline of what happened (handshake, join, failover, recovery)
    /// measured from the run, and totals with the SHA-256 of both ends.
    Demo {
        /// The seed of every random choice (keys, ports, initial sequence numbers, the
        /// cellular link's jitter): the same seed gives the same output.
        #[arg(long, default_value_t = demo::DEFAULT_SEED)]
        seed: u64,
        /// Everything as one JSON document, the simulator's full report included.
        #[arg(long)]
        json: bool,
    },
    /// Measure aggregation, handover and fairness on the simulator, against the targets.
    ///
    /// Runs deterministic simulations (fixed seeds; no privileges, no network) and
    /// prints one table per suite and which targets are met: `aggregation` (goodput
    /// over two paths as a fraction of their sum, per scheduler and receive buffer,
    /// against TCP over the best single path), `handover` (the application's longest
    /// wait and bytes lost when the path in use fails, told or silently) and `fairness`
    /// (an MPTCP connection's share of a bottleneck against one TCP, per congestion
    /// controller). Without a suite, runs all three.
    Bench {
        /// The suite to run; all three when left out.
        #[arg(value_enum)]
        suite: Option<bench::Suite>,
        /// Everything as one JSON document: every run's figures and the targets.
        #[arg(long)]
        json: bool,
        /// Write one SVG per run into this directory (created if missing): each
        /// subflow's throughput over time.
        #[arg(long, value_name = "DIR")]
        plots: Option<PathBuf>,
        /// The seed of every run (keys, ports, sequence numbers, random losses).
        #[arg(long, default_value_t = bench::DEFAULT_SEED)]
        seed: u64,
    },
    /// Decode a packet capture (pcap or pcapng), MPTCP first.
    ///
    /// Prints one line per TCP segment with its MPTCP options decoded. Link types:
    /// raw IP, Ethernet, Linux cooked (v1 and v2), BSD loopback.
    Pcap {
        /// The capture file.
        file: PathBuf,
        /// One JSON object per segment (or, with --connections, one JSON document).
        #[arg(long)]
        json: bool,
        /// Summarise MPTCP connections: keys, tokens, subflows, addresses, fallback.
        #[arg(long)]
        connections: bool,
    },
    /// Connect to HOST:PORT over MPTCP (or TCP) from a braid stack on a TUN device (like `nc`).
    ///
    /// Sends standard input, half-closes at its end, and writes what comes back to
    /// standard output. Creates the TUN device and a host route for --local into it;
    /// needs root or CAP_NET_ADMIN, and IP forwarding to reach other hosts.
    Connect {
        /// Name of the TUN device to create.
        #[arg(long)]
        tun: String,
        #[command(flatten)]
        paths: paths::PathArgs,
        /// The peer, as HOST:PORT.
        remote: String,
    },
    /// Accept one connection (MPTCP or TCP) on a braid stack on a TUN device (like
    /// `nc -l`).
    ///
    /// Writes what it receives to standard output and exits when the connection ends.
    Listen {
        /// Name of the TUN device to create.
        #[arg(long)]
        tun: String,
        #[command(flatten)]
        paths: paths::PathArgs,
        /// The port to listen on.
        #[arg(long)]
        port: u16,
        /// Say on standard error when listening and who connected.
        #[arg(long, short)]
        verbose: bool,
    },
    /// Run a simulation scenario (a TOML file) and print its metrics.
    ///
    /// Per connection and direction: bytes written and delivered, goodput, completion
    /// time, the largest gap between deliveries, retransmissions, RTOs and integrity;
    /// per link direction: deliveries and drops. The scenario format is described in the
    /// braid-sim crate documentation; examples/scenarios/ has commented examples.
    Sim {
        /// The scenario file.
        file: PathBuf,
        /// The seed (overrides the scenario's): the same file and seed give the same
        /// packets and metrics.
        #[arg(long)]
        seed: Option<u64>,
        /// Every metric as one JSON document, throughput series included.
        #[arg(long)]
        json: bool,
        /// Write one pcap per link direction into this directory (LINK.FROM-TO.pcap).
        #[arg(long, value_name = "DIR")]
        pcap: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Demo { seed, json } => demo::run(demo::Options { seed, json }),
        Command::Bench {
            suite,
            json,
            plots,
            seed,
        } => bench::run(bench::Options {
            suite,
            json,
            plots,
            seed,
        }),
        Command::Pcap {
            file,
            json,
            connections,
        } => pcap::run(&file, pcap::Output { json, connections }),
        Command::Connect { tun, paths, remote } => connect::run(&tun, &paths, &remote),
        Command::Listen {
            tun,
            paths,
            port,
            verbose,
        } => listen::run(&tun, &paths, port, verbose),
        Command::Sim {
            file,
            seed,
            json,
            pcap,
        } => sim::run(&file, sim::Options { seed, json, pcap }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // A closed pipe (`braid pcap f | head`) is not an error worth reporting.
            if e.downcast_ref::<std::io::Error>()
                .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
            {
                return ExitCode::SUCCESS;
            }
            eprintln!("braid: {e:#}");
            ExitCode::FAILURE
        }
    }
}

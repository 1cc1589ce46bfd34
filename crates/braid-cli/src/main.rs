//! `braid`: Multipath TCP tools.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod pcap;

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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Pcap {
            file,
            json,
            connections,
        } => pcap::run(&file, pcap::Output { json, connections }),
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

#!/usr/bin/env bash
# The soak: N seeded random simulator scenarios (default 10,000), each checked by the
# oracle of crates/braid-sim/tests/soak/mod.rs: every byte intact (SHA-256) and the
# end of stream seen at both ends in time, or an error documented for what was drawn;
# never corrupt, truncated or hanging. Prints progress, then a summary by outcome with
# the seeds of each kind of failure. Exit status 1 if any seed failed.
#
#   scripts/soak.sh [N] [--from S] [--jobs J]   N seeds from S (default 0), J threads (default 2)
#   scripts/soak.sh --seed S                    one seed: what was drawn, the verdict, MPTCP report
#   scripts/soak.sh --json S                    one seed's whole report as JSON
#   scripts/soak.sh --pcap S DIR                one seed's exact run, a pcap per link in DIR
#   scripts/soak.sh --toml S > s.toml           the scenario; `braid sim s.toml` runs it
#
# The CI test crates/braid-sim/tests/soak_seeds.rs runs the first 300 seeds.
set -euo pipefail
cd "$(dirname "$0")/.."
nice -n 10 cargo build --quiet --release -p braid-sim --example soak
exec ./target/release/examples/soak "$@"

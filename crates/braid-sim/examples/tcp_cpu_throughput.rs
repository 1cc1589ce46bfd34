//! Benchmark: bytes of braid TCP moved per CPU-second in the simulator.
//!
//! Runs a 100 MB bulk transfer over a 100 Mbit/s, 20 ms RTT link (both endpoints,
//! the links and the pcap-free event loop all on one thread) and reports simulated
//! bytes per second of process CPU time.
//!
//! ```text
//! cargo run --release -p braid-sim --example tcp_cpu_throughput
//! ```

use std::time::Instant;

use braid_proto::time::Duration;
use braid_sim::scenario::spec::{App, Cc, Connection, Host, Link, ScenarioSpec, Tcp};
use braid_sim::scenario::units::{Rate, Size};
use braid_sim::scenario::{Capture, RunOptions, Scenario};

fn scenario() -> Scenario {
    let ip = |a: &str| a.parse().expect("an address");
    let path = Link::between("client", "server")
        .name("path")
        .rate(Rate::mbit(100))
        .delay(Duration::from_millis(10))
        .queue(Size::bytes(500_000));
    let spec = ScenarioSpec::new("tcp-cpu-throughput")
        .duration(Duration::from_secs(60))
        .tcp(Tcp::default().cc(Cc::Cubic))
        .host(Host::new("client").address(ip("10.0.0.1")))
        .host(Host::new("server").address(ip("10.0.0.2")))
        .link(path)
        .connection(Connection::new(
            "client",
            "server",
            App::Bulk {
                bytes: Size::mb(100),
            },
        ));
    Scenario::from_spec(spec).expect("valid scenario")
}

/// CPU time of this process (user + system), from /proc/self/stat.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which is in parentheses): utime is 14th, stime 15th.
    let after = stat.rsplit(')').next().unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // /proc reports clock ticks; Linux's USER_HZ is 100.
    (ticks(11) + ticks(12)) / 100.0
}

fn main() {
    let scenario = scenario();
    let runs = 5;
    let cpu_start = cpu_seconds();
    let wall_start = Instant::now();
    let mut bytes = 0;
    for seed in 0..runs {
        let result = scenario
            .run(&RunOptions {
                seed: Some(seed),
                capture: Capture::None,
            })
            .expect("run");
        bytes += result.report.connections[0].upload.bytes_delivered;
    }
    let cpu = cpu_seconds() - cpu_start;
    let wall = wall_start.elapsed().as_secs_f64();
    println!("{runs} runs, {:.0} MB delivered", bytes as f64 / 1e6);
    println!("wall {wall:.2} s: {:.0} MB/s", bytes as f64 / 1e6 / wall);
    if cpu > 0.0 {
        println!(
            "cpu  {cpu:.2} s: {:.0} MB per CPU-second",
            bytes as f64 / 1e6 / cpu
        );
    }
}

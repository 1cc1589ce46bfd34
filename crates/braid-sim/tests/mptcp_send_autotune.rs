//! Send-buffer auto-tuning across subflows (`MptcpConfig::send_autotune`) on the
//! simulator: the connection-level send buffer starts at `INITIAL_SEND_BUFFER` and
//! grows towards 2 × RTT_max × Σ(subflow rates), never past the configured
//! `send_buffer`, and the transfer stays intact.
//!
//! ```text
//!   client p0 10.0.1.1 ── RATE, 10 ms, QUEUE ──┐
//!                                             r1 ── server 10.0.9.2
//!   client p1 10.0.2.1 ── RATE, 30 ms, QUEUE ──┘
//! ```
//!
//! The buffer is seen from the application: what is queued plus what `write` would
//! still take (the bulk sender keeps it full).

mod common;

use braid_proto::mptcp::data::INITIAL_SEND_BUFFER;
use braid_proto::time::Duration;
use braid_sim::report::{Integrity, Outcome};
use braid_sim::scenario::multipath::{Multipath, Path, ToServer};
use braid_sim::scenario::spec::{App, Connection, Host, Link, ScenarioSpec, Tcp};
use braid_sim::scenario::units::{Rate, Size};
use braid_sim::scenario::Scenario;
use common::SUBFLOW;

const SEND_BUFFER: usize = 4 << 20;

fn scenario(rate_mbit: u64, queue: Size, bytes: u64) -> Scenario {
    let path = |delay_ms: u64| {
        Link::default()
            .rate(Rate::mbit(rate_mbit))
            .delay(Duration::from_millis(delay_ms))
            .queue(queue)
    };
    let network = Multipath {
        client: Host::new("client"),
        paths: vec![
            Path::new("p0", path(10)),
            Path::new("p1", path(30)).endpoint(SUBFLOW),
        ],
        to_server: ToServer::router(),
    };
    let spec = ScenarioSpec::new("send-autotune")
        .seed(1)
        .duration(Duration::from_secs(120))
        .bin(Duration::from_millis(100))
        .tcp(
            Tcp::default()
                .send_buffer(Size::bytes(SEND_BUFFER as u64))
                .recv_buffer(Size::mib(4)),
        );
    let upload = Connection::new("client", "10.0.9.2", App::Bulk { bytes: Size(bytes) })
        .name("upload")
        .server_app(App::Sink { verify: None });
    Scenario::from_spec(network.add_to(spec).connection(upload)).unwrap()
}

/// What one run showed.
#[derive(Debug)]
struct Run {
    /// The client's send buffer at each sample.
    buffers: Vec<usize>,
    /// The larger smoothed RTT of the client's two subflows at each sample.
    rtt_max: Vec<Duration>,
    goodput_bps: f64,
}

fn run(rate_mbit: u64, queue: Size, bytes: u64, autotune: bool) -> Run {
    let mut s = scenario(rate_mbit, queue, bytes);
    for h in &mut s.hosts {
        h.endpoint.mptcp.send_autotune = autotune;
    }
    let mut built = s.build(s.seed);
    let (mut buffers, mut rtt_max) = (Vec::new(), Vec::new());
    let mut t = Duration::ZERO;
    let outcome = loop {
        t += Duration::from_millis(20);
        let outcome = built.run(t, true);
        let host = built.host(0);
        for record in host.connections() {
            let Some(c) = host.endpoint().connection(record.id) else {
                continue;
            };
            let Some(m) = c.as_mptcp() else { continue };
            // Once the application closed, only what is queued is seen.
            buffers.push(c.send_queued() + c.send_capacity());
            let rtts: Vec<_> = m.subflows().filter_map(|s| s.tcp().srtt()).collect();
            if rtts.len() == 2 {
                rtt_max.extend(rtts.into_iter().max());
            }
        }
        if outcome != Outcome::Deadline || t >= s.duration {
            break outcome;
        }
    };
    assert_eq!(outcome, Outcome::Completed);
    let report = built.report("send-autotune", outcome, &[]);
    let upload = &report.connections[0].upload;
    assert_eq!(upload.bytes_delivered, bytes);
    assert_eq!(upload.integrity, Integrity::Intact);
    Run {
        buffers,
        rtt_max,
        goodput_bps: upload.goodput_bps.unwrap(),
    }
}

/// 2 × RTT × the sum of the two paths' rates, in bytes.
fn twice_bdp(rtt: Duration, rate_mbit: u64) -> f64 {
    2.0 * rtt.as_secs_f64() * 2.0 * rate_mbit as f64 * 1e6 / 8.0
}

#[test]
fn send_buffer_grows_to_twice_rtt_max_times_the_sum_of_the_rates() {
    // 10 + 10 Mbit/s, RTTs 20 and 60 ms plus up to 48 ms of queue each.
    let (rate, bytes) = (10, 20_000_000);
    let on = run(rate, Size::kb(60), bytes, true);
    let grown = *on.buffers.iter().max().unwrap();
    assert_eq!(on.buffers[0], INITIAL_SEND_BUFFER, "starts small");
    let (rtt_lo, rtt_hi) = (
        *on.rtt_max.iter().min().unwrap(),
        *on.rtt_max.iter().max().unwrap(),
    );
    let (lo, hi) = (twice_bdp(rtt_lo, rate), twice_bdp(rtt_hi, rate));
    println!(
        "send buffer {grown} B; 2 x RTT_max x sum of rates: {lo:.0} B (RTT_max {rtt_lo}) \
         to {hi:.0} B (RTT_max {rtt_hi})"
    );
    // About 2 × RTT_max × Σbw: not below it with the smallest RTT_max seen, not far
    // above it with the largest (RTT_max varies with the queues).
    assert!(grown as f64 >= lo, "{grown} < {lo}");
    assert!((grown as f64) < 1.5 * hi, "{grown} > 1.5 x {hi}");
    assert!(
        grown < SEND_BUFFER / 2,
        "{grown}: well below the configured buffer"
    );

    // Without auto-tuning the application fills the whole configured buffer; the
    // goodput is the same within a few percent.
    let off = run(rate, Size::kb(60), bytes, false);
    assert_eq!(*off.buffers.iter().max().unwrap(), SEND_BUFFER);
    println!(
        "goodput {:.2} Mbit/s with auto-tuning, {:.2} without",
        on.goodput_bps / 1e6,
        off.goodput_bps / 1e6
    );
    assert!(on.goodput_bps > 0.97 * off.goodput_bps);
}

#[test]
fn send_buffer_stays_small_on_slow_paths() {
    // 1 + 1 Mbit/s: 2 × RTT_max × Σbw is about 90 kB with the queues (plus 16 segments).
    let (rate, bytes) = (1, 2_000_000);
    let on = run(rate, Size::kb(10), bytes, true);
    let grown = *on.buffers.iter().max().unwrap();
    let hi = twice_bdp(*on.rtt_max.iter().max().unwrap(), rate);
    println!("send buffer {grown} B; 2 x RTT_max x sum of rates up to {hi:.0} B");
    assert!(grown <= 3 * INITIAL_SEND_BUFFER, "{grown}");
    let off = run(rate, Size::kb(10), bytes, false);
    assert!(
        *off.buffers.iter().max().unwrap() >= bytes as usize,
        "all of it queued"
    );
    assert!(on.goodput_bps > 0.97 * off.goodput_bps);
}

//! Same scenario, same seed: same capture bytes. And tshark reads the captures.

mod common;

use std::path::PathBuf;

use braid_proto::time::{Duration, Instant};
use braid_sim::link::GilbertElliott;
use braid_sim::nodes::{ConstantRateSender, CountingSink, Echo, Flow, PingPong};
use braid_sim::{LinkChange, LinkConfig, LinkId, RunOutcome, Simulator};
use common::{tshark_available, tshark_fields};

fn ms(millis: u64) -> Duration {
    Duration::from_millis(millis)
}

/// Everything random at once: a bulk flow over a lossy, jittery, reordering,
/// duplicating link with an outage, and a ping-pong over another path. With
/// `extra_link`, an unrelated pair of nodes and a link are added at the end.
fn scenario(seed: u64, extra_link: bool) -> (Simulator, Vec<LinkId>) {
    let mut sim = Simulator::new(seed);
    let tx = sim.add_node(ConstantRateSender::with_rate(
        0,
        Flow::example(),
        1200,
        30_000_000,
    ));
    let rx = sim.add_node(CountingSink::new());
    let bulk = LinkConfig::new()
        .rate_bps(20_000_000)
        .delay(ms(15))
        .jitter(ms(2))
        .loss(0.01)
        .burst_loss(GilbertElliott::gilbert(0.005, 0.3))
        .reorder(0.02, ms(4))
        .duplicate(0.01)
        .queue_bytes(50 * 1500);
    let l0 = sim.add_link((tx, 0), (rx, 0), bulk);
    sim.schedule(l0, Instant::from_millis(400), LinkChange::Down);
    sim.schedule(l0, Instant::from_millis(450), LinkChange::Up);

    let flow = Flow {
        src: "10.0.2.1".parse().unwrap(),
        dst: "10.0.2.2".parse().unwrap(),
        src_port: 6000,
        dst_port: 7,
    };
    let ping = sim.add_node(PingPong::new(0, flow, 300, 1_000, ms(100)));
    let echo = sim.add_node(Echo::new());
    let path = LinkConfig::new()
        .rate_bps(5_000_000)
        .delay(ms(5))
        .jitter(ms(2))
        .loss(0.05);
    let (l1, l2) = sim.add_duplex((ping, 0), (echo, 0), path);
    let mut links = vec![l0, l1, l2];
    if extra_link {
        let a = sim.add_node(ConstantRateSender::new(0, Flow::example(), 500, ms(3)));
        let b = sim.add_node(CountingSink::new());
        links.push(sim.add_link((a, 0), (b, 0), LinkConfig::new().loss(0.3)));
    }
    for &l in &links {
        sim.capture(l);
    }
    assert_eq!(sim.run_until(END), RunOutcome::Deadline);
    (sim, links)
}

/// How long the scenario runs.
const END: Instant = Instant::from_millis(2_000);

fn pcaps(sim: &Simulator, links: &[LinkId]) -> Vec<Vec<u8>> {
    links
        .iter()
        .map(|&l| sim.pcap(l).unwrap().to_vec())
        .collect()
}

#[test]
fn same_seed_gives_byte_identical_captures() {
    let (a, links) = scenario(2024, false);
    let (b, _) = scenario(2024, false);
    let (pa, pb) = (pcaps(&a, &links), pcaps(&b, &links));
    assert_eq!(pa, pb);
    assert_eq!(a.events_processed(), b.events_processed());
    // Something random really happened on every link.
    for &l in &links {
        let s = a.link_stats(l);
        assert!(s.delivered.packets > 50, "{s:?}");
        assert!(s.dropped().packets > 0, "{s:?}");
    }
    // Each capture holds exactly what its link delivered.
    for (&l, p) in links.iter().zip(&pa) {
        let s = a.link_stats(l);
        assert_eq!(
            p.len() as u64,
            24 + 16 * s.delivered.packets + s.delivered.bytes
        );
    }
}

#[test]
fn a_different_seed_gives_different_captures() {
    let (a, links) = scenario(2024, false);
    let (b, _) = scenario(2025, false);
    let (pa, pb) = (pcaps(&a, &links), pcaps(&b, &links));
    for (x, y) in pa.iter().zip(&pb) {
        assert_ne!(x, y);
    }
}

#[test]
fn adding_a_link_does_not_change_the_others() {
    let (a, links) = scenario(77, false);
    let (b, more_links) = scenario(77, true);
    assert_eq!(pcaps(&a, &links), pcaps(&b, &more_links[..links.len()]));
}

fn temp_path(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    dir.join(format!("braid-sim-{}-{name}", std::process::id()))
}

#[test]
fn tshark_reads_the_captures() {
    if !tshark_available() {
        return;
    }
    let (sim, links) = scenario(9, false);
    for &l in &links {
        let path = temp_path(&format!("link{}.pcap", l.index()));
        std::fs::write(&path, sim.pcap(l).unwrap()).unwrap();
        let rows = tshark_fields(&path, &["frame.time_epoch", "ip.id", "udp.length"], &[]);
        std::fs::remove_file(&path).ok();
        let stats = sim.link_stats(l);
        assert_eq!(rows.len() as u64, stats.delivered.packets);
        // Timestamps are virtual time: within the run, never decreasing.
        let times: Vec<f64> = rows.iter().map(|r| r[0].parse().unwrap()).collect();
        assert!(times.windows(2).all(|w| w[0] <= w[1]));
        let end = END.as_micros() as f64 / 1e6;
        assert!(times.iter().all(|&t| (0.0..=end).contains(&t)));
        // Every record decodes as IPv4/UDP.
        assert!(
            rows.iter().all(|r| r.len() == 3 && !r[2].is_empty()),
            "{rows:?}"
        );
    }
}

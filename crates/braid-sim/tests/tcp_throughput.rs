//! braid's TCP on simulated links, throughput asserted exactly (the simulator is
//! deterministic: these numbers are the same on every machine).

use braid_sim::report::{Integrity, TransferReport};
use braid_sim::scenario::{Capture, RunOptions, Scenario};

/// One bulk transfer of `bytes` from client to server over a duplex link of
/// 100 Mbit/s and 10 ms each way, with the extra link keys `link` and TCP keys
/// `tcp`. Returns the upload's report.
fn bulk(bytes: &str, link: &str, tcp: &str, seed: u64) -> TransferReport {
    bulk_over("100Mbit", "10ms", bytes, link, tcp, seed)
}

/// [`bulk`] over a link of `rate` and one-way `delay`.
fn bulk_over(
    rate: &str,
    delay: &str,
    bytes: &str,
    link: &str,
    tcp: &str,
    seed: u64,
) -> TransferReport {
    let toml = format!(
        r#"
duration = "120s"
[mptcp]
enabled = false          # TCP's own numbers: no DSS overhead
[tcp]
{tcp}
[[host]]
name = "client"
addresses = ["10.0.0.1"]
[[host]]
name = "server"
addresses = ["10.0.0.2"]
[[link]]
name = "path"
between = ["client", "server"]
rate = "{rate}"
delay = "{delay}"
{link}
[[connection]]
client = "client"
server = "server"
app = {{ type = "bulk", bytes = "{bytes}" }}
"#
    );
    let scenario = Scenario::from_toml(&toml).unwrap_or_else(|e| panic!("{e}"));
    let result = scenario
        .run(&RunOptions {
            seed: Some(seed),
            capture: Capture::None,
        })
        .unwrap();
    let upload = result.report.connections[0].upload.clone();
    assert_eq!(upload.integrity, Integrity::Intact, "{upload:?}");
    assert_eq!(upload.bytes_delivered, upload.bytes_written);
    upload
}

/// 100 Mbit/s, 20 ms RTT: the bandwidth-delay product is 250 kB.
const BDP: u64 = 250_000;

#[test]
fn one_connection_fills_a_100_mbit_path_with_a_two_bdp_buffer() {
    // Both the bottleneck queue and the receive buffer hold 2·BDP.
    let queue = format!("queue = \"{}B\"", 2 * BDP);
    let tcp = format!("cc = \"cubic\"\nrecv_buffer = \"{}B\"", 2 * BDP);
    let upload = bulk("100MB", &queue, &tcp, 1);
    let goodput = upload.goodput_bps.unwrap();
    // 95 Mbit/s of application data: 98.4% of the 96.5 Mbit/s that fits in
    // 1500-octet packets once IP, TCP and timestamps take their 52 octets.
    assert!(goodput >= 95e6, "goodput {goodput}");
    assert_eq!(upload.rto_count, 0);
}

#[test]
fn cubic_with_sack_beats_the_mathis_bound_at_one_percent_loss() {
    // RFC 3649/Mathis et al.: Reno averages 1.22·MSS / (RTT·√p).
    let mss_bits = 1448.0 * 8.0;
    let mathis = 1.22 * mss_bits / (0.020 * 0.01f64.sqrt());
    for seed in 1..=3 {
        let upload = bulk(
            "20MB",
            "queue = \"500000B\"\nforward = { loss = \"1%\" }",
            "cc = \"cubic\"",
            seed,
        );
        let goodput = upload.goodput_bps.unwrap();
        assert!(
            goodput >= mathis,
            "seed {seed}: {goodput:.0} bit/s < Mathis {mathis:.0}"
        );
        assert!(upload.retransmitted_segments > 0);
    }
}

#[test]
fn rfc6298_an_outage_is_ridden_out_with_backed_off_timeouts() {
    // The path goes down for 5 s, one second into a 30 MB transfer.
    let link = r#"queue = "500000B"
schedule = [
  { at = "1s", state = "down" },
  { at = "6s", state = "up" },
]"#;
    let upload = bulk("30MB", link, "cc = \"cubic\"", 1);
    assert!(upload.rto_count >= 3, "RTOs {}", upload.rto_count);
    let gap = upload.max_gap_us.unwrap();
    // The outage, then at most one backed-off RTO (≤ 3.2 s after five doublings of
    // the 200 ms floor) before the first retransmission gets through.
    assert!((5_000_000..9_000_000).contains(&gap), "gap {gap} us");
}

#[test]
fn cubic_leaves_slow_start_before_a_one_bdp_queue_overflows() {
    // The bench's Wi-Fi and cellular paths alone, a drop-tail queue of one
    // bandwidth-delay product, a receive window that never limits. Plain TCP's
    // ACK-train threshold, Linux's half minimum RTT, ends slow start before the
    // queue overflows; with the whole minimum RTT, as MPTCP subflows have it, the
    // queue dropped 220 and 68 segments (docs/tuning.md, "HyStart's ACK-train
    // threshold").
    for (rate, delay, bdp, at_most) in [
        ("50Mbit", "10ms", 125_000, 3),
        ("20Mbit", "30ms", 150_000, 0),
    ] {
        let queue = format!("queue = \"{bdp}B\"");
        let upload = bulk_over(
            rate,
            delay,
            "10MB",
            &queue,
            "cc = \"cubic\"\nrecv_buffer = \"6MiB\"",
            1,
        );
        assert!(
            upload.retransmitted_segments <= at_most,
            "{rate}: {} segments retransmitted",
            upload.retransmitted_segments
        );
        assert_eq!(upload.rto_count, 0);
    }
}

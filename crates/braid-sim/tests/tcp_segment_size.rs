//! RFC 9293 §3.7.1: a segment's data shrinks by the options it carries, so that
//! full-sized segments with SACK blocks still fit the MTU. (Found by the simulator:
//! they once came out 12 octets too large, and a lossy echo deadlocked.)

mod common;

use braid_sim::report::{Integrity, Outcome};
use braid_sim::scenario::spec::{App, Connection, Link};
use braid_sim::scenario::units::{Rate, Size};
use braid_sim::scenario::{RunOptions, Scenario};
use common::{ms, secs, two_hosts};

/// RFC 9293 §3.7.1: the data of a segment shrinks by the options it carries, so that
/// header and data stay within the MSS the peer announced (Eff.snd.MSS). The engine
/// sizes data segments for the timestamps option alone: a full segment that also
/// carries a SACK block is 20 + 20 + 24 + 1448 = 1512 bytes, which a 1500-byte link
/// drops (`dropped_mtu`). Every retransmission carries the same SACK block and is
/// dropped too, so with seed 2 the connection never recovers: at the 120 s deadline
/// 18,824 of 1,000,000 bytes have arrived.
#[test]
fn data_segments_carrying_sack_blocks_fit_the_mtu() {
    // Both ends send data (a bulk sender and an echo) over a link that loses 3% of the
    // packets, so each end holds out-of-order data and SACKs it on its own data
    // segments.
    let lossy = Link::default()
        .name("p")
        .rate(Rate::mbit(10))
        .delay(ms(10))
        .loss(0.03);
    let echoed = Connection::new("client", "server", App::Bulk { bytes: Size::mb(1) })
        .server_app(App::Echo {});
    let spec = two_hosts(lossy).duration(secs(120)).connection(echoed);
    let scenario = Scenario::from_spec(spec).unwrap();
    for seed in [1, 2] {
        let r = scenario
            .run(&RunOptions {
                seed: Some(seed),
                ..RunOptions::default()
            })
            .unwrap()
            .report;
        for l in &r.links {
            assert_eq!(
                l.stats.dropped_mtu.packets, 0,
                "seed {seed}: link {}->{} dropped packets longer than its MTU",
                l.from, l.to
            );
        }
        assert_eq!(r.outcome, Outcome::Completed, "seed {seed}");
        let c = &r.connections[0];
        assert_eq!(c.upload.integrity, Integrity::Intact, "seed {seed}");
        assert_eq!(c.download.integrity, Integrity::Intact, "seed {seed}");
    }
}

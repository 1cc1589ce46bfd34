//! The TCP engine between two braid endpoints on virtual time.

mod support;

use braid_proto::endpoint::EndpointConfig;
use braid_proto::tcp::TcpState;
use braid_proto::time::{Duration, Instant};
use support::{addr, Pair};

/// Sends `data` from endpoint 0 to endpoint 1 and returns what 1 read.
fn transfer(pair: &mut Pair, data: &[u8], deadline: Instant) -> Vec<u8> {
    let client = pair.endpoints[0]
        .connect(pair.now, addr("10.0.0.1:40000"), addr("10.0.0.2:80"))
        .unwrap();
    pair.endpoints[1].listen(addr("10.0.0.2:80")).unwrap();
    let mut written = 0;
    let mut received = Vec::new();
    let mut closed = false;
    let mut buf = vec![0u8; 65536];
    pair.run_until(deadline, |p| {
        if let Some(c) = p.endpoints[0].connection_mut(client) {
            if written < data.len() {
                written += c.write(&data[written..]);
            } else if !closed {
                c.close();
                closed = true;
            }
        }
        if let Some(server) = p.accepted() {
            if let Some(c) = p.endpoints[1].connection_mut(server) {
                loop {
                    let n = c.read(&mut buf);
                    if n == 0 {
                        break;
                    }
                    received.extend_from_slice(&buf[..n]);
                }
                if c.is_read_closed() && c.state() == TcpState::CloseWait {
                    c.close();
                }
            }
        }
        false
    });
    received
}

fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 + i / 251) as u8).collect()
}

#[test]
fn rfc9293_handshake_transfer_and_close() {
    let mut pair = Pair::new(EndpointConfig::default(), Duration::from_millis(10));
    let data = pattern(1 << 20);
    let got = transfer(&mut pair, &data, Instant::from_millis(120_000));
    assert_eq!(got.len(), data.len());
    assert!(got == data, "bytes differ");
    // Both ends finished; the active closer went through TIME-WAIT and is gone.
    assert_eq!(
        pair.endpoints[0].connection_ids().count(),
        0,
        "client lingered"
    );
    assert_eq!(
        pair.endpoints[1].connection_ids().count(),
        0,
        "server lingered"
    );
}

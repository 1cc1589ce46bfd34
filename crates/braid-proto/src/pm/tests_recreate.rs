//! Re-creation of failed subflows: backoff, limits, pairs, removed addresses.

use super::tests::*;
use super::*;
use crate::time::Duration;

/// A client with one `subflow` endpoint, its subflow opened.
fn one_subflow(config: PmConfig) -> PathManager {
    let mut pm = established_client(config);
    assert_eq!(drain(&mut pm), [open("10.0.2.1:0", SERVER, 1, 0, false)]);
    pm
}

/// Lets the backoff start at `now` (the failure was reported without time) and
/// returns when the re-creation is due.
fn arm(pm: &mut PathManager, now: u64) -> Option<u64> {
    assert!(pm.poll_timeout().is_some_and(|t| t <= at(now)));
    pm.handle_timeout(at(now));
    pm.poll_timeout().map(|t| t.as_micros() / 1000)
}

#[test]
fn a_failed_subflow_is_reopened_after_a_second() {
    let mut pm = one_subflow(config(&["10.0.2.1,subflow"]));
    pm.on_subflow_established(sock("10.0.2.1:50000"), sock(SERVER), 1, 0);
    pm.on_subflow_closed(sock("10.0.2.1:50000"), sock(SERVER), true);
    assert!(drain(&mut pm).is_empty());
    assert_eq!(pm.extra_subflows(), 0);
    // The closing carried no time: the wait starts at the next handle_timeout.
    assert_eq!(pm.poll_timeout(), Some(at(0)));
    assert_eq!(arm(&mut pm, 5000), Some(6000));
    assert_eq!(
        pm.pending_recreations().collect::<Vec<_>>(),
        [(sock("10.0.2.1:0"), sock(SERVER))]
    );
    pm.handle_timeout(at(5999));
    assert!(drain(&mut pm).is_empty());
    pm.handle_timeout(at(6000));
    // Same local address and id, same peer address and id, any local port.
    assert_eq!(drain(&mut pm), [open("10.0.2.1:0", SERVER, 1, 0, false)]);
    assert_eq!(pm.recreated_subflows(), 1);
    assert_eq!(pm.failed_subflows(), 1);
    assert_eq!(pm.extra_subflows(), 1);
    assert_eq!(pm.poll_timeout(), None);
}

#[test]
fn the_backoff_doubles_up_to_the_maximum_then_gives_up() {
    let mut pm = one_subflow(config(&["10.0.2.1,subflow"]));
    let mut now = 0;
    for (attempt, delay) in [1, 2, 4, 8, 16, 32, 60, 60].into_iter().enumerate() {
        // Each re-creation fails in its handshake (the local port is the one the
        // connection picked).
        pm.on_subflow_closed(sock("10.0.2.1:50000"), sock(SERVER), true);
        assert_eq!(
            arm(&mut pm, now),
            Some(now + delay * 1000),
            "attempt {attempt}"
        );
        now += delay * 1000;
        pm.handle_timeout(at(now));
        assert_eq!(drain(&mut pm), [open("10.0.2.1:0", SERVER, 1, 0, false)]);
    }
    assert_eq!(pm.recreated_subflows(), 8);
    // The eighth re-creation fails too: given up.
    pm.on_subflow_closed(sock("10.0.2.1:50000"), sock(SERVER), true);
    assert_eq!(pm.poll_timeout(), None);
    assert_eq!(pm.pending_recreations().count(), 0);
    pm.handle_timeout(at(now + 1_000_000));
    assert!(drain(&mut pm).is_empty());
    assert_eq!(pm.failed_subflows(), 9);
}

#[test]
fn an_established_recreation_starts_the_backoff_again() {
    let mut pm = one_subflow(config(&["10.0.2.1,subflow"]));
    pm.on_subflow_closed(sock("10.0.2.1:50000"), sock(SERVER), true);
    assert_eq!(arm(&mut pm, 0), Some(1000));
    pm.handle_timeout(at(1000));
    drain(&mut pm);
    pm.on_subflow_closed(sock("10.0.2.1:50001"), sock(SERVER), true);
    assert_eq!(arm(&mut pm, 1000), Some(3000));
    pm.handle_timeout(at(3000));
    drain(&mut pm);
    pm.on_subflow_established(sock("10.0.2.1:50002"), sock(SERVER), 1, 0);
    assert_eq!(pm.pending_recreations().count(), 0);
    pm.on_subflow_closed(sock("10.0.2.1:50002"), sock(SERVER), true);
    assert_eq!(arm(&mut pm, 90_000), Some(91_000));
}

#[test]
fn a_recreation_keeps_the_backup_flag_as_last_set() {
    let mut pm = established_client(config(&["10.0.2.1,subflow", "10.0.3.1,subflow,backup"]));
    drain(&mut pm);
    pm.on_subflow_closed(sock("10.0.3.1:50000"), sock(SERVER), true);
    pm.on_subflow_closed(sock("10.0.2.1:50000"), sock(SERVER), true);
    pm.handle_timeout(at(10));
    // `ip mptcp endpoint change 10.0.2.1 backup` while it waits.
    pm.set_backup(ip("10.0.2.1"), true);
    assert!(drain(&mut pm).is_empty());
    pm.handle_timeout(at(1010));
    assert_eq!(
        drain(&mut pm),
        [
            open("10.0.3.1:0", SERVER, 2, 0, true),
            open("10.0.2.1:0", SERVER, 1, 0, true),
        ]
    );
}

#[test]
fn subflows_closed_in_order_are_not_recreated() {
    let mut pm = one_subflow(config(&["10.0.2.1,subflow"]));
    pm.on_subflow_established(sock("10.0.2.1:50000"), sock(SERVER), 1, 0);
    pm.on_subflow_closed(sock("10.0.2.1:50000"), sock(SERVER), false);
    assert_eq!(pm.poll_timeout(), None);
    assert_eq!(pm.pending_recreations().count(), 0);
}

#[test]
fn subflows_we_asked_to_close_are_not_recreated() {
    let mut pm = established_client(with_limits(PmConfig::default(), 8, 8));
    pm.on_add_addr(at(10), 1, ip("10.0.2.2"), None);
    drain(&mut pm);
    pm.on_subflow_established(sock("10.0.1.1:50000"), sock("10.0.2.2:8080"), 0, 1);
    pm.close_subflow(sock("10.0.1.1:50000"), sock("10.0.2.2:8080"))
        .unwrap();
    drain(&mut pm);
    // The connection resets it, and says so.
    pm.on_subflow_closed(sock("10.0.1.1:50000"), sock("10.0.2.2:8080"), true);
    assert_eq!(pm.poll_timeout(), None);
    assert_eq!(pm.failed_subflows(), 0);
}

#[test]
fn a_removed_local_address_is_recreated_only_once_it_is_back() {
    let mut pm = established_client(config(&["10.0.2.1,subflow", "10.0.3.1,subflow"]));
    drain(&mut pm);
    pm.on_subflow_closed(sock("10.0.2.1:50000"), sock(SERVER), true);
    pm.on_subflow_closed(sock("10.0.3.1:50000"), sock(SERVER), true);
    pm.handle_timeout(at(0));
    // The interface of 10.0.2.1 goes away while the re-creation waits; 10.0.3.1 is
    // withdrawn by command, for good.
    pm.remove_local_address(ip("10.0.2.1"));
    pm.remove_address(2).unwrap();
    drain(&mut pm);
    assert_eq!(
        pm.pending_recreations().collect::<Vec<_>>(),
        [(sock("10.0.2.1:0"), sock(SERVER))]
    );
    assert_eq!(pm.poll_timeout(), None);
    pm.handle_timeout(at(100_000));
    assert!(drain(&mut pm).is_empty());
    // Back as an address only (a `signal` endpoint opens nothing itself): the lost
    // subflow is re-created at once, under the id the endpoint has now.
    pm.add_local_address(at(200_000), endpoint("10.0.2.1,signal,id=7"));
    let actions = drain(&mut pm);
    assert!(
        actions.contains(&open("10.0.2.1:0", SERVER, 1, 0, false)),
        "{actions:?}"
    );
    pm.on_subflow_established(sock("10.0.2.1:50001"), sock(SERVER), 1, 0);
    assert_eq!(pm.pending_recreations().count(), 0);
}

#[test]
fn the_initial_address_back_re_creates_its_subflow_as_a_join() {
    // A client with no endpoints: its one path's link goes down, then up.
    let mut pm = established_client(PmConfig::default());
    pm.remove_local_address(ip("10.0.1.1"));
    assert_eq!(
        drain(&mut pm),
        [
            PmAction::RemoveAddress { ids: vec![0] },
            PmAction::CloseSubflows {
                which: SubflowSelector::LocalAddr(ip("10.0.1.1"))
            },
        ]
    );
    pm.on_subflow_closed(sock(CLIENT), sock(SERVER), true);
    assert!(drain(&mut pm).is_empty());
    assert_eq!(pm.poll_timeout(), None);
    pm.local_address_back(at(30_000), ip("10.0.1.1"));
    // The REMOVE_ADDR, if still unsent, is dropped; a join with id 0 replaces the
    // initial subflow.
    assert_eq!(
        drain(&mut pm),
        [
            PmAction::KeepAddress { id: 0 },
            open("10.0.1.1:0", SERVER, 0, 0, false)
        ]
    );
    assert_eq!(pm.local_address_id(ip("10.0.1.1")), Some(0));
    // Linux's policy re-creates nothing: the address back opens nothing.
    let mut linux = established_client(PmConfig::linux_defaults());
    linux.remove_local_address(ip("10.0.1.1"));
    drain(&mut linux);
    linux.on_subflow_closed(sock(CLIENT), sock(SERVER), true);
    linux.local_address_back(at(30_000), ip("10.0.1.1"));
    assert_eq!(drain(&mut linux), [PmAction::KeepAddress { id: 0 }]);
}

#[test]
fn rfc8684_s3_4_1_a_failed_join_to_an_announced_address_waits_for_a_new_announcement() {
    let mut pm = established_client(PmConfig::default());
    pm.on_add_addr(at(10), 1, ip("10.0.2.2"), None);
    pm.on_add_addr(at(10), 2, ip("10.0.3.2"), None);
    assert_eq!(drain(&mut pm).len(), 2);
    pm.on_subflow_closed(sock("10.0.1.1:50000"), sock("10.0.2.2:8080"), true);
    pm.on_subflow_closed(sock("10.0.1.1:50001"), sock("10.0.3.2:8080"), true);
    pm.on_remove_addr(&[1]);
    // Neither is tried again by itself, however long we wait.
    assert_eq!(pm.poll_timeout(), None);
    pm.handle_timeout(at(100_000));
    assert!(drain(&mut pm).is_empty());
    assert_eq!(pm.pending_recreations().count(), 0);
    // Announced again (same id and address), the one still known is joined again;
    // the removed one, re-announced under its id, is a new address: joined too.
    pm.on_add_addr(at(200_000), 2, ip("10.0.3.2"), None);
    assert_eq!(
        drain(&mut pm),
        [open("10.0.1.1:0", "10.0.3.2:8080", 0, 2, false)]
    );
    pm.on_add_addr(at(200_010), 1, ip("10.0.2.2"), None);
    assert_eq!(
        drain(&mut pm),
        [open("10.0.1.1:0", "10.0.2.2:8080", 0, 1, false)]
    );
    // A resend of an announcement whose join did not fail opens nothing.
    pm.on_add_addr(at(200_020), 1, ip("10.0.2.2"), None);
    assert!(drain(&mut pm).is_empty());
}

#[test]
fn a_subflow_failing_after_its_peer_address_was_removed_is_not_recreated() {
    let mut pm = established_client(PmConfig::default());
    pm.on_add_addr(at(10), 1, ip("10.0.2.2"), None);
    drain(&mut pm);
    pm.on_subflow_established(sock("10.0.1.1:50000"), sock("10.0.2.2:8080"), 0, 1);
    // The peer removes the address; the reset we asked for is reported after.
    pm.on_remove_addr(&[1]);
    pm.on_subflow_closed(sock("10.0.1.1:50000"), sock("10.0.2.2:8080"), true);
    assert_eq!(pm.poll_timeout(), None);
}

#[test]
fn the_peers_joins_are_not_recreated() {
    // Its port is the peer's ephemeral one: nobody listens there.
    let mut pm = server(PmConfig::default());
    pm.on_established(at(0));
    pm.on_subflow_established(sock("10.0.1.2:8080"), sock("10.0.2.1:40001"), 0, 1);
    pm.on_subflow_closed(sock("10.0.1.2:8080"), sock("10.0.2.1:40001"), true);
    assert_eq!(pm.poll_timeout(), None);
    assert_eq!(pm.failed_subflows(), 1);
    // Nor a server's initial subflow, for the same reason.
    pm.on_subflow_closed(sock(SERVER), sock(CLIENT), true);
    assert_eq!(pm.poll_timeout(), None);
}

#[test]
fn a_clients_initial_subflow_comes_back_as_a_join() {
    let mut pm = established_client(PmConfig::default());
    pm.on_subflow_closed(sock(CLIENT), sock(SERVER), true);
    assert_eq!(arm(&mut pm, 0), Some(1000));
    pm.handle_timeout(at(1000));
    // Address id 0 at both ends; a join now, counted against limits.subflows.
    assert_eq!(drain(&mut pm), [open("10.0.1.1:0", SERVER, 0, 0, false)]);
    assert_eq!(pm.extra_subflows(), 1);
    pm.on_subflow_established(sock("10.0.1.1:40001"), sock(SERVER), 0, 0);
    assert_eq!(pm.pending_recreations().count(), 0);
}

#[test]
fn a_failed_initial_subflow_waits_out_the_backoff_despite_its_endpoint() {
    // The initial address's `subflow` endpoint is in use while the address is: a
    // failure of the initial subflow (address still there) goes through the backoff,
    // not through the endpoint at once.
    let mut pm = established_client(config(&["10.0.1.1,subflow"]));
    assert!(drain(&mut pm).is_empty());
    pm.on_subflow_closed(sock(CLIENT), sock(SERVER), true);
    assert!(drain(&mut pm).is_empty());
    assert_eq!(arm(&mut pm, 0), Some(1000));
    pm.handle_timeout(at(1000));
    assert_eq!(drain(&mut pm), [open("10.0.1.1:0", SERVER, 0, 0, false)]);
    assert_eq!(pm.recreated_subflows(), 1);
}

#[test]
fn the_join_from_the_initial_address_back_is_recreated_with_id_zero() {
    let mut pm = established_client(config(&["10.0.1.1,subflow"]));
    // The initial subflow fails, and its re-creation is pending, when the address
    // goes away: the re-creation goes with it.
    pm.on_subflow_closed(sock(CLIENT), sock(SERVER), true);
    pm.handle_timeout(at(0));
    assert_eq!(pm.pending_recreations().count(), 1);
    pm.remove_local_address(ip("10.0.1.1"));
    // No subflow uses id 0 then: nothing to withdraw. The re-creation now waits for
    // the address, not for a timer.
    assert!(drain(&mut pm).is_empty());
    assert_eq!(pm.pending_recreations().count(), 1);
    assert_eq!(pm.poll_timeout(), None);
    pm.handle_timeout(at(1000));
    assert!(drain(&mut pm).is_empty());
    // Back: a join at once (a new endpoint), then re-created after failures.
    pm.add_local_address(at(2000), endpoint("10.0.1.1,subflow"));
    assert_eq!(drain(&mut pm), [open("10.0.1.1:0", SERVER, 0, 0, false)]);
    pm.on_subflow_closed(sock("10.0.1.1:40001"), sock(SERVER), true);
    assert!(drain(&mut pm).is_empty());
    assert_eq!(arm(&mut pm, 2000), Some(3000));
    pm.handle_timeout(at(3000));
    assert_eq!(drain(&mut pm), [open("10.0.1.1:0", SERVER, 0, 0, false)]);
    pm.on_subflow_established(sock("10.0.1.1:40002"), sock(SERVER), 0, 0);
    assert_eq!(pm.pending_recreations().count(), 0);
}

#[test]
fn a_recreation_waits_for_a_place_under_the_limit() {
    let mut pm = established_client(with_limits(
        config(&["10.0.2.1,subflow", "10.0.3.1,subflow"]),
        1,
        8,
    ));
    assert_eq!(drain(&mut pm), [open("10.0.2.1:0", SERVER, 1, 0, false)]);
    pm.on_subflow_closed(sock("10.0.2.1:50000"), sock(SERVER), true);
    // The freed place goes to the endpoint held back, as in Linux.
    assert_eq!(drain(&mut pm), [open("10.0.3.1:0", SERVER, 2, 0, false)]);
    pm.handle_timeout(at(0));
    pm.handle_timeout(at(1000));
    assert!(drain(&mut pm).is_empty());
    // Due but without a place: no timer spins meanwhile.
    assert_eq!(pm.poll_timeout(), None);
    assert_eq!(pm.pending_recreations().count(), 1);
    pm.on_subflow_established(sock("10.0.3.1:50001"), sock(SERVER), 2, 0);
    pm.on_subflow_closed(sock("10.0.3.1:50001"), sock(SERVER), false);
    assert_eq!(drain(&mut pm), [open("10.0.2.1:0", SERVER, 1, 0, false)]);
    assert_eq!(pm.extra_subflows(), 1);
}

#[test]
fn a_recreation_never_duplicates_a_live_pair() {
    let mut pm = one_subflow(config(&["10.0.2.1,subflow"]));
    pm.on_subflow_closed(sock("10.0.2.1:50000"), sock(SERVER), true);
    pm.handle_timeout(at(0));
    // A program opened the pair again meanwhile.
    pm.open_subflow(sock("10.0.2.1:0"), sock(SERVER), 1, 0, false)
        .unwrap();
    assert_eq!(drain(&mut pm).len(), 1);
    pm.handle_timeout(at(1000));
    assert!(drain(&mut pm).is_empty());
    assert_eq!(pm.extra_subflows(), 1);
    assert_eq!(pm.pending_recreations().count(), 0);
}

#[test]
fn commanded_subflows_are_recreated_too() {
    let mut pm = established_client(PmConfig::default());
    pm.open_subflow(sock("10.0.5.1:0"), sock(SERVER), 5, 0, true)
        .unwrap();
    drain(&mut pm);
    pm.on_subflow_closed(sock("10.0.5.1:50000"), sock(SERVER), true);
    pm.handle_timeout(at(0));
    pm.handle_timeout(at(1000));
    assert_eq!(drain(&mut pm), [open("10.0.5.1:0", SERVER, 5, 0, true)]);
}

#[test]
fn linux_defaults_userspace_mode_and_zero_attempts_recreate_nothing() {
    let mut linux = PmConfig::linux_defaults();
    linux.endpoints = vec![endpoint("10.0.2.1,subflow,id=1")];
    let mut zero = config(&["10.0.2.1,subflow"]);
    zero.recreate_attempts = 0;
    for config in [linux, zero] {
        let mut pm = one_subflow(config);
        pm.on_subflow_closed(sock("10.0.2.1:50000"), sock(SERVER), true);
        assert_eq!(pm.poll_timeout(), None);
        assert_eq!(pm.failed_subflows(), 1);
    }
    let mut userspace = PmConfig {
        mode: PmMode::Userspace,
        ..PmConfig::default()
    };
    userspace.recreate_failed = true;
    let mut pm = established_client(userspace);
    pm.open_subflow(sock("10.0.2.1:0"), sock(SERVER), 1, 0, false)
        .unwrap();
    drain(&mut pm);
    pm.on_subflow_closed(sock("10.0.2.1:50000"), sock(SERVER), true);
    assert_eq!(pm.poll_timeout(), None);
    pm.on_subflow_closed(sock(CLIENT), sock(SERVER), true);
    assert_eq!(pm.poll_timeout(), None);
}

#[test]
fn custom_backoff_settings_are_followed() {
    let mut config = config(&["10.0.2.1,subflow"]);
    config.recreate_delay = Duration::from_millis(250);
    config.recreate_max_delay = Duration::from_millis(600);
    config.recreate_attempts = 3;
    let mut pm = one_subflow(config);
    let mut now = 0;
    for delay in [250, 500, 600] {
        pm.on_subflow_closed(sock("10.0.2.1:50000"), sock(SERVER), true);
        assert_eq!(arm(&mut pm, now), Some(now + delay));
        now += delay;
        pm.handle_timeout(at(now));
        assert_eq!(drain(&mut pm).len(), 1);
    }
    pm.on_subflow_closed(sock("10.0.2.1:50000"), sock(SERVER), true);
    assert_eq!(pm.poll_timeout(), None);
    // A zero delay (refused by validate) is taken as 1 ms, not as "at once".
    let mut zero = self::config(&["10.0.2.1,subflow"]);
    zero.recreate_delay = Duration::ZERO;
    zero.recreate_max_delay = Duration::ZERO;
    let mut pm = one_subflow(zero);
    pm.on_subflow_closed(sock("10.0.2.1:50000"), sock(SERVER), true);
    pm.handle_timeout(at(7));
    assert_eq!(pm.poll_timeout(), Some(at(7) + Duration::from_millis(1)));
}

//! The enhanced API: events, commands and their refusals, and the userspace mode.

use super::tests::*;
use super::*;

fn events(pm: &mut PathManager) -> Vec<PmEvent> {
    std::iter::from_fn(|| pm.poll_event()).collect()
}

fn userspace(endpoints: &[&str]) -> PmConfig {
    PmConfig {
        mode: PmMode::Userspace,
        ..config(endpoints)
    }
}

fn close_exact(local: &str, remote: &str) -> PmAction {
    PmAction::CloseSubflows {
        which: SubflowSelector::Exact {
            local: sock(local),
            remote: sock(remote),
        },
    }
}

// ------------------------------------------------------------------ events

#[test]
fn events_follow_a_connections_paths() {
    let mut pm = client(config(&["10.0.2.1,subflow,backup"]));
    assert!(events(&mut pm).is_empty());
    pm.on_established(at(0));
    drain(&mut pm);
    pm.on_subflow_established(sock("10.0.2.1:50000"), sock(SERVER), 1, 0);
    // Reported twice, established once.
    pm.on_subflow_established(sock("10.0.2.1:50000"), sock(SERVER), 1, 0);
    pm.on_add_addr(at(10), 1, ip("10.0.2.2"), Some(9000));
    pm.on_add_addr(at(11), 1, ip("10.0.2.2"), Some(9000)); // a resend
    pm.on_remove_addr(&[1, 1]);
    pm.on_subflow_closed(sock("10.0.2.1:50000"), sock(SERVER), true);
    pm.add_local_address(at(20), endpoint("10.0.3.1"));
    pm.remove_local_address(ip("10.0.3.1"));
    pm.remove_local_address(ip("10.0.9.9")); // not ours: nothing
    assert_eq!(
        events(&mut pm),
        [
            PmEvent::Established {
                local: sock(CLIENT),
                remote: sock(SERVER)
            },
            PmEvent::SubflowEstablished {
                local: sock("10.0.2.1:50000"),
                remote: sock(SERVER),
                local_id: 1,
                remote_id: 0,
                backup: true
            },
            PmEvent::AddressAnnounced {
                id: 1,
                addr: ip("10.0.2.2"),
                port: Some(9000)
            },
            PmEvent::AddressRemoved { id: 1 },
            PmEvent::SubflowClosed {
                local: sock("10.0.2.1:50000"),
                remote: sock(SERVER),
                failed: true
            },
            PmEvent::LocalAddressAdded {
                id: 2,
                addr: ip("10.0.3.1"),
                port: None
            },
            PmEvent::LocalAddressRemoved {
                id: 2,
                addr: ip("10.0.3.1")
            },
        ]
    );
    assert_eq!(pm.dropped_events(), 0);
}

#[test]
fn addresses_the_policy_ignores_are_still_reported() {
    // Linux reports every ADD_ADDR (mptcp_event_addr_announced) before deciding.
    let mut pm = established_client(PmConfig::linux_defaults());
    events(&mut pm);
    pm.on_add_addr(at(10), 1, ip("10.0.2.2"), None);
    assert!(drain(&mut pm).is_empty());
    assert_eq!(
        events(&mut pm),
        [PmEvent::AddressAnnounced {
            id: 1,
            addr: ip("10.0.2.2"),
            port: None
        }]
    );
    // Id 0 is the peer's initial address: not an announcement.
    pm.on_add_addr(at(10), 0, ip("10.0.7.2"), None);
    assert!(events(&mut pm).is_empty());
}

#[test]
fn echoes_and_unanswered_announcements_are_reported() {
    let mut pm = server(config(&["10.0.2.2,signal", "10.0.3.2,signal"]));
    pm.on_established(at(0));
    drain(&mut pm);
    pm.on_add_addr_echo(1);
    pm.on_add_addr_echo(1); // a duplicate echo
    pm.handle_timeout(at(1));
    assert_eq!(drain(&mut pm), [announce(2, "10.0.3.2", None)]);
    for resend in 1..=3u64 {
        pm.handle_timeout(at(1 + 1000 * resend));
    }
    assert_eq!(
        events(&mut pm),
        [
            PmEvent::Established {
                local: sock(SERVER),
                remote: sock(CLIENT)
            },
            PmEvent::AnnounceEchoed { id: 1 },
            PmEvent::AnnounceUnanswered { id: 2 },
        ]
    );
    // A late echo after giving up is still news.
    pm.on_add_addr_echo(2);
    assert_eq!(events(&mut pm), [PmEvent::AnnounceEchoed { id: 2 }]);
}

#[test]
fn the_peers_joins_are_reported_with_our_backup_flag() {
    let mut pm = server(config(&["10.0.2.2,backup"]));
    pm.on_established(at(0));
    events(&mut pm);
    pm.on_subflow_established(sock("10.0.2.2:8080"), sock("10.0.2.1:40001"), 1, 3);
    pm.on_subflow_closed(sock("10.0.2.2:8080"), sock("10.0.2.1:40001"), false);
    assert_eq!(
        events(&mut pm),
        [
            PmEvent::SubflowEstablished {
                local: sock("10.0.2.2:8080"),
                remote: sock("10.0.2.1:40001"),
                local_id: 1,
                remote_id: 3,
                backup: true
            },
            PmEvent::SubflowClosed {
                local: sock("10.0.2.2:8080"),
                remote: sock("10.0.2.1:40001"),
                failed: false
            },
        ]
    );
}

#[test]
fn the_event_queue_keeps_the_newest_and_counts_the_dropped() {
    let mut pm = established_client(PmConfig::default());
    for id in 1..=100u8 {
        pm.on_add_addr(at(1), id, ip(&format!("10.2.{id}.2")), None);
    }
    // Established, then 100 announcements: the 37 oldest fell out.
    assert_eq!(pm.dropped_events(), 37);
    let kept = events(&mut pm);
    assert_eq!(kept.len(), MAX_EVENTS);
    assert_eq!(
        kept[0],
        PmEvent::AddressAnnounced {
            id: 37,
            addr: ip("10.2.37.2"),
            port: None
        }
    );
    assert_eq!(pm.poll_event(), None);
}

// ------------------------------------------------------------------ userspace mode

#[test]
fn userspace_mode_opens_and_announces_nothing_by_itself() {
    let mut config = userspace(&[
        "10.0.1.1,backup",
        "10.0.2.1,subflow,signal",
        "10.0.3.1,subflow,fullmesh",
    ]);
    config.limits = PmLimits {
        subflows: 8,
        add_addr_accepted: 8,
    };
    let mut pm = established_client(config);
    pm.on_add_addr(at(10), 1, ip("10.0.2.2"), None);
    pm.add_local_address(at(20), endpoint("10.0.4.1,signal,subflow"));
    pm.on_subflow_closed(sock(CLIENT), sock(SERVER), true);
    pm.handle_timeout(at(100_000));
    assert!(drain(&mut pm).is_empty());
    assert_eq!(pm.poll_timeout(), None);
    assert_eq!(pm.mode(), PmMode::Userspace);
    // The program hears of all of it, and the tables still give ids and flags.
    assert_eq!(events(&mut pm).len(), 4);
    assert_eq!(pm.remote_address(1), Some(sock("10.0.2.2:8080")));
    assert_eq!(pm.local_address_id(ip("10.0.4.1")), Some(4));
    assert!(pm.is_backup_address(ip("10.0.1.1")));
}

#[test]
fn a_program_drives_the_connection_in_userspace_mode() {
    let mut pm = established_client(userspace(&[]));
    events(&mut pm);
    pm.on_add_addr(at(10), 3, ip("10.0.2.2"), None);
    pm.open_subflow(sock("10.0.2.1:0"), sock("10.0.2.2:8080"), 1, 3, true)
        .unwrap();
    pm.announce(at(20), 1, ip("10.0.2.1"), None).unwrap();
    assert_eq!(
        drain(&mut pm),
        [
            open("10.0.2.1:0", "10.0.2.2:8080", 1, 3, true),
            announce(1, "10.0.2.1", None),
        ]
    );
    // The protocol's duties stay: an unechoed announcement is resent.
    assert_eq!(pm.poll_timeout(), Some(at(1020)));
    pm.handle_timeout(at(1020));
    assert_eq!(drain(&mut pm), [announce(1, "10.0.2.1", None)]);
    pm.on_add_addr_echo(1);
    pm.on_subflow_established(sock("10.0.2.1:50000"), sock("10.0.2.2:8080"), 1, 3);
    assert_eq!(
        events(&mut pm),
        [
            PmEvent::AddressAnnounced {
                id: 3,
                addr: ip("10.0.2.2"),
                port: None
            },
            PmEvent::AnnounceEchoed { id: 1 },
            PmEvent::SubflowEstablished {
                local: sock("10.0.2.1:50000"),
                remote: sock("10.0.2.2:8080"),
                local_id: 1,
                remote_id: 3,
                backup: true
            },
        ]
    );
    pm.set_backup_id(1, false).unwrap();
    pm.close_subflow(sock("10.0.2.1:50000"), sock("10.0.2.2:8080"))
        .unwrap();
    pm.remove_address(1).unwrap();
    assert_eq!(
        drain(&mut pm),
        [
            PmAction::SetBackup {
                local_id: 1,
                backup: false
            },
            close_exact("10.0.2.1:50000", "10.0.2.2:8080"),
            // Announced, so withdrawn; its only subflow is closing already.
            PmAction::RemoveAddress { ids: vec![1] },
        ]
    );
    assert_eq!(pm.extra_subflows(), 0);
    assert_eq!(pm.announced_address(1), None);
}

#[test]
fn userspace_limits_are_the_programs_but_never_above_eight() {
    let mut config = userspace(&[]);
    config.limits = PmLimits {
        subflows: 0,
        add_addr_accepted: 0,
    };
    let mut pm = established_client(config);
    for i in 1..=8u8 {
        pm.open_subflow(sock(&format!("10.0.{i}.7:0")), sock(SERVER), i, 0, false)
            .unwrap();
    }
    assert_eq!(drain(&mut pm).len(), 8);
    let error = pm
        .open_subflow(sock("10.0.1.1:0"), sock("10.0.1.2:9000"), 0, 9, false)
        .unwrap_err();
    assert_eq!(
        error,
        PmCommandError::SubflowLimit {
            limit: 8,
            mode: PmMode::Userspace
        }
    );
    assert!(error.to_string().contains("close one first"), "{error}");
    // Announced addresses are remembered up to eight, whatever add_addr_accepted.
    for id in 1..=9u8 {
        pm.on_add_addr(at(1), id, ip(&format!("10.3.{id}.2")), None);
    }
    assert_eq!(pm.accepted_addresses(), 8);
    // The peer's joins cannot wait for the program: limits.subflows decides them.
    assert!(!pm.may_accept_join());
}

#[test]
fn userspace_mode_still_closes_subflows_to_removed_peer_addresses() {
    // RFC 8684 §3.4.2; Linux handles REMOVE_ADDR in the kernel for both path managers.
    let mut pm = established_client(userspace(&[]));
    pm.on_add_addr(at(10), 3, ip("10.0.2.2"), None);
    pm.open_subflow(sock("10.0.1.1:0"), sock("10.0.2.2:8080"), 0, 3, false)
        .unwrap();
    drain(&mut pm);
    pm.on_remove_addr(&[3]);
    assert_eq!(
        drain(&mut pm),
        [PmAction::CloseSubflows {
            which: SubflowSelector::RemoteIds(vec![3])
        }]
    );
    assert_eq!(pm.remote_address(3), None);
}

#[test]
fn userspace_mode_only_reports_a_vanished_local_address() {
    let mut pm = established_client(userspace(&["10.0.2.1,signal"]));
    pm.announce(at(1), 1, ip("10.0.2.1"), None).unwrap();
    drain(&mut pm);
    events(&mut pm);
    pm.remove_local_address(ip("10.0.2.1"));
    assert!(drain(&mut pm).is_empty());
    assert_eq!(
        events(&mut pm),
        [PmEvent::LocalAddressRemoved {
            id: 1,
            addr: ip("10.0.2.1")
        }]
    );
    // The program withdraws it.
    pm.remove_address(1).unwrap();
    assert_eq!(drain(&mut pm), [PmAction::RemoveAddress { ids: vec![1] }]);
    assert_eq!(pm.poll_timeout(), None);
}

// ------------------------------------------------------------------ commands

#[test]
fn open_subflow_refusals_say_what_is_wrong() {
    use PmCommandError as E;
    let mut before = client(PmConfig::default());
    assert_eq!(
        before.open_subflow(sock("10.0.2.1:0"), sock(SERVER), 1, 0, false),
        Err(E::NotEstablished)
    );
    let mut pm = established_client(with_limits(config(&["10.0.2.1,subflow"]), 2, 8));
    drain(&mut pm);
    pm.on_add_addr(at(1), 4, ip("10.0.4.2"), None);
    drain(&mut pm); // joined from the initial address: two extra subflows now
    let cases: &[(&str, &str, u8, u8, PmCommandError, &str)] = &[
        (
            "0.0.0.0:0",
            SERVER,
            1,
            0,
            E::UnusableAddress {
                addr: ip("0.0.0.0"),
            },
            "unicast",
        ),
        (
            "10.0.2.1:0",
            "224.0.0.1:80",
            1,
            0,
            E::UnusableAddress {
                addr: ip("224.0.0.1"),
            },
            "unicast",
        ),
        (
            "10.0.2.1:0",
            "10.0.1.2:0",
            1,
            0,
            E::ZeroRemotePort {
                remote: sock("10.0.1.2:0"),
            },
            "port the peer listens on",
        ),
        (
            "[2001:db8::1]:0",
            SERVER,
            9,
            0,
            E::FamilyMismatch {
                local: sock("[2001:db8::1]:0"),
                remote: sock(SERVER),
            },
            "both ends",
        ),
        (
            "10.0.1.1:0",
            SERVER,
            3,
            0,
            E::LocalIdMismatch {
                addr: ip("10.0.1.1"),
                given: 3,
                known: 0,
            },
            "use id 0",
        ),
        (
            "10.0.2.1:0",
            SERVER,
            2,
            0,
            E::LocalIdMismatch {
                addr: ip("10.0.2.1"),
                given: 2,
                known: 1,
            },
            "use id 1",
        ),
        (
            "10.0.7.1:0",
            SERVER,
            0,
            0,
            E::ReservedIdZero {
                addr: ip("10.0.7.1"),
            },
            "1..=255",
        ),
        (
            "10.0.7.1:0",
            SERVER,
            1,
            0,
            E::LocalIdInUse {
                id: 1,
                other: ip("10.0.2.1"),
            },
            "no other address has",
        ),
        (
            "10.0.2.1:0",
            "10.0.9.2:8080",
            1,
            4,
            E::RemoteIdMismatch {
                id: 4,
                given: sock("10.0.9.2:8080"),
                known: sock("10.0.4.2:8080"),
            },
            "use 10.0.4.2:8080",
        ),
        (
            "10.0.2.1:0",
            "10.0.4.2:8080",
            1,
            5,
            E::RemoteAddressIdMismatch {
                remote: sock("10.0.4.2:8080"),
                given: 5,
                known: 4,
            },
            "use id 4",
        ),
        (
            "10.0.2.1:0",
            SERVER,
            1,
            0,
            E::DuplicateSubflow {
                local: ip("10.0.2.1"),
                remote: sock(SERVER),
            },
            "one subflow per pair",
        ),
        (
            "10.0.2.1:0",
            "10.0.4.2:8080",
            1,
            4,
            E::SubflowLimit {
                limit: 2,
                mode: PmMode::Kernel,
            },
            "limits.subflows",
        ),
    ];
    for (local, remote, local_id, remote_id, expected, hint) in cases {
        let result = pm.open_subflow(sock(local), sock(remote), *local_id, *remote_id, false);
        assert_eq!(result.as_ref(), Err(expected), "{local} -> {remote}");
        let message = expected.to_string();
        assert!(message.contains(hint), "{message}");
    }
    // Nothing was done by any of them.
    assert!(drain(&mut pm).is_empty());
    assert_eq!(pm.local_address_id(ip("10.0.7.1")), None);
}

#[test]
fn open_subflow_records_a_new_local_address_under_its_id() {
    let mut pm = established_client(with_limits(PmConfig::default(), 8, 8));
    pm.open_subflow(sock("10.0.7.1:0"), sock(SERVER), 7, 0, false)
        .unwrap();
    assert_eq!(pm.local_address_id(ip("10.0.7.1")), Some(7));
    // The peer's address not announced (known out of band): allowed.
    pm.open_subflow(sock("10.0.7.1:41000"), sock("10.0.9.2:80"), 7, 9, false)
        .unwrap();
    assert_eq!(
        drain(&mut pm),
        [
            open("10.0.7.1:0", SERVER, 7, 0, false),
            open("10.0.7.1:41000", "10.0.9.2:80", 7, 9, false),
        ]
    );
    // A chosen local port is matched exactly when established.
    pm.on_subflow_established(sock("10.0.7.1:41000"), sock("10.0.9.2:80"), 7, 9);
    assert_eq!(pm.extra_subflows(), 2);
}

#[test]
fn at_most_eight_local_addresses_through_commands_too() {
    let mut config = userspace(&[]);
    config.endpoints = (1..=8u8)
        .map(|i| endpoint(&format!("10.0.{i}.9,id={i}")))
        .collect();
    let mut pm = established_client(config);
    assert_eq!(
        pm.open_subflow(sock("10.0.20.1:0"), sock(SERVER), 20, 0, false),
        Err(PmCommandError::TooManyAddresses)
    );
    assert_eq!(
        pm.announce(at(1), 20, ip("10.0.20.1"), None),
        Err(PmCommandError::TooManyAddresses)
    );
    assert!(PmCommandError::TooManyAddresses
        .to_string()
        .contains("remove one"));
}

#[test]
fn announce_refusals_say_what_is_wrong() {
    use PmCommandError as E;
    let mut before = server(PmConfig::default());
    assert_eq!(
        before.announce(at(0), 1, ip("10.0.2.2"), None),
        Err(E::NotEstablished)
    );
    let mut pm = server(config(&["10.0.2.2,signal", "10.0.3.2,subflow"]));
    pm.on_established(at(0));
    drain(&mut pm);
    let cases: &[(u8, &str, Option<u16>, PmCommandError, &str)] = &[
        (
            1,
            "10.0.1.2",
            None,
            E::InitialAddress {
                addr: ip("10.0.1.2"),
            },
            "id 0",
        ),
        (
            0,
            "10.0.9.2",
            None,
            E::ReservedIdZero {
                addr: ip("10.0.9.2"),
            },
            "1..=255",
        ),
        (
            3,
            "ff02::1",
            None,
            E::UnusableAddress {
                addr: ip("ff02::1"),
            },
            "unicast",
        ),
        (
            3,
            "10.0.9.2",
            Some(0),
            E::ZeroAnnouncedPort {
                addr: ip("10.0.9.2"),
            },
            "leave the port out",
        ),
        (
            1,
            "10.0.2.2",
            None,
            E::AlreadyAnnounced { id: 1 },
            "remove_address(1)",
        ),
        (
            7,
            "10.0.3.2",
            None,
            E::LocalIdMismatch {
                addr: ip("10.0.3.2"),
                given: 7,
                known: 2,
            },
            "use id 2",
        ),
        (
            2,
            "10.0.9.2",
            None,
            E::LocalIdInUse {
                id: 2,
                other: ip("10.0.3.2"),
            },
            "pick an id",
        ),
    ];
    for (id, addr, port, expected, hint) in cases {
        assert_eq!(
            pm.announce(at(1), *id, ip(addr), *port).as_ref(),
            Err(expected),
            "{id} {addr}"
        );
        assert!(expected.to_string().contains(hint), "{expected}");
    }
    assert!(drain(&mut pm).is_empty());
}

#[test]
fn announce_goes_at_once_and_is_resent_until_echoed() {
    // Kernel mode: the policy's announcement of 10.0.2.2 is outstanding; a
    // commanded one does not wait behind it.
    let mut pm = server(config(&["10.0.2.2,signal", "10.0.3.2,subflow"]));
    pm.on_established(at(0));
    drain(&mut pm);
    pm.announce(at(100), 9, ip("10.0.9.2"), Some(9000)).unwrap();
    // An endpoint that was not announced may be, under its own id.
    pm.announce(at(100), 2, ip("10.0.3.2"), None).unwrap();
    assert_eq!(
        drain(&mut pm),
        [
            announce(9, "10.0.9.2", Some(9000)),
            announce(2, "10.0.3.2", None)
        ]
    );
    assert_eq!(pm.announced_address(9), Some((ip("10.0.9.2"), Some(9000))));
    pm.on_add_addr_echo(1);
    pm.on_add_addr_echo(2);
    pm.handle_timeout(at(1099));
    assert!(drain(&mut pm).is_empty());
    pm.handle_timeout(at(1100));
    assert_eq!(drain(&mut pm), [announce(9, "10.0.9.2", Some(9000))]);
    pm.on_add_addr_echo(9);
    assert_eq!(pm.poll_timeout(), None);
    // Once given up, it may be announced again.
    let mut pm = server(PmConfig {
        add_addr_retransmissions: 0,
        ..PmConfig::default()
    });
    pm.on_established(at(0));
    pm.announce(at(0), 4, ip("10.0.4.2"), None).unwrap();
    pm.handle_timeout(at(1000));
    pm.announce(at(1000), 4, ip("10.0.4.2"), None).unwrap();
    assert_eq!(
        drain(&mut pm),
        [announce(4, "10.0.4.2", None), announce(4, "10.0.4.2", None)]
    );
}

#[test]
fn remove_address_withdraws_an_id_and_closes_its_subflows() {
    let mut pm = established_client(config(&["10.0.2.1,subflow", "10.0.3.1"]));
    drain(&mut pm);
    assert_eq!(
        pm.remove_address(9),
        Err(PmCommandError::UnknownAddressId { id: 9 })
    );
    assert!(PmCommandError::UnknownAddressId { id: 9 }
        .to_string()
        .contains("no local address has id 9"));
    // Configured, never used nor announced: forgotten quietly.
    pm.remove_address(2).unwrap();
    assert!(drain(&mut pm).is_empty());
    assert_eq!(pm.local_address_id(ip("10.0.3.1")), None);
    // Used by a pending subflow: REMOVE_ADDR, and the address's subflows closed.
    pm.remove_address(1).unwrap();
    assert_eq!(
        drain(&mut pm),
        [
            PmAction::RemoveAddress { ids: vec![1] },
            PmAction::CloseSubflows {
                which: SubflowSelector::LocalAddr(ip("10.0.2.1"))
            },
        ]
    );
    assert_eq!(pm.extra_subflows(), 0);
    assert_eq!(
        pm.remove_address(1),
        Err(PmCommandError::UnknownAddressId { id: 1 })
    );
}

#[test]
fn removing_id_zero_stops_joins_from_the_initial_address() {
    let mut pm = established_client(PmConfig::default());
    pm.remove_address(0).unwrap();
    assert_eq!(
        drain(&mut pm),
        [
            PmAction::RemoveAddress { ids: vec![0] },
            PmAction::CloseSubflows {
                which: SubflowSelector::LocalAddr(ip("10.0.1.1"))
            },
        ]
    );
    // An announced address is no longer joined from the removed address.
    pm.on_add_addr(at(10), 1, ip("10.0.2.2"), None);
    assert!(drain(&mut pm).is_empty());
    assert_eq!(
        pm.remove_address(0),
        Err(PmCommandError::UnknownAddressId { id: 0 })
    );
}

#[test]
fn opening_from_the_removed_initial_address_reuses_id_zero() {
    let mut pm = established_client(PmConfig::default());
    pm.remove_address(0).unwrap();
    drain(&mut pm);
    // RFC 8684 §3.4.1: id 0 stays the initial subflow's address's.
    assert_eq!(
        pm.open_subflow(sock("10.0.1.1:0"), sock(SERVER), 4, 0, false),
        Err(PmCommandError::LocalIdMismatch {
            addr: ip("10.0.1.1"),
            given: 4,
            known: 0
        })
    );
    pm.open_subflow(sock("10.0.1.1:0"), sock(SERVER), 0, 0, false)
        .unwrap();
    assert_eq!(drain(&mut pm), [open("10.0.1.1:0", SERVER, 0, 0, false)]);
    // In use again: removable as id 0, and re-created when it fails.
    pm.on_subflow_closed(sock("10.0.1.1:40001"), sock(SERVER), true);
    pm.handle_timeout(at(0));
    assert_eq!(pm.pending_recreations().count(), 1);
    pm.remove_address(0).unwrap();
    assert_eq!(pm.pending_recreations().count(), 0);
}

#[test]
fn remove_address_closes_one_by_one_where_an_address_has_two_ids() {
    // 10.0.3.2 is id 1, and id 5 with port 10100 (a signal endpoint with a port).
    let mut pm = server(with_limits(
        config(&["10.0.3.2", "10.0.3.2,signal,port=10100,id=5"]),
        8,
        8,
    ));
    pm.on_established(at(0));
    pm.on_add_addr_echo(5);
    drain(&mut pm);
    pm.on_subflow_established(sock("10.0.3.2:10100"), sock("10.0.2.1:40001"), 5, 1);
    pm.on_subflow_established(sock("10.0.3.2:8080"), sock("10.0.2.1:40002"), 1, 1);
    pm.remove_address(5).unwrap();
    assert_eq!(
        drain(&mut pm),
        [
            PmAction::RemoveAddress { ids: vec![5] },
            close_exact("10.0.3.2:10100", "10.0.2.1:40001"),
        ]
    );
    assert_eq!(pm.extra_subflows(), 1);
}

#[test]
fn close_subflow_closes_one_pair() {
    let mut pm = established_client(with_limits(config(&["10.0.2.1,subflow"]), 8, 8));
    drain(&mut pm);
    pm.on_subflow_established(sock("10.0.2.1:50000"), sock(SERVER), 1, 0);
    let error = pm
        .close_subflow(sock("10.0.2.1:50001"), sock(SERVER))
        .unwrap_err();
    assert_eq!(
        error,
        PmCommandError::UnknownSubflow {
            local: sock("10.0.2.1:50001"),
            remote: sock(SERVER)
        }
    );
    assert!(error.to_string().contains("SubflowEstablished"), "{error}");
    pm.close_subflow(sock("10.0.2.1:50000"), sock(SERVER))
        .unwrap();
    assert_eq!(drain(&mut pm), [close_exact("10.0.2.1:50000", SERVER)]);
    assert_eq!(pm.extra_subflows(), 0);
    assert!(pm
        .close_subflow(sock("10.0.2.1:50000"), sock(SERVER))
        .is_err());
    // The initial subflow may be closed too.
    pm.close_subflow(sock(CLIENT), sock(SERVER)).unwrap();
    assert_eq!(drain(&mut pm), [close_exact(CLIENT, SERVER)]);
}

#[test]
fn a_subflow_asked_to_close_before_it_was_opened_is_closed_once_established() {
    // The request may still be queued in the connection when the close comes, so the
    // close finds nothing; the establishment report names it.
    let mut pm = established_client(config(&["10.0.2.1,subflow"]));
    drain(&mut pm);
    pm.close_subflow(sock("10.0.2.1:0"), sock(SERVER)).unwrap();
    assert!(drain(&mut pm).is_empty());
    pm.on_subflow_established(sock("10.0.2.1:50000"), sock(SERVER), 1, 0);
    assert_eq!(drain(&mut pm), [close_exact("10.0.2.1:50000", SERVER)]);
    // Its closing is then reported, and nothing is re-created.
    pm.on_subflow_closed(sock("10.0.2.1:50000"), sock(SERVER), true);
    assert_eq!(pm.poll_timeout(), None);
    assert_eq!(pm.extra_subflows(), 0);
    // The same for the peer's REMOVE_ADDR racing our join.
    let mut pm = established_client(PmConfig::default());
    pm.on_add_addr(at(1), 1, ip("10.0.2.2"), None);
    pm.on_remove_addr(&[1]);
    drain(&mut pm);
    pm.on_subflow_established(sock("10.0.1.1:50000"), sock("10.0.2.2:8080"), 0, 1);
    assert_eq!(
        drain(&mut pm),
        [close_exact("10.0.1.1:50000", "10.0.2.2:8080")]
    );
}

#[test]
fn set_backup_id_sends_mp_prio_for_an_ids_subflows() {
    let mut pm = established_client(config(&["10.0.2.1,subflow", "10.0.3.1"]));
    drain(&mut pm);
    pm.set_backup_id(1, true).unwrap();
    assert_eq!(
        drain(&mut pm),
        [PmAction::SetBackup {
            local_id: 1,
            backup: true
        }]
    );
    assert!(pm.is_backup_address(ip("10.0.2.1")));
    // An address without subflows: only its flag, for later subflows.
    pm.set_backup_id(2, true).unwrap();
    assert!(drain(&mut pm).is_empty());
    assert!(pm.is_backup_address(ip("10.0.3.1")));
    assert_eq!(
        pm.set_backup_id(7, true),
        Err(PmCommandError::UnknownAddressId { id: 7 })
    );
    // Id 0: the initial subflow.
    pm.set_backup_id(0, true).unwrap();
    assert_eq!(
        drain(&mut pm),
        [PmAction::SetBackup {
            local_id: 0,
            backup: true
        }]
    );
}

#[test]
fn commands_in_kernel_mode_take_places_from_the_policy() {
    let mut pm = established_client(with_limits(
        config(&["10.0.2.1,subflow", "10.0.3.1,subflow"]),
        2,
        8,
    ));
    assert_eq!(drain(&mut pm).len(), 2);
    pm.close_subflow(sock("10.0.2.1:0"), sock(SERVER)).unwrap();
    // The place freed goes to the program's subflow, not back to the endpoint
    // (each endpoint opens once).
    pm.open_subflow(sock("10.0.5.1:0"), sock(SERVER), 5, 0, false)
        .unwrap();
    assert_eq!(drain(&mut pm), [open("10.0.5.1:0", SERVER, 5, 0, false)]);
    assert_eq!(pm.extra_subflows(), 2);
    assert!(!pm.may_accept_join());
}

//! Path manager tests: configuration and parsing, then each rule of the policy,
//! named after the Linux behaviour (net/mptcp/pm_kernel.c, pm.c) or RFC 8684 section
//! they reproduce.

use std::net::{IpAddr, SocketAddr};

use super::*;
use crate::time::{Duration, Instant};

pub(super) const CLIENT: &str = "10.0.1.1:40000";
pub(super) const SERVER: &str = "10.0.1.2:8080";

pub(super) fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

pub(super) fn sock(text: &str) -> SocketAddr {
    text.parse().unwrap()
}

pub(super) fn at(millis: u64) -> Instant {
    Instant::from_millis(millis)
}

pub(super) fn endpoint(text: &str) -> PmEndpoint {
    text.parse().unwrap()
}

/// braid's defaults with these endpoints, ids assigned in order.
pub(super) fn config(endpoints: &[&str]) -> PmConfig {
    let mut config = PmConfig {
        endpoints: endpoints.iter().map(|e| endpoint(e)).collect(),
        ..PmConfig::default()
    };
    config.assign_ids();
    config
}

pub(super) fn with_limits(mut config: PmConfig, subflows: u8, add_addr_accepted: u8) -> PmConfig {
    config.limits = PmLimits {
        subflows,
        add_addr_accepted,
    };
    config
}

pub(super) fn client(config: PmConfig) -> PathManager {
    PathManager::new(config, Role::Client, sock(CLIENT), sock(SERVER))
}

pub(super) fn server(config: PmConfig) -> PathManager {
    PathManager::new(config, Role::Server, sock(SERVER), sock(CLIENT))
}

pub(super) fn established_client(config: PmConfig) -> PathManager {
    let mut pm = client(config);
    pm.on_established(at(0));
    pm
}

pub(super) fn drain(pm: &mut PathManager) -> Vec<PmAction> {
    std::iter::from_fn(|| pm.poll_action()).collect()
}

pub(super) fn open(
    local: &str,
    remote: &str,
    local_id: u8,
    remote_id: u8,
    backup: bool,
) -> PmAction {
    PmAction::OpenSubflow {
        local: sock(local),
        remote: sock(remote),
        local_id,
        remote_id,
        backup,
    }
}

pub(super) fn announce(id: u8, addr: &str, port: Option<u16>) -> PmAction {
    PmAction::Announce {
        id,
        addr: ip(addr),
        port,
    }
}

// ------------------------------------------------------------------ configuration

#[test]
fn default_config_is_linux_but_accepting_announcements() {
    let config = PmConfig::default();
    assert!(config.endpoints.is_empty());
    assert_eq!(config.limits.subflows, 2);
    assert_eq!(config.limits.add_addr_accepted, 8);
    assert!(config.join_announced);
    assert_eq!(config.add_addr_timeout, Duration::from_secs(1));
    assert_eq!(config.add_addr_retransmissions, 3);
    assert_eq!(PmLimits::default(), config.limits);
    assert_eq!(config.mode, PmMode::Kernel);
    assert!(config.recreate_failed);
    assert_eq!(config.recreate_delay, Duration::from_secs(1));
    assert_eq!(config.recreate_max_delay, Duration::from_secs(60));
    assert_eq!(config.recreate_attempts, 8);
    assert_eq!(config.validate(), Ok(()));
}

#[test]
fn linux_defaults_match_the_kernel() {
    let config = PmConfig::linux_defaults();
    assert_eq!(config.limits, PmLimits::linux_defaults());
    assert_eq!(config.limits.subflows, 2);
    assert_eq!(config.limits.add_addr_accepted, 0);
    assert!(!config.join_announced);
    assert_eq!(config.add_addr_timeout, Duration::from_secs(120));
    assert_eq!(config.add_addr_retransmissions, 3);
    assert_eq!(config.mode, PmMode::Kernel);
    assert!(!config.recreate_failed);
    assert_eq!(config.validate(), Ok(()));
}

#[test]
fn validate_rejects_a_zero_or_inverted_recreate_backoff() {
    let zero = PmConfig {
        recreate_delay: Duration::ZERO,
        ..PmConfig::default()
    };
    let error = zero.validate().unwrap_err();
    assert_eq!(error, PmConfigError::ZeroRecreateDelay);
    assert!(
        error.to_string().contains("recreate_failed = false"),
        "{error}"
    );
    let inverted = PmConfig {
        recreate_delay: Duration::from_secs(10),
        recreate_max_delay: Duration::from_secs(5),
        ..PmConfig::default()
    };
    let error = inverted.validate().unwrap_err();
    assert_eq!(
        error,
        PmConfigError::RecreateDelayAboveMax {
            delay: Duration::from_secs(10),
            max: Duration::from_secs(5)
        }
    );
    assert!(
        error.to_string().contains("10.000s") && error.to_string().contains("5.000s"),
        "{error}"
    );
}

#[test]
fn validate_accepts_a_typical_configuration() {
    let config = config(&[
        "10.0.2.1,subflow",
        "10.0.3.1,subflow,backup",
        "10.0.4.1,signal",
        "10.0.4.1,signal,port=10100",
        "10.0.5.1,subflow,fullmesh",
        "2001:db8::1,signal,subflow",
    ]);
    assert_eq!(config.validate(), Ok(()));
}

#[test]
fn validate_rejects_limits_above_eight() {
    for (subflows, accepted, limit) in [(9, 0, "subflows"), (2, 9, "add_addr_accepted")] {
        let config = with_limits(PmConfig::default(), subflows, accepted);
        let error = config.validate().unwrap_err();
        assert_eq!(error, PmConfigError::LimitTooHigh { limit, value: 9 });
        let message = error.to_string();
        assert!(
            message.contains(limit) && message.contains("8 or less"),
            "{message}"
        );
    }
    assert_eq!(with_limits(PmConfig::default(), 8, 8).validate(), Ok(()));
}

#[test]
fn validate_rejects_unassigned_ids_and_says_how_to_fix() {
    let config = PmConfig {
        endpoints: vec![endpoint("10.0.2.1,subflow")],
        ..PmConfig::default()
    };
    let error = config.validate().unwrap_err();
    assert_eq!(
        error,
        PmConfigError::UnassignedId {
            addr: ip("10.0.2.1")
        }
    );
    assert!(error.to_string().contains("assign_ids"), "{error}");
}

#[test]
fn validate_rejects_duplicate_ids() {
    let config = PmConfig {
        endpoints: vec![
            endpoint("10.0.2.1,subflow,id=3"),
            endpoint("10.0.3.1,subflow,id=3"),
        ],
        ..PmConfig::default()
    };
    let error = config.validate().unwrap_err();
    assert_eq!(
        error,
        PmConfigError::DuplicateId {
            id: 3,
            first: ip("10.0.2.1"),
            second: ip("10.0.3.1")
        }
    );
    assert!(error.to_string().contains("own id"), "{error}");
}

#[test]
fn validate_rejects_the_same_address_and_port_twice() {
    let duplicate = config(&["10.0.2.1,subflow", "10.0.2.1,signal"]);
    let error = duplicate.validate().unwrap_err();
    assert_eq!(
        error,
        PmConfigError::DuplicateAddress {
            addr: ip("10.0.2.1"),
            port: None
        }
    );
    assert!(error.to_string().contains("merge"), "{error}");
    // IPv4-mapped IPv6 is the same address.
    let mapped = config(&["10.0.2.1,subflow", "::ffff:10.0.2.1,signal"]);
    assert!(matches!(
        mapped.validate(),
        Err(PmConfigError::DuplicateAddress { .. })
    ));
    // A signal endpoint with a port is a different endpoint, as in Linux.
    let with_port = config(&["10.0.2.1,subflow", "10.0.2.1,signal,port=10100"]);
    assert_eq!(with_port.validate(), Ok(()));
    let twice_with_port = config(&["10.0.2.1,signal,port=1", "10.0.2.1,signal,port=1"]);
    let error = twice_with_port.validate().unwrap_err();
    assert!(error.to_string().contains("10.0.2.1 port 1"), "{error}");
}

#[test]
fn validate_rejects_flag_combinations_linux_refuses() {
    // pm_kernel.c, mptcp_pm_nl_add_addr_doit: a port needs signal without subflow,
    // and signal excludes fullmesh.
    let mut port_with_subflow = endpoint("10.0.2.1,signal");
    port_with_subflow.flags.subflow = true;
    port_with_subflow.port = Some(5000);
    assert_eq!(
        port_with_subflow.validate(),
        Err(PmConfigError::PortNeedsSignalOnly {
            addr: ip("10.0.2.1")
        })
    );
    let mut port_without_signal = endpoint("10.0.2.1");
    port_without_signal.port = Some(5000);
    assert!(matches!(
        port_without_signal.validate(),
        Err(PmConfigError::PortNeedsSignalOnly { .. })
    ));
    let mut zero_port = endpoint("10.0.2.1,signal");
    zero_port.port = Some(0);
    assert!(matches!(
        zero_port.validate(),
        Err(PmConfigError::ZeroPort { .. })
    ));
    let mut signal_fullmesh = endpoint("10.0.2.1,signal");
    signal_fullmesh.flags.fullmesh = true;
    assert_eq!(
        signal_fullmesh.validate(),
        Err(PmConfigError::SignalWithFullmesh {
            addr: ip("10.0.2.1")
        })
    );
    // The whole configuration checks each endpoint too.
    let config = PmConfig {
        endpoints: vec![PmEndpoint {
            id: 1,
            ..signal_fullmesh
        }],
        ..PmConfig::default()
    };
    assert!(matches!(
        config.validate(),
        Err(PmConfigError::SignalWithFullmesh { .. })
    ));
}

#[test]
fn validate_rejects_unusable_addresses() {
    for addr in ["0.0.0.0", "::", "224.0.0.1", "ff02::1"] {
        let endpoint = PmEndpoint {
            id: 1,
            addr: ip(addr),
            port: None,
            flags: EndpointFlags {
                subflow: true,
                ..EndpointFlags::default()
            },
        };
        let error = endpoint.validate().unwrap_err();
        assert_eq!(error, PmConfigError::UnusableAddress { addr: ip(addr) });
        assert!(error.to_string().contains("unicast"), "{error}");
    }
}

#[test]
fn validate_rejects_a_ninth_endpoint() {
    let addrs: Vec<String> = (1..=9).map(|i| format!("10.0.{i}.9,subflow")).collect();
    let refs: Vec<&str> = addrs.iter().map(String::as_str).collect();
    let nine = config(&refs);
    let error = nine.validate().unwrap_err();
    assert_eq!(error, PmConfigError::TooManyEndpoints { count: 9 });
    assert!(error.to_string().contains("at most 8"), "{error}");
    assert_eq!(config(&refs[..8]).validate(), Ok(()));
}

#[test]
fn assign_ids_fills_unassigned_ids_with_the_lowest_free_ones() {
    let mut config = PmConfig {
        endpoints: vec![
            endpoint("10.0.2.1,subflow"),
            endpoint("10.0.3.1,subflow,id=2"),
            endpoint("10.0.4.1,signal"),
            endpoint("10.0.5.1,signal"),
        ],
        ..PmConfig::default()
    };
    config.assign_ids();
    let ids: Vec<u8> = config.endpoints.iter().map(|e| e.id).collect();
    assert_eq!(ids, [1, 2, 3, 4]);
    assert_eq!(config.validate(), Ok(()));
    // Given ids are kept.
    config.assign_ids();
    let again: Vec<u8> = config.endpoints.iter().map(|e| e.id).collect();
    assert_eq!(again, ids);
}

// ------------------------------------------------------------------ parsing

#[test]
fn endpoint_parses_ip_mptcp_flags() {
    let parsed = endpoint("10.0.2.1,subflow,backup");
    assert_eq!(
        parsed,
        PmEndpoint {
            id: 0,
            addr: ip("10.0.2.1"),
            port: None,
            flags: EndpointFlags {
                subflow: true,
                backup: true,
                ..EndpointFlags::default()
            },
        }
    );
    let signal = endpoint("10.0.3.1,signal,port=10100,id=5");
    assert_eq!(signal.id, 5);
    assert_eq!(signal.port, Some(10100));
    assert!(signal.flags.signal && !signal.flags.subflow);
    let v6 = endpoint("2001:db8::2, subflow , fullmesh");
    assert_eq!(v6.addr, ip("2001:db8::2"));
    assert!(v6.flags.subflow && v6.flags.fullmesh);
    // A bare address is a valid endpoint, as `ip mptcp endpoint add ADDR` is.
    let bare = endpoint("10.0.4.1");
    assert_eq!(bare.flags, EndpointFlags::default());
}

#[test]
fn endpoint_display_round_trips() {
    for text in [
        "10.0.2.1,subflow,backup",
        "10.0.3.1,signal,port=10100,id=5",
        "2001:db8::2,subflow,fullmesh,id=7",
        "10.0.4.1,signal,subflow,backup",
        "10.0.4.2",
    ] {
        let parsed = endpoint(text);
        assert_eq!(parsed.to_string(), text);
        assert_eq!(endpoint(&parsed.to_string()), parsed);
    }
}

#[test]
fn endpoint_parse_errors_say_what_to_fix() {
    use PmEndpointParseError as E;
    let cases: &[(&str, PmEndpointParseError, &str)] = &[
        ("", E::Empty, "e.g. 10.0.2.1,subflow"),
        ("  ", E::Empty, "expected ADDR"),
        (
            "eth0,subflow",
            E::BadAddress("eth0".into()),
            "not an IP address",
        ),
        (
            "10.0.2.1,,subflow",
            E::EmptyField("10.0.2.1,,subflow".into()),
            "extra comma",
        ),
        (
            "10.0.2.1,subflow,",
            E::EmptyField("10.0.2.1,subflow,".into()),
            "extra comma",
        ),
        (",subflow", E::EmptyField(",subflow".into()), "extra comma"),
        (
            "10.0.2.1,sbuflow",
            E::UnknownFlag("sbuflow".into()),
            "use signal, subflow",
        ),
        (
            "10.0.2.1,SUBFLOW",
            E::UnknownFlag("SUBFLOW".into()),
            "fullmesh",
        ),
        (
            "10.0.2.1,subflow,subflow",
            E::Repeated("subflow".into()),
            "once",
        ),
        (
            "10.0.2.1,signal,port=1,port=2",
            E::Repeated("port".into()),
            "twice",
        ),
        ("10.0.2.1,id=1,id=2", E::Repeated("id".into()), "twice"),
        (
            "10.0.2.1,signal,port=0",
            E::BadPort("0".into()),
            "1..=65535",
        ),
        (
            "10.0.2.1,signal,port=65536",
            E::BadPort("65536".into()),
            "1..=65535",
        ),
        (
            "10.0.2.1,signal,port=x",
            E::BadPort("x".into()),
            "1..=65535",
        ),
        ("10.0.2.1,id=0", E::BadId("0".into()), "leave id out"),
        ("10.0.2.1,id=256", E::BadId("256".into()), "1..=255"),
        (
            "10.0.2.1,subflow,port=5000",
            E::Invalid(PmConfigError::PortNeedsSignalOnly {
                addr: ip("10.0.2.1"),
            }),
            "only with `signal`",
        ),
        (
            "10.0.2.1,signal,fullmesh",
            E::Invalid(PmConfigError::SignalWithFullmesh {
                addr: ip("10.0.2.1"),
            }),
            "drop one",
        ),
        (
            "0.0.0.0,subflow",
            E::Invalid(PmConfigError::UnusableAddress {
                addr: ip("0.0.0.0"),
            }),
            "unicast",
        ),
    ];
    for (text, expected, hint) in cases {
        let error = text.parse::<PmEndpoint>().unwrap_err();
        assert_eq!(&error, expected, "{text:?}");
        let message = error.to_string();
        assert!(message.contains(hint), "{text:?}: {message}");
    }
}

// ------------------------------------------------------------------ establishment

#[test]
fn nothing_happens_before_establishment() {
    let mut pm = client(config(&["10.0.2.1,subflow", "10.0.3.1,signal"]));
    assert!(drain(&mut pm).is_empty());
    assert_eq!(pm.poll_timeout(), None);
    assert!(!pm.may_accept_join());
}

#[test]
fn client_opens_one_subflow_per_subflow_endpoint_to_the_initial_address() {
    // pm_kernel.c, mptcp_pm_create_subflow_or_signal_addr + fill_remote_addr.
    let mut pm = established_client(config(&["10.0.2.1,subflow", "10.0.3.1,subflow,backup"]));
    assert_eq!(
        drain(&mut pm),
        [
            open("10.0.2.1:0", SERVER, 1, 0, false),
            open("10.0.3.1:0", SERVER, 2, 0, true),
        ]
    );
    assert_eq!(pm.extra_subflows(), 2);
}

#[test]
fn subflow_endpoints_stop_at_the_subflows_limit() {
    let config = with_limits(
        config(&["10.0.2.1,subflow", "10.0.3.1,subflow", "10.0.4.1,subflow"]),
        2,
        8,
    );
    let mut pm = established_client(config);
    let actions = drain(&mut pm);
    assert_eq!(
        actions,
        [
            open("10.0.2.1:0", SERVER, 1, 0, false),
            open("10.0.3.1:0", SERVER, 2, 0, false),
        ]
    );
    let mut none = established_client(with_limits(self::config(&["10.0.2.1,subflow"]), 0, 8));
    assert!(drain(&mut none).is_empty());
}

#[test]
fn on_established_twice_does_nothing_more() {
    let mut pm = established_client(config(&["10.0.2.1,subflow", "10.0.3.1,signal"]));
    assert_eq!(drain(&mut pm).len(), 2);
    pm.on_established(at(5));
    assert!(drain(&mut pm).is_empty());
}

#[test]
fn server_announces_but_opens_no_subflow_endpoint_subflows() {
    let mut pm = server(config(&["10.0.2.2,signal", "10.0.3.2,subflow"]));
    pm.on_established(at(0));
    assert_eq!(drain(&mut pm), [announce(1, "10.0.2.2", None)]);
    assert_eq!(pm.extra_subflows(), 0);
}

#[test]
fn client_announces_signal_endpoints_too() {
    let mut pm = established_client(config(&["10.0.2.1,signal,subflow"]));
    // Linux: a signal+subflow endpoint is announced and opens its subflow.
    assert_eq!(
        drain(&mut pm),
        [
            announce(1, "10.0.2.1", None),
            open("10.0.2.1:0", SERVER, 1, 0, false),
        ]
    );
}

#[test]
fn the_initial_subflows_endpoint_is_neither_announced_nor_reused() {
    // pm_kernel.c, mptcp_mpc_endpoint_setup: the endpoint of the initial address is
    // taken already, and is id 0 on the wire.
    let mut pm = established_client(config(&["10.0.1.1,signal,subflow", "10.0.2.1,subflow"]));
    assert_eq!(drain(&mut pm), [open("10.0.2.1:0", SERVER, 2, 0, false)]);
    assert_eq!(pm.local_address_id(ip("10.0.1.1")), Some(0));
    assert_eq!(pm.local_address_id(ip("10.0.2.1")), Some(2));
    assert_eq!(pm.local_address_id(ip("10.9.9.9")), None);
}

#[test]
fn a_backup_endpoint_on_the_initial_address_sends_mp_prio() {
    let mut pm = established_client(config(&["10.0.1.1,backup"]));
    assert_eq!(
        drain(&mut pm),
        [PmAction::SetBackup {
            local_id: 0,
            backup: true
        }]
    );
    assert!(pm.is_backup_address(ip("10.0.1.1")));
}

#[test]
fn families_must_match() {
    // Linux's mptcp_pm_addr_families_match: no IPv6 source towards an IPv4 peer.
    let mut pm = established_client(config(&["2001:db8::1,subflow", "10.0.2.1,subflow"]));
    assert_eq!(drain(&mut pm), [open("10.0.2.1:0", SERVER, 2, 0, false)]);
    // IPv4-mapped IPv6 is IPv4.
    let mut mapped = established_client(config(&["::ffff:10.0.3.1,subflow"]));
    assert_eq!(
        drain(&mut mapped),
        [open("[::ffff:10.0.3.1]:0", SERVER, 1, 0, false)]
    );
}

// ------------------------------------------------------------------ ADD_ADDR timing

#[test]
fn rfc8684_s3_4_1_announcements_go_one_at_a_time_after_each_echo() {
    let mut pm = server(config(&["10.0.2.2,signal", "10.0.3.2,signal,port=9000"]));
    pm.on_established(at(0));
    assert_eq!(drain(&mut pm), [announce(1, "10.0.2.2", None)]);
    assert_eq!(pm.announced_address(1), Some((ip("10.0.2.2"), None)));
    assert_eq!(pm.announced_address(2), None);
    pm.on_add_addr_echo(1);
    // The echo carries no time, so the next announcement is due at once.
    assert!(drain(&mut pm).is_empty());
    assert_eq!(pm.poll_timeout(), Some(at(0)));
    pm.handle_timeout(at(40));
    assert_eq!(drain(&mut pm), [announce(2, "10.0.3.2", Some(9000))]);
    assert_eq!(pm.poll_timeout(), Some(at(1040)));
    pm.on_add_addr_echo(2);
    pm.handle_timeout(at(50));
    assert!(drain(&mut pm).is_empty());
    assert_eq!(pm.poll_timeout(), None);
}

#[test]
fn rfc8684_s3_4_1_unechoed_add_addr_is_resent_three_times_then_the_next_goes() {
    // pm.c, mptcp_pm_add_timer: resent every add_addr_timeout up to
    // ADD_ADDR_RETRANS_MAX (3) times; at the last resend the next address goes.
    let mut pm = server(config(&["10.0.2.2,signal", "10.0.3.2,signal"]));
    pm.on_established(at(0));
    assert_eq!(drain(&mut pm), [announce(1, "10.0.2.2", None)]);
    for resend in 1..=3u64 {
        let due = at(1000 * resend);
        assert_eq!(pm.poll_timeout(), Some(due));
        pm.handle_timeout(due - Duration::from_micros(1));
        assert!(drain(&mut pm).is_empty(), "early at resend {resend}");
        pm.handle_timeout(due);
        let actions = drain(&mut pm);
        if resend < 3 {
            assert_eq!(actions, [announce(1, "10.0.2.2", None)]);
        } else {
            assert_eq!(
                actions,
                [announce(1, "10.0.2.2", None), announce(2, "10.0.3.2", None)]
            );
        }
    }
    // The second announcement starts its own schedule; the first is given up.
    assert_eq!(pm.poll_timeout(), Some(at(4000)));
    // A late echo of the first is still taken, and changes nothing.
    pm.on_add_addr_echo(1);
    assert_eq!(pm.poll_timeout(), Some(at(4000)));
    assert!(drain(&mut pm).is_empty());
}

#[test]
fn an_echo_stops_the_resends() {
    let mut pm = server(config(&["10.0.2.2,signal"]));
    pm.on_established(at(0));
    drain(&mut pm);
    pm.handle_timeout(at(1000));
    assert_eq!(drain(&mut pm), [announce(1, "10.0.2.2", None)]);
    pm.on_add_addr_echo(1);
    assert_eq!(pm.poll_timeout(), None);
    pm.handle_timeout(at(10_000));
    assert!(drain(&mut pm).is_empty());
}

#[test]
fn echoes_of_unknown_ids_are_ignored() {
    let mut pm = server(config(&["10.0.2.2,signal", "10.0.3.2,signal"]));
    pm.on_established(at(0));
    drain(&mut pm);
    pm.on_add_addr_echo(2); // not announced yet
    pm.on_add_addr_echo(0);
    pm.on_add_addr_echo(77);
    assert_eq!(pm.poll_timeout(), Some(at(1000)));
    pm.handle_timeout(at(1000));
    assert_eq!(drain(&mut pm), [announce(1, "10.0.2.2", None)]);
}

#[test]
fn linux_add_addr_timeout_is_120_seconds() {
    let mut config = PmConfig::linux_defaults();
    config.endpoints = vec![endpoint("10.0.2.2,signal,id=1")];
    let mut pm = server(config);
    pm.on_established(at(500));
    drain(&mut pm);
    assert_eq!(pm.poll_timeout(), Some(at(120_500)));
}

#[test]
fn zero_timeout_sends_once_and_waits_for_the_echo() {
    let mut config = config(&["10.0.2.2,signal", "10.0.3.2,signal"]);
    config.add_addr_timeout = Duration::ZERO;
    let mut pm = server(config);
    pm.on_established(at(0));
    assert_eq!(drain(&mut pm), [announce(1, "10.0.2.2", None)]);
    assert_eq!(pm.poll_timeout(), None);
    pm.handle_timeout(at(1_000_000));
    assert!(drain(&mut pm).is_empty());
    pm.on_add_addr_echo(1);
    pm.handle_timeout(at(1_000_001));
    assert_eq!(drain(&mut pm), [announce(2, "10.0.3.2", None)]);
}

#[test]
fn zero_retransmissions_moves_on_after_one_timeout() {
    let mut config = config(&["10.0.2.2,signal", "10.0.3.2,signal"]);
    config.add_addr_retransmissions = 0;
    let mut pm = server(config);
    pm.on_established(at(0));
    drain(&mut pm);
    pm.handle_timeout(at(1000));
    assert_eq!(drain(&mut pm), [announce(2, "10.0.3.2", None)]);
}

#[test]
fn rtt_samples_set_the_resend_interval_to_three_rtts() {
    let mut pm = server(config(&["10.0.2.2,signal"]));
    assert_eq!(pm.add_addr_resend_timeout(), Some(Duration::from_secs(1)));
    pm.on_rtt_sample(Duration::from_millis(100));
    assert_eq!(
        pm.add_addr_resend_timeout(),
        Some(Duration::from_millis(300))
    );
    pm.on_established(at(0));
    assert_eq!(drain(&mut pm), [announce(1, "10.0.2.2", None)]);
    assert_eq!(pm.poll_timeout(), Some(at(300)));
    pm.handle_timeout(at(299));
    assert!(drain(&mut pm).is_empty());
    pm.handle_timeout(at(300));
    assert_eq!(drain(&mut pm), [announce(1, "10.0.2.2", None)]);
    // Each resend waits a full interval from the last transmission.
    assert_eq!(pm.poll_timeout(), Some(at(600)));
}

#[test]
fn the_rtt_based_interval_has_a_floor_and_a_ceiling() {
    let mut pm = server(config(&["10.0.2.2,signal"]));
    // A LAN: 3 x 1 ms is below TCP_RTO_MIN.
    pm.on_rtt_sample(Duration::from_millis(1));
    assert_eq!(pm.add_addr_resend_timeout(), Some(MIN_ADD_ADDR_TIMEOUT));
    // A satellite link: 3 x 600 ms is above add_addr_timeout, the ceiling.
    pm.on_rtt_sample(Duration::from_millis(600));
    assert_eq!(pm.add_addr_resend_timeout(), Some(Duration::from_secs(1)));
    pm.on_rtt_sample(Duration::ZERO);
    assert_eq!(pm.add_addr_resend_timeout(), Some(MIN_ADD_ADDR_TIMEOUT));
    // A ceiling below the floor wins.
    let mut low = config(&["10.0.2.2,signal"]);
    low.add_addr_timeout = Duration::from_millis(50);
    let mut pm = server(low);
    pm.on_rtt_sample(Duration::from_millis(10));
    assert_eq!(
        pm.add_addr_resend_timeout(),
        Some(Duration::from_millis(50))
    );
    // Zero still means "send once".
    let mut once = config(&["10.0.2.2,signal"]);
    once.add_addr_timeout = Duration::ZERO;
    let mut pm = server(once);
    pm.on_rtt_sample(Duration::from_millis(10));
    assert_eq!(pm.add_addr_resend_timeout(), None);
    pm.on_established(at(0));
    drain(&mut pm);
    assert_eq!(pm.poll_timeout(), None);
}

#[test]
fn linux_defaults_resend_after_three_rtts_not_120_seconds() {
    // Recent kernels (pm.c, mptcp_adjust_add_addr_timeout): the subflows' RTO under
    // the add_addr_timeout ceiling.
    let mut config = PmConfig::linux_defaults();
    config.endpoints = vec![endpoint("10.0.2.2,signal,id=1")];
    let mut pm = server(config);
    pm.on_rtt_sample(Duration::from_millis(100));
    pm.on_established(at(500));
    drain(&mut pm);
    assert_eq!(pm.poll_timeout(), Some(at(800)));
}

#[test]
fn a_sample_after_sending_moves_the_pending_resend() {
    let mut pm = server(config(&["10.0.2.2,signal"]));
    pm.on_established(at(0));
    drain(&mut pm);
    assert_eq!(pm.poll_timeout(), Some(at(1000)));
    pm.on_rtt_sample(Duration::from_millis(80));
    assert_eq!(pm.poll_timeout(), Some(at(240)));
    pm.handle_timeout(at(240));
    assert_eq!(drain(&mut pm), [announce(1, "10.0.2.2", None)]);
    // The RTT grew under load: the next resend waits longer.
    pm.on_rtt_sample(Duration::from_millis(200));
    assert_eq!(pm.poll_timeout(), Some(at(840)));
}

// ------------------------------------------------------------------ peer's ADD_ADDR

#[test]
fn announced_address_is_joined_from_the_initial_local_address() {
    let mut pm = established_client(PmConfig::default());
    pm.on_add_addr(at(10), 1, ip("10.0.2.2"), None);
    // RFC 8684 §3.4.1: no port means the initial subflow's port.
    assert_eq!(
        drain(&mut pm),
        [open("10.0.1.1:0", "10.0.2.2:8080", 0, 1, false)]
    );
    pm.on_add_addr(at(20), 2, ip("10.0.3.2"), Some(9000));
    assert_eq!(
        drain(&mut pm),
        [open("10.0.1.1:0", "10.0.3.2:9000", 0, 2, false)]
    );
    assert_eq!(pm.accepted_addresses(), 2);
    assert_eq!(pm.remote_address(2), Some(sock("10.0.3.2:9000")));
    assert_eq!(pm.remote_address(0), Some(sock(SERVER)));
}

#[test]
fn linux_defaults_ignore_announcements() {
    let mut pm = established_client(PmConfig::linux_defaults());
    pm.on_add_addr(at(10), 1, ip("10.0.2.2"), None);
    assert!(drain(&mut pm).is_empty());
    assert_eq!(pm.accepted_addresses(), 0);
    assert_eq!(pm.remote_address(1), None);
}

#[test]
fn without_join_announced_or_fullmesh_addresses_are_only_remembered() {
    let mut config = PmConfig::linux_defaults();
    config.limits.add_addr_accepted = 2;
    let mut pm = established_client(config);
    pm.on_add_addr(at(10), 1, ip("10.0.2.2"), None);
    assert!(drain(&mut pm).is_empty());
    assert_eq!(pm.accepted_addresses(), 1);
    assert_eq!(pm.remote_address(1), Some(sock("10.0.2.2:8080")));
}

#[test]
fn add_addr_accepted_limit_ignores_further_addresses() {
    let mut pm = established_client(with_limits(PmConfig::default(), 8, 2));
    pm.on_add_addr(at(10), 1, ip("10.0.2.2"), None);
    pm.on_add_addr(at(10), 2, ip("10.0.3.2"), None);
    pm.on_add_addr(at(10), 3, ip("10.0.4.2"), None);
    assert_eq!(drain(&mut pm).len(), 2);
    assert_eq!(pm.accepted_addresses(), 2);
    assert_eq!(pm.remote_address(3), None);
}

#[test]
fn no_address_is_accepted_when_no_subflow_is_allowed() {
    // pm.c, mptcp_pm_data_reset: accept_addr needs a nonzero subflows limit.
    let mut pm = established_client(with_limits(PmConfig::default(), 0, 8));
    pm.on_add_addr(at(10), 1, ip("10.0.2.2"), None);
    assert!(drain(&mut pm).is_empty());
    assert_eq!(pm.accepted_addresses(), 0);
}

#[test]
fn duplicate_announcements_are_ignored() {
    let mut pm = established_client(PmConfig::default());
    pm.on_add_addr(at(10), 1, ip("10.0.2.2"), None);
    assert_eq!(drain(&mut pm).len(), 1);
    // The same announcement again (our echo was lost).
    pm.on_add_addr(at(20), 1, ip("10.0.2.2"), None);
    // A known id with another address, and a known address under another id.
    pm.on_add_addr(at(20), 1, ip("10.0.9.9"), None);
    pm.on_add_addr(at(20), 2, ip("10.0.2.2"), None);
    pm.on_add_addr(at(20), 3, ip("::ffff:10.0.2.2"), None);
    // The peer's initial address under a new id.
    pm.on_add_addr(at(20), 4, ip("10.0.1.2"), None);
    assert!(drain(&mut pm).is_empty());
    assert_eq!(pm.accepted_addresses(), 1);
    // The same address on another port is another address.
    pm.on_add_addr(at(30), 5, ip("10.0.2.2"), Some(9000));
    assert_eq!(
        drain(&mut pm),
        [open("10.0.1.1:0", "10.0.2.2:9000", 0, 5, false)]
    );
}

#[test]
fn id_zero_announcements_are_ignored() {
    let mut pm = established_client(PmConfig::default());
    pm.on_add_addr(at(10), 0, ip("10.0.7.2"), None);
    pm.on_add_addr(at(10), 0, ip("10.0.1.2"), None);
    assert!(drain(&mut pm).is_empty());
    assert_eq!(pm.accepted_addresses(), 0);
}

#[test]
fn announced_addresses_respect_the_subflows_limit() {
    let mut pm = established_client(with_limits(config(&["10.0.2.1,subflow"]), 2, 8));
    assert_eq!(drain(&mut pm).len(), 1);
    pm.on_add_addr(at(10), 1, ip("10.0.2.2"), None);
    assert_eq!(
        drain(&mut pm),
        [open("10.0.1.1:0", "10.0.2.2:8080", 0, 1, false)]
    );
    pm.on_add_addr(at(20), 2, ip("10.0.3.2"), None);
    assert!(drain(&mut pm).is_empty());
    assert_eq!(pm.extra_subflows(), 2);
    // Remembered, but not joined later (Linux joins on receipt only).
    assert_eq!(pm.accepted_addresses(), 2);
    pm.on_subflow_closed(sock("10.0.1.1:0"), sock("10.0.2.2:8080"), true);
    assert!(drain(&mut pm).is_empty());
}

#[test]
fn addresses_announced_before_establishment_are_joined_at_it() {
    let mut pm = client(PmConfig::default());
    pm.on_add_addr(at(1), 1, ip("10.0.2.2"), None);
    assert!(drain(&mut pm).is_empty());
    pm.on_established(at(2));
    assert_eq!(
        drain(&mut pm),
        [open("10.0.1.1:0", "10.0.2.2:8080", 0, 1, false)]
    );
}

#[test]
fn joining_from_the_initial_address_takes_its_backup_flag() {
    let mut pm = established_client(config(&["10.0.1.1,backup"]));
    drain(&mut pm);
    pm.on_add_addr(at(10), 1, ip("10.0.2.2"), None);
    assert_eq!(
        drain(&mut pm),
        [open("10.0.1.1:0", "10.0.2.2:8080", 0, 1, true)]
    );
}

#[test]
fn announced_addresses_of_another_family_are_not_joined() {
    let mut pm = established_client(PmConfig::default());
    pm.on_add_addr(at(10), 1, ip("2001:db8::2"), None);
    assert!(drain(&mut pm).is_empty());
    assert_eq!(pm.accepted_addresses(), 1);
}

// ------------------------------------------------------------------ fullmesh

#[test]
fn fullmesh_endpoints_join_each_announced_address() {
    // pm_kernel.c, fill_local_addresses_vec_fullmesh: one subflow from every
    // fullmesh endpoint, instead of one from "any" address.
    let config = with_limits(
        config(&["10.0.2.1,fullmesh", "10.0.3.1,fullmesh,backup"]),
        8,
        8,
    );
    let mut pm = established_client(config);
    assert!(drain(&mut pm).is_empty());
    pm.on_add_addr(at(10), 1, ip("10.0.2.2"), None);
    assert_eq!(
        drain(&mut pm),
        [
            open("10.0.2.1:0", "10.0.2.2:8080", 1, 1, false),
            open("10.0.3.1:0", "10.0.2.2:8080", 2, 1, true),
        ]
    );
}

#[test]
fn fullmesh_joins_stop_at_the_subflows_limit() {
    let config = with_limits(
        config(&[
            "10.0.2.1,fullmesh",
            "10.0.3.1,fullmesh",
            "10.0.4.1,fullmesh",
        ]),
        2,
        8,
    );
    let mut pm = established_client(config);
    pm.on_add_addr(at(10), 1, ip("10.0.2.2"), None);
    assert_eq!(drain(&mut pm).len(), 2);
    assert_eq!(pm.extra_subflows(), 2);
    assert!(!pm.may_accept_join());
}

#[test]
fn fullmesh_on_the_initial_address_uses_id_zero() {
    let mut pm = established_client(with_limits(
        config(&["10.0.1.1,fullmesh", "10.0.2.1,fullmesh"]),
        8,
        8,
    ));
    pm.on_add_addr(at(10), 3, ip("10.0.3.2"), None);
    assert_eq!(
        drain(&mut pm),
        [
            open("10.0.1.1:0", "10.0.3.2:8080", 0, 3, false),
            open("10.0.2.1:0", "10.0.3.2:8080", 2, 3, false),
        ]
    );
}

#[test]
fn fullmesh_subflow_endpoint_joins_every_known_address_once() {
    // An address announced before establishment, then a subflow+fullmesh endpoint:
    // one subflow per (local, remote) pair, never two.
    let mut pm = client(with_limits(config(&["10.0.2.1,subflow,fullmesh"]), 8, 8));
    pm.on_add_addr(at(1), 1, ip("10.0.2.2"), None);
    pm.on_established(at(2));
    assert_eq!(
        drain(&mut pm),
        [
            open("10.0.2.1:0", SERVER, 1, 0, false),
            open("10.0.2.1:0", "10.0.2.2:8080", 1, 1, false),
        ]
    );
    // Another announcement: joined from the fullmesh endpoint only.
    pm.on_add_addr(at(3), 2, ip("10.0.3.2"), None);
    assert_eq!(
        drain(&mut pm),
        [open("10.0.2.1:0", "10.0.3.2:8080", 1, 2, false)]
    );
}

#[test]
fn fullmesh_falls_back_to_join_announced_when_no_family_matches() {
    let mut pm = established_client(config(&["2001:db8::1,fullmesh"]));
    pm.on_add_addr(at(10), 1, ip("10.0.2.2"), None);
    assert_eq!(
        drain(&mut pm),
        [open("10.0.1.1:0", "10.0.2.2:8080", 0, 1, false)]
    );
}

#[test]
fn no_two_subflows_share_a_local_address_and_peer_address() {
    // The peer joined our fullmesh address from 10.0.2.2, then announces 10.0.2.2:
    // that pair has a subflow already, so nothing opens.
    let mut config = with_limits(config(&["10.0.2.1,fullmesh"]), 8, 8);
    config.join_announced = false;
    let mut pm = server(config);
    pm.on_established(at(0));
    // No port in the ADD_ADDR: the client's initial port, which the join came from.
    pm.on_subflow_established(sock("10.0.2.1:8080"), sock("10.0.2.2:40000"), 1, 4);
    pm.on_add_addr(at(10), 4, ip("10.0.2.2"), None);
    assert!(drain(&mut pm).is_empty());
    assert_eq!(pm.extra_subflows(), 1);
}

// ------------------------------------------------------------------ removal

#[test]
fn rfc8684_s3_4_2_remove_addr_closes_its_subflows_and_frees_its_place() {
    let mut pm = established_client(with_limits(PmConfig::default(), 8, 1));
    pm.on_add_addr(at(10), 1, ip("10.0.2.2"), None);
    assert_eq!(drain(&mut pm).len(), 1);
    pm.on_subflow_established(sock("10.0.1.1:40001"), sock("10.0.2.2:8080"), 0, 1);
    // At the add_addr_accepted limit.
    pm.on_add_addr(at(20), 2, ip("10.0.3.2"), None);
    assert!(drain(&mut pm).is_empty());
    pm.on_remove_addr(&[1, 1, 9]);
    assert_eq!(
        drain(&mut pm),
        [PmAction::CloseSubflows {
            which: SubflowSelector::RemoteIds(vec![1])
        }]
    );
    assert_eq!(pm.accepted_addresses(), 0);
    assert_eq!(pm.extra_subflows(), 0);
    assert_eq!(pm.remote_address(1), None);
    // The freed place takes a new address; a re-announced one is new again.
    pm.on_add_addr(at(30), 1, ip("10.0.2.2"), None);
    assert_eq!(
        drain(&mut pm),
        [open("10.0.1.1:0", "10.0.2.2:8080", 0, 1, false)]
    );
    // The old subflow's closing, reported late, is not taken for the new one.
    pm.on_subflow_closed(sock("10.0.1.1:40001"), sock("10.0.2.2:8080"), true);
    assert_eq!(pm.extra_subflows(), 1);
    assert_eq!(pm.failed_subflows(), 0);
    pm.on_subflow_established(sock("10.0.1.1:40002"), sock("10.0.2.2:8080"), 0, 1);
    assert_eq!(pm.extra_subflows(), 1);
}

#[test]
fn remove_addr_of_unknown_ids_does_nothing() {
    let mut pm = established_client(PmConfig::default());
    pm.on_remove_addr(&[3, 4]);
    pm.on_remove_addr(&[]);
    assert!(drain(&mut pm).is_empty());
}

#[test]
fn remove_addr_closes_pending_subflows_too() {
    let mut pm = established_client(PmConfig::default());
    pm.on_add_addr(at(10), 1, ip("10.0.2.2"), None);
    drain(&mut pm);
    pm.on_remove_addr(&[1]);
    assert_eq!(
        drain(&mut pm),
        [PmAction::CloseSubflows {
            which: SubflowSelector::RemoteIds(vec![1])
        }]
    );
    assert_eq!(pm.extra_subflows(), 0);
}

#[test]
fn remove_addr_of_id_zero_closes_the_initial_subflow() {
    let mut pm = established_client(config(&["10.0.2.1,subflow"]));
    drain(&mut pm);
    pm.on_remove_addr(&[0]);
    assert_eq!(
        drain(&mut pm),
        [PmAction::CloseSubflows {
            which: SubflowSelector::RemoteIds(vec![0])
        }]
    );
    assert_eq!(pm.remote_address(0), None);
    assert_eq!(pm.extra_subflows(), 0);
}

#[test]
fn a_freed_place_goes_to_an_endpoint_the_limit_held_back() {
    // pm.c, mptcp_pm_subflow_check_next: a closed subflow lets the next endpoint in.
    let mut pm = established_client(with_limits(
        config(&["10.0.2.1,subflow", "10.0.3.1,subflow", "10.0.4.1,subflow"]),
        2,
        8,
    ));
    assert_eq!(drain(&mut pm).len(), 2);
    pm.on_subflow_closed(sock("10.0.2.1:0"), sock(SERVER), true);
    assert_eq!(drain(&mut pm), [open("10.0.4.1:0", SERVER, 3, 0, false)]);
}

// ------------------------------------------------------------------ subflow lifecycle

#[test]
fn without_recreate_failed_subflows_are_not_reopened_but_free_their_place() {
    // Linux's in-kernel path manager uses an endpoint once per connection.
    let mut config = config(&["10.0.2.1,subflow"]);
    config.recreate_failed = false;
    let mut pm = established_client(config);
    assert_eq!(drain(&mut pm).len(), 1);
    assert_eq!(pm.extra_subflows(), 1);
    pm.on_subflow_closed(sock("10.0.2.1:0"), sock(SERVER), true);
    assert!(drain(&mut pm).is_empty());
    assert_eq!(pm.poll_timeout(), None);
    pm.handle_timeout(at(1_000_000));
    assert!(drain(&mut pm).is_empty());
    assert_eq!(pm.extra_subflows(), 0);
    assert_eq!(pm.failed_subflows(), 1);
    assert!(pm.may_accept_join());
    // An unknown subflow closing is ignored.
    pm.on_subflow_closed(sock("10.0.9.1:1"), sock(SERVER), true);
    assert_eq!(pm.failed_subflows(), 1);
}

#[test]
fn established_subflows_are_matched_by_their_real_port() {
    let mut pm = established_client(config(&["10.0.2.1,subflow"]));
    drain(&mut pm);
    pm.on_subflow_established(sock("10.0.2.1:50000"), sock(SERVER), 1, 0);
    assert_eq!(pm.extra_subflows(), 1);
    // Reported twice: still one.
    pm.on_subflow_established(sock("10.0.2.1:50000"), sock(SERVER), 1, 0);
    assert_eq!(pm.extra_subflows(), 1);
    pm.on_subflow_closed(sock("10.0.2.1:50000"), sock(SERVER), false);
    assert_eq!(pm.extra_subflows(), 0);
    assert_eq!(pm.failed_subflows(), 0);
}

#[test]
fn a_pending_subflow_that_fails_is_found_by_its_port() {
    let mut pm = established_client(config(&["10.0.2.1,subflow"]));
    drain(&mut pm);
    // The connection knows the port it picked; the path manager still has 0.
    pm.on_subflow_closed(sock("10.0.2.1:50000"), sock(SERVER), true);
    assert_eq!(pm.extra_subflows(), 0);
}

#[test]
fn the_initial_subflow_closing_is_not_counted() {
    let mut pm = established_client(config(&["10.0.2.1,subflow"]));
    drain(&mut pm);
    pm.on_subflow_closed(sock(CLIENT), sock(SERVER), false);
    assert_eq!(pm.extra_subflows(), 1);
}

#[test]
fn may_accept_join_counts_the_peers_joins_against_the_subflows_limit() {
    // pm.c, mptcp_pm_allow_new_subflow; subflow.c: only once fully established.
    let mut pm = server(with_limits(PmConfig::default(), 2, 8));
    assert!(!pm.may_accept_join());
    pm.on_established(at(0));
    assert!(pm.may_accept_join());
    pm.on_subflow_established(sock("10.0.1.2:8080"), sock("10.0.2.1:40001"), 0, 1);
    assert!(pm.may_accept_join());
    pm.on_subflow_established(sock("10.0.1.2:8080"), sock("10.0.3.1:40002"), 0, 2);
    assert!(!pm.may_accept_join());
    assert_eq!(pm.extra_subflows(), 2);
    // A join let in anyway (several at once) is closed.
    pm.on_subflow_established(sock("10.0.1.2:8080"), sock("10.0.4.1:40003"), 0, 3);
    assert_eq!(
        drain(&mut pm),
        [PmAction::CloseSubflows {
            which: SubflowSelector::Exact {
                local: sock("10.0.1.2:8080"),
                remote: sock("10.0.4.1:40003"),
            }
        }]
    );
    assert_eq!(pm.extra_subflows(), 2);
    pm.on_subflow_closed(sock("10.0.1.2:8080"), sock("10.0.2.1:40001"), false);
    assert!(pm.may_accept_join());
}

#[test]
fn our_pending_subflows_count_against_accepting_joins() {
    let mut pm = established_client(with_limits(config(&["10.0.2.1,subflow"]), 1, 8));
    drain(&mut pm);
    assert!(!pm.may_accept_join());
}

// ------------------------------------------------------------------ local addresses

#[test]
fn a_new_local_address_is_announced_and_used() {
    let mut pm = established_client(with_limits(PmConfig::default(), 8, 8));
    pm.add_local_address(at(100), endpoint("10.0.2.1,signal,subflow"));
    assert_eq!(
        drain(&mut pm),
        [
            announce(1, "10.0.2.1", None),
            open("10.0.2.1:0", SERVER, 1, 0, false),
        ]
    );
    assert_eq!(pm.poll_timeout(), Some(at(1100)));
    // Given an id already taken, it gets a free one.
    pm.add_local_address(at(200), endpoint("10.0.3.1,subflow,backup,id=1"));
    assert_eq!(drain(&mut pm), [open("10.0.3.1:0", SERVER, 2, 0, true)]);
    assert_eq!(pm.local_address_id(ip("10.0.3.1")), Some(2));
}

#[test]
fn duplicate_or_invalid_local_addresses_are_ignored() {
    let mut pm = established_client(config(&["10.0.2.1,subflow"]));
    drain(&mut pm);
    pm.add_local_address(at(1), endpoint("10.0.2.1,subflow"));
    let mut invalid = endpoint("10.0.3.1,signal");
    invalid.flags.fullmesh = true;
    pm.add_local_address(at(1), invalid);
    assert!(drain(&mut pm).is_empty());
    assert_eq!(pm.local_endpoints().count(), 1);
}

#[test]
fn at_most_eight_local_endpoints() {
    let mut pm = established_client(with_limits(PmConfig::default(), 0, 0));
    for i in 1..=10u8 {
        pm.add_local_address(at(1), endpoint(&format!("10.0.{i}.7")));
    }
    assert_eq!(pm.local_endpoints().count(), MAX_ENDPOINTS);
}

#[test]
fn a_new_signal_address_waits_for_the_outstanding_announcement() {
    let mut pm = server(config(&["10.0.2.2,signal"]));
    pm.on_established(at(0));
    drain(&mut pm);
    pm.add_local_address(at(100), endpoint("10.0.3.2,signal"));
    assert!(drain(&mut pm).is_empty());
    pm.on_add_addr_echo(1);
    pm.handle_timeout(at(150));
    assert_eq!(drain(&mut pm), [announce(2, "10.0.3.2", None)]);
}

#[test]
fn local_addresses_added_before_establishment_wait_for_it() {
    let mut pm = client(PmConfig::default());
    pm.add_local_address(at(1), endpoint("10.0.2.1,subflow"));
    assert!(drain(&mut pm).is_empty());
    pm.on_established(at(2));
    assert_eq!(drain(&mut pm), [open("10.0.2.1:0", SERVER, 1, 0, false)]);
}

#[test]
fn a_removed_local_address_is_withdrawn_and_its_subflows_closed() {
    let mut pm = established_client(config(&["10.0.2.1,signal,subflow", "10.0.3.1,subflow"]));
    drain(&mut pm);
    pm.on_subflow_established(sock("10.0.2.1:50000"), sock(SERVER), 1, 0);
    pm.remove_local_address(ip("10.0.2.1"));
    assert_eq!(
        drain(&mut pm),
        [
            PmAction::RemoveAddress { ids: vec![1] },
            PmAction::CloseSubflows {
                which: SubflowSelector::LocalAddr(ip("10.0.2.1"))
            },
        ]
    );
    assert_eq!(pm.extra_subflows(), 1);
    assert_eq!(pm.local_address_id(ip("10.0.2.1")), None);
    // The outstanding announcement went with it: nothing left to resend.
    assert_eq!(pm.poll_timeout(), None);
}

#[test]
fn a_removed_address_frees_places_for_other_endpoints() {
    let mut pm = established_client(with_limits(
        config(&["10.0.2.1,subflow", "10.0.3.1,subflow"]),
        1,
        8,
    ));
    assert_eq!(drain(&mut pm), [open("10.0.2.1:0", SERVER, 1, 0, false)]);
    pm.remove_local_address(ip("10.0.2.1"));
    assert_eq!(
        drain(&mut pm),
        [
            PmAction::RemoveAddress { ids: vec![1] },
            PmAction::CloseSubflows {
                which: SubflowSelector::LocalAddr(ip("10.0.2.1"))
            },
            open("10.0.3.1:0", SERVER, 2, 0, false),
        ]
    );
}

#[test]
fn an_announced_address_without_subflows_is_withdrawn_alone() {
    let mut pm = server(config(&["10.0.2.2,signal", "10.0.3.2,signal"]));
    pm.on_established(at(0));
    drain(&mut pm);
    pm.remove_local_address(ip("10.0.2.2"));
    assert_eq!(drain(&mut pm), [PmAction::RemoveAddress { ids: vec![1] }]);
    // The next announcement may go now.
    assert_eq!(pm.poll_timeout(), Some(at(0)));
    pm.handle_timeout(at(10));
    assert_eq!(drain(&mut pm), [announce(2, "10.0.3.2", None)]);
}

#[test]
fn removing_the_initial_address_withdraws_id_zero() {
    // pm_kernel.c, mptcp_nl_remove_id_zero_address.
    let mut pm = established_client(config(&["10.0.2.1,subflow"]));
    drain(&mut pm);
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
    assert_eq!(pm.extra_subflows(), 1);
}

#[test]
fn the_initial_address_back_after_a_link_down_opens_a_join_with_id_zero() {
    // pm_kernel.c: removing the id 0 address makes the initial address's endpoint
    // available again (mptcp_nl_remove_id_zero_address), and adding it back opens a
    // subflow from it (mptcp_nl_add_subflow_or_signal_addr), under id 0 (RFC 8684
    // §3.4.1 keeps id 0 for the initial subflow's address).
    let mut pm = established_client(config(&["10.0.1.1,subflow", "10.0.2.1,subflow"]));
    assert_eq!(drain(&mut pm), [open("10.0.2.1:0", SERVER, 2, 0, false)]);
    pm.on_subflow_established(sock("10.0.2.1:50000"), sock(SERVER), 2, 0);
    // Wi-Fi goes down: id 0 withdrawn, the initial subflow reset.
    pm.remove_local_address(ip("10.0.1.1"));
    drain(&mut pm);
    pm.on_subflow_closed(sock(CLIENT), sock(SERVER), true);
    pm.handle_timeout(at(1000));
    assert!(drain(&mut pm).is_empty());
    // The lost subflow waits for its address, without a timer.
    assert_eq!(
        pm.pending_recreations().collect::<Vec<_>>(),
        [(sock("10.0.1.1:0"), sock(SERVER))]
    );
    assert_eq!(pm.poll_timeout(), None);
    // ... and comes back with its endpoint (its id as configured: 1), which opens
    // the one join (the pending re-creation gives way to it).
    // The REMOVE_ADDR for id 0, if still unsent, is dropped.
    pm.add_local_address(at(3000), endpoint("10.0.1.1,subflow,id=1"));
    assert_eq!(
        drain(&mut pm),
        [
            PmAction::KeepAddress { id: 0 },
            open("10.0.1.1:0", SERVER, 0, 0, false)
        ]
    );
    assert_eq!(pm.pending_recreations().count(), 0);
    let added: Vec<PmEvent> = std::iter::from_fn(|| pm.poll_event())
        .filter(|e| matches!(e, PmEvent::LocalAddressAdded { .. }))
        .collect();
    assert_eq!(
        added,
        [PmEvent::LocalAddressAdded {
            id: 0,
            addr: ip("10.0.1.1"),
            port: None
        }]
    );
    assert_eq!(pm.extra_subflows(), 2);
    assert_eq!(pm.local_address_id(ip("10.0.1.1")), Some(0));
    pm.on_subflow_established(sock("10.0.1.1:40001"), sock(SERVER), 0, 0);
    // Used once, as any endpoint: an update of the same address does nothing.
    pm.add_local_address(at(3100), endpoint("10.0.1.1,subflow"));
    assert!(drain(&mut pm).is_empty());
    // It goes down again: id 0 withdrawn again, its join closed.
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
    assert_eq!(pm.extra_subflows(), 1);
}

#[test]
fn the_initial_address_back_joins_announced_addresses_and_is_not_announced() {
    let mut pm = established_client(with_limits(PmConfig::default(), 8, 8));
    pm.remove_local_address(ip("10.0.1.1"));
    drain(&mut pm);
    pm.on_subflow_closed(sock(CLIENT), sock(SERVER), true);
    // Back, with a `signal` endpoint: id 0 is not announced (the peer learns it from
    // a join), the lost initial subflow comes back as a join, and the address is a
    // source again for announced addresses.
    pm.add_local_address(at(100), endpoint("10.0.1.1,signal"));
    assert_eq!(
        drain(&mut pm),
        [
            PmAction::KeepAddress { id: 0 },
            open("10.0.1.1:0", SERVER, 0, 0, false)
        ]
    );
    pm.on_add_addr(at(200), 1, ip("10.0.2.2"), None);
    assert_eq!(
        drain(&mut pm),
        [open("10.0.1.1:0", "10.0.2.2:8080", 0, 1, false)]
    );
    assert_eq!(
        pm.announce(at(300), 5, ip("10.0.1.1"), None),
        Err(PmCommandError::InitialAddress {
            addr: ip("10.0.1.1")
        })
    );
}

#[test]
fn removing_an_unknown_address_does_nothing() {
    let mut pm = established_client(config(&["10.0.2.1,subflow"]));
    drain(&mut pm);
    pm.remove_local_address(ip("10.0.9.1"));
    assert!(drain(&mut pm).is_empty());
    // An endpoint never announced nor used: removed quietly.
    let mut unused = established_client(with_limits(config(&["10.0.2.1,subflow"]), 0, 8));
    unused.remove_local_address(ip("10.0.2.1"));
    assert!(drain(&mut unused).is_empty());
    assert_eq!(unused.local_endpoints().count(), 0);
}

#[test]
fn set_backup_sends_mp_prio_for_subflows_from_the_address() {
    let mut pm = established_client(config(&["10.0.2.1,subflow"]));
    drain(&mut pm);
    pm.set_backup(ip("10.0.2.1"), true);
    assert_eq!(
        drain(&mut pm),
        [PmAction::SetBackup {
            local_id: 1,
            backup: true
        }]
    );
    assert!(pm.is_backup_address(ip("10.0.2.1")));
    pm.set_backup(ip("10.0.1.1"), true);
    assert_eq!(
        drain(&mut pm),
        [PmAction::SetBackup {
            local_id: 0,
            backup: true
        }]
    );
    // No subflow from it: nothing to send.
    pm.set_backup(ip("10.0.7.1"), true);
    assert!(drain(&mut pm).is_empty());
}

#[test]
fn new_clamps_limits_and_drops_invalid_endpoints() {
    let mut config = with_limits(PmConfig::default(), 200, 200);
    config.endpoints = vec![
        endpoint("10.0.2.1,subflow,id=4"),
        endpoint("10.0.2.1,subflow,id=5"),
        endpoint("10.0.3.1,subflow,id=4"),
        endpoint("10.0.4.1,subflow"),
    ];
    let mut pm = established_client(config);
    let ids: Vec<u8> = pm.local_endpoints().map(|e| e.id).collect();
    assert_eq!(ids, [4, 1, 2]);
    assert_eq!(drain(&mut pm).len(), 3);
    for i in 0..20u8 {
        pm.on_add_addr(at(1), i + 1, ip(&format!("10.1.{i}.2")), None);
    }
    assert_eq!(pm.accepted_addresses(), usize::from(MAX_LIMIT));
    assert_eq!(pm.extra_subflows(), usize::from(MAX_LIMIT));
}

#[test]
fn closings_we_asked_for_are_not_failures_and_free_no_second_place() {
    let mut pm = established_client(with_limits(
        config(&["10.0.2.1,subflow", "10.0.3.1,subflow", "10.0.4.1,subflow"]),
        2,
        8,
    ));
    assert_eq!(drain(&mut pm).len(), 2);
    pm.on_subflow_established(sock("10.0.2.1:50000"), sock(SERVER), 1, 0);
    pm.remove_local_address(ip("10.0.2.1"));
    // The freed place went to the endpoint held back.
    let actions = drain(&mut pm);
    assert_eq!(
        actions.last(),
        Some(&open("10.0.4.1:0", SERVER, 3, 0, false))
    );
    // The connection reports the closing it was asked for (with a reset).
    pm.on_subflow_closed(sock("10.0.2.1:50000"), sock(SERVER), true);
    assert_eq!(pm.failed_subflows(), 0);
    assert_eq!(pm.extra_subflows(), 2);
    assert!(drain(&mut pm).is_empty());
}

#[test]
fn a_subflow_asked_to_close_while_pending_is_matched_when_it_reports() {
    let mut pm = established_client(PmConfig::default());
    pm.on_add_addr(at(10), 1, ip("10.0.2.2"), None);
    drain(&mut pm);
    pm.on_remove_addr(&[1]);
    pm.on_add_addr(at(20), 1, ip("10.0.2.2"), None);
    assert_eq!(
        drain(&mut pm),
        [
            PmAction::CloseSubflows {
                which: SubflowSelector::RemoteIds(vec![1])
            },
            open("10.0.1.1:0", "10.0.2.2:8080", 0, 1, false),
        ]
    );
    // The first (closing) one reports first; the new one stays counted.
    pm.on_subflow_closed(sock("10.0.1.1:50000"), sock("10.0.2.2:8080"), true);
    assert_eq!(pm.extra_subflows(), 1);
    pm.on_subflow_established(sock("10.0.1.1:50001"), sock("10.0.2.2:8080"), 0, 1);
    pm.on_subflow_closed(sock("10.0.1.1:50001"), sock("10.0.2.2:8080"), true);
    assert_eq!(pm.extra_subflows(), 0);
    assert_eq!(pm.failed_subflows(), 1);
}

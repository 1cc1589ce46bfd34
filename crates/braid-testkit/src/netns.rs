//! Network namespaces and veth topologies, for interop tests and benchmarks against
//! the Linux kernel.
//!
//! Everything lives in namespaces this module creates and deletes: nothing is added to
//! the namespace of the caller, and no packet can leave the machine. A namespace is
//! deleted when its [`Netns`] is dropped, on panic too; namespaces left by a process
//! that was killed are deleted by the next one that creates a namespace.
//!
//! Threads, not processes, enter a namespace ([`Netns::spawn`]): a socket or TUN device
//! belongs to the namespace of the thread that created it, and threads a thread creates
//! start in its namespace (so a tokio runtime built inside one runs there).
//!
//! A namespace also carries the kernel's MPTCP configuration and counters
//! ([`Netns::mptcp_limits`], [`Netns::mptcp_endpoint_add`], [`Netns::mptcp_counters`])
//! and its own iptables rules ([`Netns::strip_tcp_option`], [`Topology::block_path`]).
//! Paths fail as real ones do: a link going down ([`Topology::link_down`]), flapping
//! ([`Topology::flap_path`]), silenced ([`Topology::block_path`]), lossy
//! ([`Topology::drop_randomly_on_path`]), or a firewall refusing MPTCP's SYNs
//! ([`Netns::drop_syns_with_tcp_option`]).
//! The Linux MPTCP peer that runs in it is [`crate::linux_mptcp`].

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::AsRawFd;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

const PREFIX: &str = "braidtest";

/// Whether this process can create network namespaces: root, `ip` present, and a
/// namespace can be made. `Err` says why not.
pub fn available() -> Result<(), String> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return Err("not root (network namespaces and TUN devices need root)".into());
    }
    match Netns::new() {
        Ok(_) => Ok(()),
        Err(e) => Err(format!("cannot create a network namespace: {e}")),
    }
}

/// A network namespace, deleted on drop.
#[derive(Debug)]
pub struct Netns {
    name: String,
}

impl Netns {
    /// Creates an empty namespace (only `lo`, up) with a name unique to this process.
    pub fn new() -> io::Result<Netns> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        remove_stale();
        let name = format!(
            "{PREFIX}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        run("ip", &["netns", "add", &name])?;
        let ns = Netns { name };
        ns.ip(&["link", "set", "lo", "up"])?;
        Ok(ns)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runs `ip -n NAME ARGS`.
    pub fn ip(&self, args: &[&str]) -> io::Result<String> {
        let mut all = vec!["-n", &self.name];
        all.extend_from_slice(args);
        run("ip", &all)
    }

    /// Runs a program inside the namespace (`ip netns exec`).
    pub fn exec(&self, program: &str, args: &[&str]) -> io::Result<String> {
        let mut all = vec!["netns", "exec", &self.name, program];
        all.extend_from_slice(args);
        run("ip", &all)
    }

    /// Moves the calling thread into the namespace, for good.
    pub fn enter(&self) -> io::Result<()> {
        let file = File::open(format!("/run/netns/{}", self.name))?;
        // SAFETY: setns takes a file descriptor we own for the call's duration and a
        // flag; it changes only the calling thread's network namespace.
        if unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Runs `f` on a new thread inside the namespace.
    pub fn spawn<F, T>(&self, name: &str, f: F) -> io::Result<JoinHandle<io::Result<T>>>
    where
        F: FnOnce() -> io::Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let path = format!("/run/netns/{}", self.name);
        let file = File::open(&path)?;
        std::thread::Builder::new()
            .name(name.to_string())
            .spawn(move || {
                // SAFETY: as in `enter`.
                if unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                    return Err(io::Error::last_os_error());
                }
                drop(file);
                f()
            })
    }

    /// Writes a sysctl of this namespace (`key` like `net.ipv4.ip_forward`).
    pub fn sysctl(&self, key: &str, value: &str) -> io::Result<()> {
        let path = format!("/proc/sys/{}", key.replace('.', "/"));
        let value = value.to_string();
        self.spawn("sysctl", move || std::fs::write(&path, value))?
            .join()
            .map_err(|_| io::Error::other("sysctl thread panicked"))?
    }

    /// Reads a sysctl of this namespace.
    pub fn sysctl_read(&self, key: &str) -> io::Result<String> {
        let path = format!("/proc/sys/{}", key.replace('.', "/"));
        Ok(self.read_file(&path)?.trim().to_string())
    }

    /// Reads a file from a thread inside the namespace: `/proc/sys/net/...`, or
    /// `/proc/thread-self/net/...` (not `/proc/net`, which follows the process's main
    /// thread, outside).
    pub fn read_file(&self, path: &str) -> io::Result<String> {
        let path = path.to_string();
        self.spawn("netns-read", move || std::fs::read_to_string(&path))?
            .join()
            .map_err(|_| io::Error::other("reader thread panicked"))?
    }

    /// Runs `ip -n NAME -batch -`: one `ip` process for many commands (each line
    /// without the leading `ip`). `ip -batch` takes no options on its lines, and `ip
    /// rule` does not tell IPv6 from its addresses: lines that start with `-6 ` run in
    /// a second batch, `ip -6 -batch`, after the others.
    pub fn ip_batch(&self, commands: &[String]) -> io::Result<()> {
        let (v6, v4): (Vec<&str>, Vec<&str>) = commands
            .iter()
            .map(|c| c.as_str())
            .partition(|c| c.starts_with("-6 "));
        let v6: Vec<&str> = v6.iter().map(|c| &c[3..]).collect();
        for (family, lines) in [(None, v4), (Some("-6"), v6)] {
            if lines.is_empty() {
                continue;
            }
            let mut args = vec!["-n", &self.name];
            args.extend(family);
            args.extend(["-batch", "-"]);
            run_stdin("ip", &args, &(lines.join("\n") + "\n"))?;
        }
        Ok(())
    }

    /// `ip mptcp limits set subflow SUBFLOWS add_addr_accepted ADD_ADDR_ACCEPTED`: how
    /// many additional subflows a connection may have, and how many ADD_ADDRs from
    /// the peer it acts on (Linux: defaults 2 and 0, at most 8 each).
    pub fn mptcp_limits(&self, subflows: u8, add_addr_accepted: u8) -> io::Result<()> {
        self.ip(&[
            "mptcp",
            "limits",
            "set",
            "subflow",
            &subflows.to_string(),
            "add_addr_accepted",
            &add_addr_accepted.to_string(),
        ])
        .map(drop)
    }

    /// `ip mptcp endpoint add ADDR [port PORT] [dev DEV] FLAGS...`: an address of the
    /// in-kernel path manager. `signal` announces it (ADD_ADDR), `subflow` opens
    /// subflows from it, `backup` makes them backups, `fullmesh` opens one to every
    /// address the peer announced. `dev` binds the subflows to that device. A port is
    /// for `signal` endpoints only: the kernel then listens on it for MP_JOINs.
    pub fn mptcp_endpoint_add(
        &self,
        addr: IpAddr,
        dev: Option<&str>,
        flags: &[EndpointFlag],
        port: Option<u16>,
    ) -> io::Result<()> {
        let addr = addr.to_string();
        let port = port.map(|p| p.to_string());
        let mut args = vec!["mptcp", "endpoint", "add", &addr];
        if let Some(port) = &port {
            args.extend(["port", port]);
        }
        if let Some(dev) = dev {
            args.extend(["dev", dev]);
        }
        args.extend(flags.iter().map(|f| f.as_str()));
        self.ip(&args).map(drop)
    }

    /// `ip mptcp endpoint flush`.
    pub fn mptcp_endpoint_flush(&self) -> io::Result<()> {
        self.ip(&["mptcp", "endpoint", "flush"]).map(drop)
    }

    /// `ip mptcp endpoint show`, as `ip` prints it.
    pub fn mptcp_endpoints(&self) -> io::Result<String> {
        self.ip(&["mptcp", "endpoint", "show"])
    }

    /// `net.mptcp.checksum_enabled`: DSS checksums on connections this namespace
    /// starts or accepts (Linux uses them if either end asks).
    pub fn mptcp_checksum(&self, enabled: bool) -> io::Result<()> {
        self.sysctl(
            "net.mptcp.checksum_enabled",
            if enabled { "1" } else { "0" },
        )
    }

    /// Every counter of `/proc/net/netstat` in this namespace, by group then name:
    /// `["TcpExt"]["TCPTimeouts"]`, `["MPTcpExt"]["MPJoinAckRx"]`. (`nstat -az` shows
    /// the same counters with the group glued on: `MPTcpExtMPJoinAckRx`.)
    pub fn netstat(&self) -> io::Result<BTreeMap<String, BTreeMap<String, u64>>> {
        Ok(parse_netstat(
            &self.read_file("/proc/thread-self/net/netstat")?,
        ))
    }

    /// The kernel's MPTCP counters in this namespace (MIB `MPTcpExt`), named as in
    /// `net/mptcp/mib.c` without the `MPTcpExt` prefix that `nstat` adds:
    /// `MPCapableSYNRX`, `MPJoinAckRx`, `AddAddr`, `EchoAdd`, `MPFastcloseRx`, ...
    /// Every counter the kernel has is present, zeros included; a new namespace starts
    /// at zero.
    pub fn mptcp_counters(&self) -> io::Result<BTreeMap<String, u64>> {
        let mut all = self.netstat()?;
        all.remove("MPTcpExt").ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                "no MPTcpExt counters in /proc/net/netstat (kernel without MPTCP?)",
            )
        })
    }

    /// Waits until the MPTCP counter `name` reaches `at_least`, checking every 5 ms
    /// for at most `timeout`; returns its value. For what the kernel does after the
    /// socket calls return (an ADD_ADDR echo, a join in the path manager's worker).
    pub fn wait_mptcp_counter(
        &self,
        name: &str,
        at_least: u64,
        timeout: Duration,
    ) -> io::Result<u64> {
        let deadline = Instant::now() + timeout;
        let mut last = 0;
        // Bounded by the deadline, and by a count in case the clock misbehaves.
        for _ in 0..100_000 {
            let counters = self.mptcp_counters()?;
            last = *counters.get(name).ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::NotFound,
                    format!("this kernel has no MPTCP counter {name}"),
                )
            })?;
            if last >= at_least || Instant::now() >= deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        if last >= at_least {
            Ok(last)
        } else {
            Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("MPTCP counter {name} is {last} after {timeout:?}, wanted {at_least}"),
            ))
        }
    }

    /// Bytes and packets through each interface of the namespace
    /// (`/proc/net/dev`), by name.
    pub fn link_stats(&self) -> io::Result<BTreeMap<String, LinkStats>> {
        Ok(parse_net_dev(&self.read_file("/proc/thread-self/net/dev")?))
    }

    /// Runs `iptables` (or `ip6tables`) with `args` in the namespace.
    pub fn iptables(&self, ipv6: bool, args: &[&str]) -> io::Result<String> {
        let program = if ipv6 { "ip6tables" } else { "iptables" };
        self.exec(program, args).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("{e} (is iptables installed? Debian package: iptables)"),
            )
        })
    }

    /// Adds `rules` (appended, or inserted first in their chains if `first`), one
    /// `iptables-restore --noflush` per family: all rules of a family take effect at
    /// once.
    pub fn iptables_add(&self, rules: &[IptablesRule], first: bool) -> io::Result<()> {
        let op = if first { "-I" } else { "-A" };
        self.iptables_restore(rules, op)
    }

    /// Deletes `rules` (as added by [`Netns::iptables_add`]).
    pub fn iptables_delete(&self, rules: &[IptablesRule]) -> io::Result<()> {
        self.iptables_restore(rules, "-D")
    }

    fn iptables_restore(&self, rules: &[IptablesRule], op: &str) -> io::Result<()> {
        for ipv6 in [false, true] {
            let mut tables: BTreeMap<&str, Vec<String>> = BTreeMap::new();
            for rule in rules.iter().filter(|r| r.ipv6 == ipv6) {
                let position = if op == "-I" { " 1" } else { "" };
                tables.entry(&rule.table).or_default().push(format!(
                    "{op} {}{position} {}",
                    rule.chain,
                    rule.spec.join(" ")
                ));
            }
            if tables.is_empty() {
                continue;
            }
            let mut script = String::new();
            for (table, lines) in tables {
                script += &format!("*{table}\n{}\nCOMMIT\n", lines.join("\n"));
            }
            let program = if ipv6 {
                "ip6tables-restore"
            } else {
                "iptables-restore"
            };
            run_stdin(
                "ip",
                &["netns", "exec", &self.name, program, "--noflush"],
                &script,
            )
            .map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("{e}\nrules:\n{script}(Debian package: iptables)"),
                )
            })?;
        }
        Ok(())
    }

    /// Packets that matched `rule` so far.
    pub fn iptables_packets(&self, rule: &IptablesRule) -> io::Result<u64> {
        let out = self.iptables(rule.ipv6, &["-t", &rule.table, "-S", &rule.chain, "-v"])?;
        // "-A POSTROUTING -p tcp ... -m comment --comment braid-3 -c 12 720 -j ..."
        let needle = format!("--comment {} ", rule.tag);
        let line = out.lines().find(|l| l.contains(&needle)).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("rule {} is not in {} {}", rule.tag, rule.table, rule.chain),
            )
        })?;
        let mut words = line.split_whitespace().skip_while(|w| *w != "-c").skip(1);
        words
            .next()
            .and_then(|w| w.parse().ok())
            .ok_or_else(|| io::Error::other(format!("no packet count in `{line}`")))
    }

    /// Strips TCP option `kind` from `segments` (iptables' TCPOPTSTRIP, a real
    /// middlebox), IPv4 and IPv6, as they leave or enter this namespace (`hook`).
    /// Option 30 is MPTCP: stripped from SYNs, Linux falls back to TCP. Returns the
    /// rules, to delete or count.
    pub fn strip_tcp_option(
        &self,
        kind: u8,
        segments: TcpSegments,
        hook: Hook,
    ) -> io::Result<Vec<IptablesRule>> {
        let mut matches = vec!["-p".to_string(), "tcp".to_string()];
        if let Some((mask, set)) = segments.flags() {
            matches.extend(["--tcp-flags".into(), mask.into(), set.into()]);
        }
        let rules: Vec<IptablesRule> = [false, true]
            .into_iter()
            .map(|ipv6| {
                let mut spec = matches.clone();
                spec.extend([
                    "-j".into(),
                    "TCPOPTSTRIP".into(),
                    "--strip-options".into(),
                    kind.to_string(),
                ]);
                IptablesRule::new(ipv6, "mangle", hook.chain(), spec)
            })
            .collect();
        self.iptables_add(&rules, false)?;
        Ok(rules)
    }

    /// [`Netns::strip_tcp_option`] of option 30 (MPTCP) from SYNs without ACK leaving
    /// this namespace: the server never sees MP_CAPABLE, the client falls back
    /// (`MPCapableFallbackSYNACK` in the client's namespace).
    pub fn strip_mptcp_from_syn(&self) -> io::Result<Vec<IptablesRule>> {
        self.strip_tcp_option(30, TcpSegments::Syn, Hook::Outgoing)
    }

    /// Drops SYNs without ACK that carry TCP option `kind` (iptables' `tcp` match,
    /// `--tcp-option`), IPv4 and IPv6, at `hook` of this namespace: a firewall that
    /// refuses connections whose SYN has an option it does not know. With option 30
    /// every MP_CAPABLE and MP_JOIN SYN dies, and only a plain SYN gets through (the
    /// SYN-ACK is not touched). Returns the rules, to count or delete.
    pub fn drop_syns_with_tcp_option(&self, kind: u8, hook: Hook) -> io::Result<Vec<IptablesRule>> {
        let rules: Vec<IptablesRule> = [false, true]
            .into_iter()
            .map(|ipv6| {
                let spec = ["-p", "tcp", "--tcp-flags", "SYN,ACK", "SYN", "--tcp-option"]
                    .into_iter()
                    .map(String::from)
                    .chain([kind.to_string(), "-j".into(), "DROP".into()])
                    .collect();
                IptablesRule::new(ipv6, "mangle", hook.chain(), spec)
            })
            .collect();
        self.iptables_add(&rules, true)?;
        Ok(rules)
    }

    /// `net.mptcp.allow_join_initial_addr_port`: with `false`, a server of this
    /// namespace sets the C flag in its MP_CAPABLE SYN-ACK, telling the client not to
    /// join the address and port of the initial subflow (RFC 8684 §3.1). Linux still
    /// accepts such joins; the flag is all that changes.
    pub fn mptcp_allow_join_initial_addr_port(&self, allow: bool) -> io::Result<()> {
        self.sysctl(
            "net.mptcp.allow_join_initial_addr_port",
            if allow { "1" } else { "0" },
        )
    }

    /// `ip mptcp endpoint delete id ID` for the endpoint of address `addr`: the kernel
    /// closes the subflows that use it and, for a `signal` endpoint, withdraws it
    /// (REMOVE_ADDR) from the connections it was announced on.
    pub fn mptcp_endpoint_delete(&self, addr: IpAddr) -> io::Result<()> {
        let shown = self.mptcp_endpoints()?;
        let id = endpoint_id(&shown, addr).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("no MPTCP endpoint {addr} in `ip mptcp endpoint show`: {shown:?}"),
            )
        })?;
        self.ip(&["mptcp", "endpoint", "delete", "id", &id.to_string()])
            .map(drop)
    }

    /// What `ss -tinaM` prints in this namespace: TCP sockets (MPTCP subflows among
    /// them) and MPTCP sockets with their internals, for a test's failure message. The
    /// error's text if `ss` (Debian package iproute2) cannot run.
    pub fn sockets(&self) -> String {
        self.exec("ss", &["-tinaM"])
            .unwrap_or_else(|e| format!("(ss failed: {e})"))
    }
}

/// The id of the endpoint of `addr` in the output of `ip mptcp endpoint show`
/// ("10.0.2.2 id 1 signal dev s2 ").
fn endpoint_id(shown: &str, addr: IpAddr) -> Option<u8> {
    shown.lines().find_map(|line| {
        let mut words = line.split_whitespace();
        let this: IpAddr = words.next()?.parse().ok()?;
        if this != addr {
            return None;
        }
        let mut rest = words.skip_while(|w| *w != "id");
        rest.next()?;
        rest.next()?.parse().ok()
    })
}

/// Above any route [`Topology::new`] makes: the `unreachable` routes of
/// [`Topology::link_down`] only match once the link's own routes are gone.
const UNREACHABLE_METRIC: u32 = 4096;

/// Which end of a path: the client namespace's device (`cN`) or the server's (`sN`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathEnd {
    Client,
    Server,
}

/// How [`Topology::flap_path`] flaps a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlapSchedule {
    /// How many times the path goes down.
    pub count: u32,
    /// How long it stays down each time.
    pub down: Duration,
    /// How long it stays up after each return (after the `once_up` hook).
    pub up: Duration,
}

/// One flap of [`Topology::flap_path`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flap {
    pub down_at: Instant,
    pub up_at: Instant,
}

/// A flag of an in-kernel path manager endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndpointFlag {
    Signal,
    Subflow,
    Backup,
    Fullmesh,
}

impl EndpointFlag {
    pub fn as_str(self) -> &'static str {
        match self {
            EndpointFlag::Signal => "signal",
            EndpointFlag::Subflow => "subflow",
            EndpointFlag::Backup => "backup",
            EndpointFlag::Fullmesh => "fullmesh",
        }
    }
}

/// Which TCP segments a rule applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TcpSegments {
    /// SYN without ACK (`--tcp-flags SYN,ACK SYN`).
    Syn,
    /// SYN-ACK (`--tcp-flags SYN,ACK SYN,ACK`).
    SynAck,
    /// Every segment with SYN set.
    AnySyn,
    /// Every TCP segment.
    All,
}

impl TcpSegments {
    fn flags(self) -> Option<(&'static str, &'static str)> {
        match self {
            TcpSegments::Syn => Some(("SYN,ACK", "SYN")),
            TcpSegments::SynAck => Some(("SYN,ACK", "SYN,ACK")),
            TcpSegments::AnySyn => Some(("SYN", "SYN")),
            TcpSegments::All => None,
        }
    }
}

/// Where in a namespace a rule sees packets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hook {
    /// As they leave: sent by this namespace's kernel or forwarded by it (braid's
    /// packets in the client namespace). mangle POSTROUTING.
    Outgoing,
    /// As they arrive, before routing: for this namespace's kernel or to forward.
    /// mangle PREROUTING.
    Incoming,
}

impl Hook {
    fn chain(self) -> &'static str {
        match self {
            Hook::Outgoing => "POSTROUTING",
            Hook::Incoming => "PREROUTING",
        }
    }
}

/// One iptables rule, tagged with a comment unique to it so that it can be found,
/// counted ([`Netns::iptables_packets`]) and deleted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IptablesRule {
    /// ip6tables rather than iptables.
    pub ipv6: bool,
    pub table: String,
    pub chain: String,
    /// Matches and target, the tag's comment match included. No word may contain
    /// white space.
    pub spec: Vec<String>,
    /// The comment that names this rule (`braid-PID-N`).
    pub tag: String,
}

impl IptablesRule {
    /// A rule with matches and target `spec`, and a tag of its own.
    pub fn new(ipv6: bool, table: &str, chain: &str, spec: Vec<String>) -> IptablesRule {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let tag = format!(
            "braid-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        IptablesRule::tagged(ipv6, table, chain, &tag, spec)
    }

    /// A rule with matches and target `spec`, and the tag `tag` (a comment match,
    /// added in front).
    pub fn tagged(
        ipv6: bool,
        table: &str,
        chain: &str,
        tag: &str,
        spec: Vec<String>,
    ) -> IptablesRule {
        assert!(
            spec.iter()
                .chain([&tag.to_string()])
                .all(|w| !w.is_empty() && !w.contains(char::is_whitespace)),
            "iptables words without white space: {tag} {spec:?}"
        );
        let tag = tag.to_string();
        let mut all = vec![
            "-m".to_string(),
            "comment".into(),
            "--comment".into(),
            tag.clone(),
        ];
        all.extend(spec);
        IptablesRule {
            ipv6,
            table: table.into(),
            chain: chain.into(),
            spec: all,
            tag,
        }
    }
}

/// Traffic through one interface.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LinkStats {
    pub rx_bytes: u64,
    pub rx_packets: u64,
    pub tx_bytes: u64,
    pub tx_packets: u64,
}

/// `/proc/net/netstat`: pairs of lines, "Group: name name ..." then "Group: n n ...".
fn parse_netstat(text: &str) -> BTreeMap<String, BTreeMap<String, u64>> {
    let mut groups = BTreeMap::new();
    let mut lines = text.lines();
    while let (Some(names), Some(values)) = (lines.next(), lines.next()) {
        let (Some((group, names)), Some((_, values))) =
            (names.split_once(':'), values.split_once(':'))
        else {
            continue;
        };
        let counters: BTreeMap<String, u64> = names
            .split_whitespace()
            .zip(values.split_whitespace())
            .filter_map(|(n, v)| Some((n.to_string(), v.parse().ok()?)))
            .collect();
        groups.insert(group.trim().to_string(), counters);
    }
    groups
}

/// `/proc/net/dev`: two header lines, then "name: rx_bytes rx_packets (6 more) tx_bytes
/// tx_packets ...".
fn parse_net_dev(text: &str) -> BTreeMap<String, LinkStats> {
    text.lines()
        .skip(2)
        .filter_map(|line| {
            let (name, rest) = line.split_once(':')?;
            let v: Vec<u64> = rest
                .split_whitespace()
                .map(|w| w.parse().ok())
                .collect::<Option<_>>()?;
            (v.len() >= 10).then(|| {
                (
                    name.trim().to_string(),
                    LinkStats {
                        rx_bytes: v[0],
                        rx_packets: v[1],
                        tx_bytes: v[8],
                        tx_packets: v[9],
                    },
                )
            })
        })
        .collect()
}

impl Drop for Netns {
    fn drop(&mut self) {
        if let Err(e) = run("ip", &["netns", "del", &self.name]) {
            eprintln!(
                "warning: could not delete network namespace {}: {e}",
                self.name
            );
        }
    }
}

/// Deletes namespaces this module made in processes that no longer run.
fn remove_stale() {
    let Ok(entries) = std::fs::read_dir("/run/netns") else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let mut parts = name.split('-');
        let (Some(PREFIX), Some(pid), Some(_), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let Ok(pid) = pid.parse::<u32>() else {
            continue;
        };
        if pid != std::process::id() && !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            let _ = run("ip", &["netns", "del", &name]);
        }
    }
}

fn run(program: &str, args: &[&str]) -> io::Result<String> {
    let out = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| io::Error::new(e.kind(), format!("cannot run {program}: {e}")))?;
    if !out.status.success() {
        return Err(io::Error::other(format!(
            "`{program} {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Runs a program with `input` on its standard input.
fn run_stdin(program: &str, args: &[&str], input: &str) -> io::Result<String> {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| io::Error::new(e.kind(), format!("cannot run {program}: {e}")))?;
    // The input is small; the child reads it all before writing much, so writing
    // first and then collecting the output cannot dead-lock.
    let written = child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(input.as_bytes());
    let out = child.wait_with_output()?;
    if !out.status.success() || written.is_err() {
        return Err(io::Error::other(format!(
            "`{program} {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// One path of a [`Topology`]: a veth pair and the addresses around it.
#[derive(Debug, Clone)]
pub struct Path {
    /// `cN`, in the client namespace.
    pub client_dev: String,
    /// `sN`, in the server namespace.
    pub server_dev: String,
    /// 10.0.N.1: the client namespace's kernel, on `cN`.
    pub client_ip: Ipv4Addr,
    /// 10.0.N.2: the server namespace's kernel, on `sN`.
    pub server_ip: Ipv4Addr,
    /// 10.1.N.1: braid's address for this path (routed into its TUN device, which the
    /// caller creates in the client namespace).
    pub braid_ip: Ipv4Addr,
    /// fd00:N::1: the client namespace's kernel, on `cN`.
    pub client_ip6: Ipv6Addr,
    /// fd00:N::2: the server namespace's kernel, on `sN`.
    pub server_ip6: Ipv6Addr,
    /// fd01:N::1: braid's IPv6 address for this path.
    pub braid_ip6: Ipv6Addr,
}

/// The interop layout of docs/network-lab.md: a client namespace where braid runs (forwarding on,
/// rp_filter off, one policy-routing table per braid address) and a server namespace
/// for the Linux peer, joined by one veth pair per path. IPv4 and IPv6 alike:
///
/// ```text
/// client ns: braid's TUN (created by the caller; braid owns 10.1.N.1, fd01:N::1)
///            cN 10.0.N.1/24 fd00:N::1/64 ----veth---- sN 10.0.N.2/24 fd00:N::2/64   server ns
///   ip rule add from 10.1.N.1 table N;  default via 10.0.N.2 dev cN table N
///   ip -6 rule add from fd01:N::1 table N;  default via fd00:N::2 dev cN table N
///   default via 10.0.N.2 dev cN metric 100+N   (and fd00:N::2 for IPv6)
/// server ns:
///   10.1.N.0/24 via 10.0.N.1;  fd01:N::/64 via fd00:N::1
///   default via 10.0.N.1 dev sN metric 100+N   (and fd00:N::1 for IPv6)
/// ```
///
/// The default routes, one per path with its own metric, let a socket bound to any
/// `cN` (or `sN`) reach every address of the other namespace through that path: the
/// kernel's MPTCP binds each subflow of an endpoint with `dev` to its device, so a
/// subflow from c2's address to s1's address leaves by c2 (as in Linux's
/// selftests/net/mptcp/mptcp_join.sh). Unbound sockets still take the connected
/// route. The server namespace does not forward, so a packet for an address nobody
/// has dies there rather than looping.
///
/// Both namespaces have rp_filter off and IPv6 duplicate address detection off (the
/// addresses are usable at once); the client forwards IPv4 and IPv6.
#[derive(Debug)]
pub struct Topology {
    pub paths: Vec<Path>,
    // Fields drop in order: namespaces after everything else.
    pub client: Netns,
    pub server: Netns,
}

impl Topology {
    /// Builds the layout with `paths` paths (1 to 8).
    pub fn new(paths: u8) -> io::Result<Topology> {
        assert!((1..=8).contains(&paths), "1 to 8 paths");
        let client = Netns::new()?;
        let server = Netns::new()?;
        // In the client namespace the kernel forwards braid's packets; the TUN device
        // created later inherits `default`. Devices created after these writes inherit
        // `default` too: no duplicate address detection, so IPv6 addresses work at once.
        for (key, value) in [
            ("net.ipv4.ip_forward", "1"),
            ("net.ipv6.conf.all.forwarding", "1"),
        ] {
            client.sysctl(key, value)?;
        }
        for ns in [&client, &server] {
            for (key, value) in [
                ("net.ipv4.conf.all.rp_filter", "0"),
                ("net.ipv4.conf.default.rp_filter", "0"),
                ("net.ipv6.conf.all.accept_dad", "0"),
                ("net.ipv6.conf.default.accept_dad", "0"),
            ] {
                ns.sysctl(key, value)?;
            }
        }
        let all: Vec<Path> = (1..=paths)
            .map(|n| Path {
                client_dev: format!("c{n}"),
                server_dev: format!("s{n}"),
                client_ip: Ipv4Addr::new(10, 0, n, 1),
                server_ip: Ipv4Addr::new(10, 0, n, 2),
                braid_ip: Ipv4Addr::new(10, 1, n, 1),
                client_ip6: Ipv6Addr::new(0xfd00, n.into(), 0, 0, 0, 0, 0, 1),
                server_ip6: Ipv6Addr::new(0xfd00, n.into(), 0, 0, 0, 0, 0, 2),
                braid_ip6: Ipv6Addr::new(0xfd01, n.into(), 0, 0, 0, 0, 0, 1),
            })
            .collect();
        for path in &all {
            // Created directly inside the two namespaces: never in the caller's.
            run(
                "ip",
                &[
                    "link",
                    "add",
                    &path.client_dev,
                    "netns",
                    client.name(),
                    "type",
                    "veth",
                    "peer",
                    "name",
                    &path.server_dev,
                    "netns",
                    server.name(),
                ],
            )?;
        }
        // One `ip -batch` per namespace and step: links up with their addresses on
        // both sides first, so that routes via the other side find it reachable.
        let mut client_links = Vec::new();
        let mut server_links = Vec::new();
        let mut client_routes = Vec::new();
        let mut server_routes = Vec::new();
        for (path, n) in all.iter().zip(1u8..) {
            let (c, s) = (&path.client_dev, &path.server_dev);
            let metric = 100 + u32::from(n);
            client_links.extend([
                format!("addr add {}/24 dev {c}", path.client_ip),
                format!("-6 addr add {}/64 dev {c} nodad", path.client_ip6),
                format!("link set {c} up"),
            ]);
            server_links.extend([
                format!("addr add {}/24 dev {s}", path.server_ip),
                format!("-6 addr add {}/64 dev {s} nodad", path.server_ip6),
                format!("link set {s} up"),
            ]);
            client_routes.extend([
                format!("rule add from {} table {n}", path.braid_ip),
                format!("route add default via {} dev {c} table {n}", path.server_ip),
                format!("-6 rule add from {} table {n}", path.braid_ip6),
                format!(
                    "-6 route add default via {} dev {c} table {n}",
                    path.server_ip6
                ),
                format!(
                    "route add default via {} dev {c} metric {metric}",
                    path.server_ip
                ),
                format!(
                    "-6 route add default via {} dev {c} metric {metric}",
                    path.server_ip6
                ),
            ]);
            server_routes.extend([
                format!("route add 10.1.{n}.0/24 via {}", path.client_ip),
                format!("-6 route add fd01:{n}::/64 via {}", path.client_ip6),
                format!(
                    "route add default via {} dev {s} metric {metric}",
                    path.client_ip
                ),
                format!(
                    "-6 route add default via {} dev {s} metric {metric}",
                    path.client_ip6
                ),
            ]);
        }
        client.ip_batch(&client_links)?;
        server.ip_batch(&server_links)?;
        client.ip_batch(&client_routes)?;
        server.ip_batch(&server_routes)?;
        Ok(Topology {
            paths: all,
            client,
            server,
        })
    }

    /// The rules that [`Topology::block_path`] adds for path `index`: in the client
    /// namespace, everything arriving on or leaving by `cN`, IPv4 and IPv6, whoever
    /// sent it (the client's kernel, braid through forwarding, the server).
    fn block_rules(&self, index: usize) -> Vec<IptablesRule> {
        let dev = &self.paths[index].client_dev;
        let mut rules = Vec::new();
        for ipv6 in [false, true] {
            for (chain, dir) in [("PREROUTING", "-i"), ("POSTROUTING", "-o")] {
                let spec = vec![dir.to_string(), dev.clone(), "-j".into(), "DROP".into()];
                // The same tag each time, so that unblocking finds the rules again.
                let tag = format!("braid-block-{dev}");
                rules.push(IptablesRule::tagged(ipv6, "mangle", chain, &tag, spec));
            }
        }
        rules
    }

    /// Drops every packet of path `index` (0 is c1/s1) from now on, both directions,
    /// until [`Topology::unblock_path`]: a path that fails silently, as when a link
    /// goes away without the interfaces noticing. The rules of both families take
    /// effect at once; they come before any other rule.
    pub fn block_path(&self, index: usize) -> io::Result<()> {
        self.client.iptables_add(&self.block_rules(index), true)
    }

    /// Lets path `index` carry packets again.
    pub fn unblock_path(&self, index: usize) -> io::Result<()> {
        self.client.iptables_delete(&self.block_rules(index))
    }

    /// Packets dropped on path `index` while it is blocked.
    pub fn blocked_packets(&self, index: usize) -> io::Result<u64> {
        self.block_rules(index)
            .iter()
            .map(|rule| self.client.iptables_packets(rule))
            .sum()
    }

    /// The namespace and device of path `index` at `end`.
    fn end_of(&self, index: usize, end: PathEnd) -> (&Netns, &str) {
        let path = &self.paths[index];
        match end {
            PathEnd::Client => (&self.client, &path.client_dev),
            PathEnd::Server => (&self.server, &path.server_dev),
        }
    }

    /// Takes path `index` down at `end`, as when a cable is pulled or a radio loses
    /// its network: `ip link set DEV down` there (the other end loses its carrier), so
    /// the kernel deletes the routes through the device on that side and nothing
    /// crosses the path either way until [`Topology::link_up`].
    ///
    /// What a host with one route per interface has, so that traffic for the path
    /// does not leave by another one (it would reach the other side, which routes
    /// replies back by the dead path): at the client end, path N's routing table
    /// (braid's packets from 10.1.N.1) gets an `unreachable` default, below the
    /// gateway's, that remains when the gateway route goes; at the server end, the
    /// route back to 10.1.N.0/24 gets an `unreachable` one the same way. These stay
    /// afterwards and change nothing while the link is up. IPv6 addresses on the
    /// device are kept (`keep_addr_on_down`), as IPv4 ones are.
    pub fn link_down(&self, index: usize, end: PathEnd) -> io::Result<()> {
        let (ns, dev) = self.end_of(index, end);
        let n = index + 1;
        let fallbacks = match end {
            PathEnd::Client => [
                format!("route replace unreachable default metric {UNREACHABLE_METRIC} table {n}"),
                format!(
                    "-6 route replace unreachable default metric {UNREACHABLE_METRIC} table {n}"
                ),
            ],
            PathEnd::Server => [
                format!("route replace unreachable 10.1.{n}.0/24 metric {UNREACHABLE_METRIC}"),
                format!("-6 route replace unreachable fd01:{n}::/64 metric {UNREACHABLE_METRIC}"),
            ],
        };
        ns.ip_batch(&fallbacks)?;
        ns.sysctl(&format!("net.ipv6.conf.{dev}.keep_addr_on_down"), "1")?;
        ns.ip(&["link", "set", dev, "down"]).map(drop)
    }

    /// Brings path `index` back up at `end` after [`Topology::link_down`], with the
    /// routes through it that the kernel deleted (those [`Topology::new`] made).
    pub fn link_up(&self, index: usize, end: PathEnd) -> io::Result<()> {
        let (ns, dev) = self.end_of(index, end);
        let path = &self.paths[index];
        let n = index + 1;
        let metric = 101 + index;
        ns.ip(&["link", "set", dev, "up"])?;
        let routes = match end {
            PathEnd::Client => vec![
                format!(
                    "route replace default via {} dev {dev} table {n}",
                    path.server_ip
                ),
                format!(
                    "route replace default via {} dev {dev} metric {metric}",
                    path.server_ip
                ),
                format!(
                    "-6 route replace default via {} dev {dev} table {n}",
                    path.server_ip6
                ),
                format!(
                    "-6 route replace default via {} dev {dev} metric {metric}",
                    path.server_ip6
                ),
            ],
            PathEnd::Server => vec![
                format!("route replace 10.1.{n}.0/24 via {}", path.client_ip),
                format!(
                    "route replace default via {} dev {dev} metric {metric}",
                    path.client_ip
                ),
                format!("-6 route replace fd01:{n}::/64 via {}", path.client_ip6),
                format!(
                    "-6 route replace default via {} dev {dev} metric {metric}",
                    path.client_ip6
                ),
            ],
        };
        // The connected routes the gateways need come back with the link; the kernel
        // may take a moment for IPv6's. A few tries, 10 ms apart.
        let mut last = Ok(());
        for _ in 0..50 {
            last = ns.ip_batch(&routes);
            if last.is_ok() {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        last
    }

    /// Flaps path `index` at `end`: `schedule.count` times [`Topology::link_down`],
    /// `while_down(i)`, back up after `schedule.down` ([`Topology::link_up`]),
    /// `once_up(i)`, and up for `schedule.up` after that. The hooks do what the hosts
    /// around the link do (withdraw an address, announce it again, wait for a
    /// subflow); they must bound their own waits. Gives up with an error when
    /// `deadline` passes; returns when each flap went down and came back up.
    pub fn flap_path(
        &self,
        index: usize,
        end: PathEnd,
        schedule: FlapSchedule,
        deadline: Instant,
        mut while_down: impl FnMut(u32) -> io::Result<()>,
        mut once_up: impl FnMut(u32) -> io::Result<()>,
    ) -> io::Result<Vec<Flap>> {
        let mut flaps = Vec::new();
        for i in 0..schedule.count {
            if Instant::now() >= deadline {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("{} of {} flaps before the deadline", i, schedule.count),
                ));
            }
            let down_at = Instant::now();
            self.link_down(index, end)?;
            while_down(i)?;
            std::thread::sleep(schedule.down.saturating_sub(down_at.elapsed()));
            self.link_up(index, end)?;
            let up_at = Instant::now();
            once_up(i)?;
            flaps.push(Flap { down_at, up_at });
            std::thread::sleep(schedule.up);
        }
        Ok(flaps)
    }

    /// Drops packets of path `index` at random with `probability`, each direction on
    /// its own (iptables' `statistic` match on `cN`, as packets arrive on it and as
    /// they leave by it), IPv4 and IPv6. Packets are what the rule sees: with offload
    /// a dropped packet may be a burst of segments, so a test that wants segment loss
    /// uses [`Topology::one_segment_per_packet`] and a stack without offload. Returns
    /// the rules, to count or delete.
    pub fn drop_randomly_on_path(
        &self,
        index: usize,
        probability: f64,
    ) -> io::Result<Vec<IptablesRule>> {
        let dev = &self.paths[index].client_dev;
        let mut rules = Vec::new();
        for ipv6 in [false, true] {
            for (chain, dir) in [("PREROUTING", "-i"), ("POSTROUTING", "-o")] {
                let spec = [
                    dir,
                    dev,
                    "-m",
                    "statistic",
                    "--mode",
                    "random",
                    "--probability",
                ]
                .into_iter()
                .map(String::from)
                .chain([probability.to_string(), "-j".into(), "DROP".into()])
                .collect();
                rules.push(IptablesRule::new(ipv6, "mangle", chain, spec));
            }
        }
        self.client.iptables_add(&rules, true)?;
        Ok(rules)
    }

    /// Drops forwarded packets at random in the client namespace, in both directions,
    /// with `probability` (iptables' `statistic` match).
    pub fn drop_randomly(&self, probability: f64) -> io::Result<()> {
        self.client
            .exec(
                "iptables",
                &[
                    "-A",
                    "FORWARD",
                    "-m",
                    "statistic",
                    "--mode",
                    "random",
                    "--probability",
                    &probability.to_string(),
                    "-j",
                    "DROP",
                ],
            )
            .map(drop)
            .map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("{e} (is iptables installed? Debian package: iptables)"),
                )
            })
    }

    /// Makes the kernel send one TCP segment per packet on every veth end
    /// (`gso_max_segs 1`), so that what crosses the client namespace, and what
    /// [`Topology::drop_randomly`] drops, are single segments rather than TSO bursts of
    /// up to 64 KiB. (braid's own bursts are single segments when its stack runs
    /// without offload.)
    pub fn one_segment_per_packet(&self) -> io::Result<()> {
        for path in &self.paths {
            self.client
                .ip(&["link", "set", &path.client_dev, "gso_max_segs", "1"])?;
            self.server
                .ip(&["link", "set", &path.server_dev, "gso_max_segs", "1"])?;
        }
        Ok(())
    }

    /// Packets iptables dropped in the client namespace's FORWARD chain.
    pub fn dropped_packets(&self) -> io::Result<u64> {
        let out = self
            .client
            .exec("iptables", &["-L", "FORWARD", "-v", "-n", "-x"])?;
        Ok(out
            .lines()
            .filter(|l| l.contains("DROP") && l.contains("statistic"))
            .filter_map(|l| l.split_whitespace().next()?.parse::<u64>().ok())
            .sum())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn netstat_groups_and_counters() {
        let text = "TcpExt: SyncookiesSent EmbryonicRsts\nTcpExt: 0 3\n\
                    MPTcpExt: MPCapableSYNRX MPJoinAckRx\nMPTcpExt: 1 2\n";
        let groups = parse_netstat(text);
        assert_eq!(groups["TcpExt"]["EmbryonicRsts"], 3);
        assert_eq!(groups["MPTcpExt"]["MPCapableSYNRX"], 1);
        assert_eq!(groups["MPTcpExt"]["MPJoinAckRx"], 2);
    }

    #[test]
    fn endpoint_ids_by_address() {
        let shown = "10.0.2.2 id 1 signal dev s2 \nfd00:2::2 id 2 subflow \n";
        assert_eq!(endpoint_id(shown, "10.0.2.2".parse().unwrap()), Some(1));
        assert_eq!(endpoint_id(shown, "fd00:2::2".parse().unwrap()), Some(2));
        assert_eq!(endpoint_id(shown, "10.0.1.2".parse().unwrap()), None);
    }

    #[test]
    fn net_dev_bytes_and_packets() {
        let text = "Inter-|   Receive                            |  Transmit\n \
                    face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n    \
                    lo:       0       0    0    0    0     0          0         0        0       0    0    0    0     0       0          0\n    \
                    c1: 1000 10 0 0 0 0 0 0 2000 20 0 0 0 0 0 0\n";
        let links = parse_net_dev(text);
        assert_eq!(
            links["c1"],
            LinkStats {
                rx_bytes: 1000,
                rx_packets: 10,
                tx_bytes: 2000,
                tx_packets: 20
            }
        );
        assert_eq!(links["lo"], LinkStats::default());
    }
}

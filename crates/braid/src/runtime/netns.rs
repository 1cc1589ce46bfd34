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

use std::fs::File;
use std::io;
use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread::JoinHandle;

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
}

/// DESIGN.md's interop layout: a client namespace where braid runs (forwarding on,
/// rp_filter off, one policy-routing table per braid address) and a server namespace
/// for the Linux peer, joined by one veth pair per path.
///
/// ```text
/// client ns: braid's TUN (created by the caller; braid owns 10.1.N.1)
///            cN 10.0.N.1/24 ----veth---- sN 10.0.N.2/24   server ns
///            ip rule add from 10.1.N.1 table N; default via 10.0.N.2 table N
/// server ns: ip route add 10.1.N.0/24 via 10.0.N.1
/// ```
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
        // created later inherits `default`.
        client.sysctl("net.ipv4.ip_forward", "1")?;
        client.sysctl("net.ipv4.conf.all.rp_filter", "0")?;
        client.sysctl("net.ipv4.conf.default.rp_filter", "0")?;
        let mut all = Vec::new();
        for n in 1..=paths {
            let path = Path {
                client_dev: format!("c{n}"),
                server_dev: format!("s{n}"),
                client_ip: Ipv4Addr::new(10, 0, n, 1),
                server_ip: Ipv4Addr::new(10, 0, n, 2),
                braid_ip: Ipv4Addr::new(10, 1, n, 1),
            };
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
            let table = n.to_string();
            client.ip(&[
                "addr",
                "add",
                &format!("{}/24", path.client_ip),
                "dev",
                &path.client_dev,
            ])?;
            server.ip(&[
                "addr",
                "add",
                &format!("{}/24", path.server_ip),
                "dev",
                &path.server_dev,
            ])?;
            client.ip(&["link", "set", &path.client_dev, "up"])?;
            server.ip(&["link", "set", &path.server_dev, "up"])?;
            client.ip(&[
                "rule",
                "add",
                "from",
                &path.braid_ip.to_string(),
                "table",
                &table,
            ])?;
            client.ip(&[
                "route",
                "add",
                "default",
                "via",
                &path.server_ip.to_string(),
                "table",
                &table,
            ])?;
            server.ip(&[
                "route",
                "add",
                &format!("10.1.{n}.0/24"),
                "via",
                &path.client_ip.to_string(),
            ])?;
            all.push(path);
        }
        Ok(Topology {
            paths: all,
            client,
            server,
        })
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

//! Creating the TUN device and pointing braid's addresses into it.
//!
//! Configuration goes through the `ip` command of iproute2 rather than rtnetlink: it
//! runs a handful of times per stack, its error messages are the ones a person sees
//! when they type the same command, and every step can be replayed by hand. Interface
//! watching, which needs a live netlink socket, will bring rtnetlink with it.
//!
//! Nothing done here outlives the stack: the TUN device is not persistent, so the
//! kernel deletes it, and the host routes through it, when the stack closes it.

use std::io;
use std::net::IpAddr;
use std::process::Command;

use super::error::Error;

/// What the stack learns about its network namespace when it starts.
#[derive(Debug, Clone, Default)]
pub(crate) struct NamespaceFacts {
    pub forwarding_v4: bool,
    pub forwarding_v6: bool,
    /// Addresses the kernel itself holds in this namespace: it answers those without
    /// forwarding.
    pub kernel_addrs: Vec<IpAddr>,
}

impl NamespaceFacts {
    /// Whether packets to `remote` need the kernel to forward them, and forwarding is
    /// off: the sysctl to set, if so.
    pub fn forwarding_missing(&self, remote: IpAddr) -> Option<&'static str> {
        if self.kernel_addrs.contains(&remote) || remote.is_loopback() {
            return None;
        }
        match remote {
            IpAddr::V4(_) if !self.forwarding_v4 => Some("net.ipv4.ip_forward"),
            IpAddr::V6(_) if !self.forwarding_v6 => Some("net.ipv6.conf.all.forwarding"),
            _ => None,
        }
    }
}

/// Runs `ip ARGS`, returning its standard output.
pub(crate) fn ip(args: &[&str]) -> Result<String, Error> {
    let out = Command::new("ip").args(args).output().map_err(|e| {
        if e.kind() == io::ErrorKind::NotFound {
            Error::IpMissing
        } else {
            Error::Io(e)
        }
    })?;
    if !out.status.success() {
        return Err(Error::IpCommand {
            args: args.join(" "),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn read_flag(path: &str) -> bool {
    std::fs::read_to_string(path).is_ok_and(|s| s.trim() != "0")
}

/// Reads forwarding sysctls and the kernel's own addresses, in the namespace of the
/// calling thread.
pub(crate) fn namespace_facts() -> Result<NamespaceFacts, Error> {
    let mut kernel_addrs = Vec::new();
    // `ip -o addr show`: "2: c1    inet 10.0.1.1/24 brd ... scope global c1\ ...".
    for line in ip(&["-o", "addr", "show"])?.lines() {
        let mut words = line.split_whitespace();
        while let Some(w) = words.next() {
            if w == "inet" || w == "inet6" {
                if let Some(addr) = words.next().and_then(|a| a.split('/').next()) {
                    if let Ok(addr) = addr.parse() {
                        kernel_addrs.push(addr);
                    }
                }
            }
        }
    }
    Ok(NamespaceFacts {
        forwarding_v4: read_flag("/proc/sys/net/ipv4/ip_forward"),
        forwarding_v6: read_flag("/proc/sys/net/ipv6/conf/all/forwarding"),
        kernel_addrs,
    })
}

/// Creates the TUN device `name` (up, no address of its own) in the calling thread's
/// network namespace. With `offload`, the device exchanges TCP segments larger than its
/// MTU with the kernel (virtio-net header, TSO/GSO); a kernel without it gets a plain
/// device. Returns whether offload is on.
pub(crate) fn create_tun(
    name: &str,
    mtu: u16,
    tx_queue_len: u32,
    offload: bool,
) -> Result<(tun_rs::AsyncDevice, bool), Error> {
    let build = |offload: bool| {
        tun_rs::DeviceBuilder::new()
            .name(name)
            .mtu(mtu)
            .tx_queue_len(tx_queue_len)
            .with(|b| {
                b.offload(offload);
            })
            .build_async()
    };
    if offload {
        match build(true) {
            Ok(device) => return Ok((device, true)),
            // Only an offload the kernel refuses is worth a second try.
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                tracing::debug!(tun = name, "TUN offload unavailable ({e}); without it");
            }
            Err(e) => return Err(tun_error(name, e)),
        }
    }
    let device = build(false).map_err(|source| tun_error(name, source))?;
    Ok((device, false))
}

fn tun_error(name: &str, source: io::Error) -> Error {
    match source.raw_os_error() {
        Some(libc::EPERM) | Some(libc::EACCES) => Error::PermissionDenied {
            name: name.to_string(),
            source,
        },
        Some(libc::ENOENT) | Some(libc::ENODEV) | Some(libc::ENXIO) => Error::NoTunDevice,
        Some(libc::EBUSY) => Error::TunBusy {
            name: name.to_string(),
        },
        Some(libc::EINVAL) => Error::Tun {
            name: name.to_string(),
            source: io::Error::new(
                source.kind(),
                format!(
                    "{source} (is there already an interface called {name} that is not a \
                     TUN device, or is the name invalid?)"
                ),
            ),
        },
        _ => Error::Tun {
            name: name.to_string(),
            source,
        },
    }
}

/// Checks that nothing in this namespace holds `addr` yet.
pub(crate) fn check_address_free(addr: IpAddr, facts: &NamespaceFacts) -> Result<(), Error> {
    if facts.kernel_addrs.contains(&addr) {
        return Err(Error::AddressTaken {
            addr,
            detail: format!(
                "an interface of this namespace has it (`ip addr show to {addr}`); braid's \
                 addresses must belong to no interface, or the kernel answers for them"
            ),
        });
    }
    Ok(())
}

/// Adds the host route that sends packets for `addr` into the TUN device `dev`.
pub(crate) fn add_host_route(addr: IpAddr, dev: &str) -> Result<(), Error> {
    let (family, prefix) = match addr {
        IpAddr::V4(_) => ("-4", format!("{addr}/32")),
        IpAddr::V6(_) => ("-6", format!("{addr}/128")),
    };
    match ip(&[family, "route", "add", &prefix, "dev", dev]) {
        Ok(_) => Ok(()),
        Err(Error::IpCommand { stderr, .. }) if stderr.contains("File exists") => {
            let existing = ip(&[family, "route", "show", &prefix])
                .map(|s| s.trim().to_string())
                .unwrap_or_default();
            Err(Error::AddressTaken {
                addr,
                detail: format!(
                    "a route for it exists already (`{existing}`), perhaps another braid stack"
                ),
            })
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(v4: bool, v6: bool) -> NamespaceFacts {
        NamespaceFacts {
            forwarding_v4: v4,
            forwarding_v6: v6,
            kernel_addrs: vec!["10.0.1.1".parse().unwrap()],
        }
    }

    #[test]
    fn forwarding_matters_only_for_addresses_the_kernel_does_not_hold() {
        let off = facts(false, false);
        assert_eq!(
            off.forwarding_missing("10.0.1.2".parse().unwrap()),
            Some("net.ipv4.ip_forward")
        );
        assert_eq!(
            off.forwarding_missing("2001:db8::1".parse().unwrap()),
            Some("net.ipv6.conf.all.forwarding")
        );
        assert_eq!(off.forwarding_missing("10.0.1.1".parse().unwrap()), None);
        assert_eq!(off.forwarding_missing("127.0.0.1".parse().unwrap()), None);
        assert_eq!(
            facts(true, true).forwarding_missing("10.0.1.2".parse().unwrap()),
            None
        );
    }

    #[test]
    fn an_address_of_an_interface_is_taken() {
        let err = check_address_free("10.0.1.1".parse().unwrap(), &facts(true, true))
            .unwrap_err()
            .to_string();
        assert!(err.contains("10.0.1.1 is already taken"), "{err}");
        assert!(check_address_free("10.1.1.1".parse().unwrap(), &facts(true, true)).is_ok());
    }

    #[test]
    fn tun_errors_say_what_to_do() {
        let perm = tun_error("braid0", io::Error::from_raw_os_error(libc::EPERM)).to_string();
        assert!(perm.contains("needs root or CAP_NET_ADMIN"), "{perm}");
        let busy = tun_error("braid0", io::Error::from_raw_os_error(libc::EBUSY)).to_string();
        assert!(busy.contains("braid0 is already in use"), "{busy}");
        let missing = tun_error("braid0", io::Error::from_raw_os_error(libc::ENOENT)).to_string();
        assert!(missing.contains("modprobe tun"), "{missing}");
    }
}

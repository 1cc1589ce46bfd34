//! The options `connect` and `listen` share: braid's addresses, and how MPTCP uses
//! them (`--local`, `--endpoint`, `--tcp`, `--checksums`).

use std::net::IpAddr;

use anyhow::{bail, Context, Result};
use braid::runtime::StackConfig;
use braid_proto::pm::{EndpointFlags, PmEndpoint};

#[derive(Debug, Clone, clap::Args)]
pub struct PathArgs {
    /// braid's own address (not an address of any interface). Repeat it for more
    /// paths: the first carries the connection's first subflow; a client opens one
    /// more subflow from each of the others, a server announces them (ADD_ADDR).
    #[arg(long = "local", required = true, value_name = "ADDR")]
    pub locals: Vec<IpAddr>,
    /// Plain TCP: no MPTCP.
    #[arg(long)]
    pub tcp: bool,
    /// An MPTCP endpoint, as `ip mptcp endpoint add` takes it:
    /// `ADDR,signal|subflow|backup|fullmesh[,port=N][,id=N]` (flags joined with ',').
    /// braid owns ADDR too. Repeatable.
    #[arg(long = "endpoint", value_name = "ADDR,FLAGS")]
    pub endpoints: Vec<String>,
    /// Ask for DSS checksums (RFC 8684 §3.3.1), like net.mptcp.checksum_enabled=1.
    #[arg(long)]
    pub checksums: bool,
}

impl PathArgs {
    /// The first --local: the connection's own address.
    pub fn primary(&self) -> IpAddr {
        self.locals[0]
    }

    /// Every address braid owns on its TUN device.
    pub fn addresses(&self) -> Result<Vec<IpAddr>> {
        let mut addrs = self.locals.clone();
        for e in self.parsed_endpoints()? {
            if !addrs.contains(&e.addr) {
                addrs.push(e.addr);
            }
        }
        Ok(addrs)
    }

    fn parsed_endpoints(&self) -> Result<Vec<PmEndpoint>> {
        self.endpoints
            .iter()
            .map(|s| {
                s.parse::<PmEndpoint>()
                    .with_context(|| format!("--endpoint {s}"))
            })
            .collect()
    }

    /// The stack's settings: MPTCP on unless --tcp, with a path manager endpoint per
    /// extra --local (`subflow` for a client, `signal` for a server) and per
    /// --endpoint.
    pub fn stack_config(&self, client: bool) -> Result<StackConfig> {
        let mut config = StackConfig::default();
        let mptcp = &mut config.endpoint.mptcp;
        if self.tcp {
            if !self.endpoints.is_empty() || self.checksums {
                bail!("--tcp turns MPTCP off: drop --endpoint and --checksums, or drop --tcp");
            }
            if self.locals.len() > 1 {
                bail!("--tcp uses one path: give --local once, or drop --tcp");
            }
            mptcp.enabled = false;
            return Ok(config);
        }
        mptcp.checksums = self.checksums;
        let mut endpoints = self.parsed_endpoints()?;
        for &addr in &self.locals[1..] {
            if endpoints.iter().any(|e| e.addr == addr) {
                continue;
            }
            endpoints.push(PmEndpoint {
                id: 0,
                addr,
                port: None,
                flags: EndpointFlags {
                    signal: !client,
                    subflow: client,
                    backup: false,
                    fullmesh: false,
                },
            });
        }
        let pm = &mut mptcp.path_manager;
        let wanted = endpoints.iter().filter(|e| e.flags.subflow).count() as u8;
        pm.limits.subflows = pm.limits.subflows.max(wanted);
        pm.endpoints = endpoints;
        pm.assign_ids();
        pm.validate().context("the MPTCP endpoints")?;
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(locals: &[&str], endpoints: &[&str], tcp: bool) -> PathArgs {
        PathArgs {
            locals: locals.iter().map(|a| a.parse().unwrap()).collect(),
            tcp,
            endpoints: endpoints.iter().map(|e| e.to_string()).collect(),
            checksums: false,
        }
    }

    #[test]
    fn extra_locals_become_subflow_endpoints_for_a_client_and_signal_for_a_server() {
        let a = args(&["10.1.1.1", "10.1.2.1", "10.1.3.1"], &[], false);
        let client = a.stack_config(true).unwrap().endpoint.mptcp.path_manager;
        assert_eq!(client.endpoints.len(), 2);
        assert!(client
            .endpoints
            .iter()
            .all(|e| e.flags.subflow && !e.flags.signal));
        assert_eq!(client.limits.subflows, 2);
        let server = a.stack_config(false).unwrap().endpoint.mptcp.path_manager;
        assert!(server
            .endpoints
            .iter()
            .all(|e| e.flags.signal && !e.flags.subflow));
    }

    #[test]
    fn endpoints_mirror_ip_mptcp_and_their_addresses_are_owned() {
        let a = args(&["10.1.1.1"], &["10.1.2.1,subflow,backup"], false);
        let pm = a.stack_config(true).unwrap().endpoint.mptcp.path_manager;
        assert!(pm.endpoints[0].flags.backup);
        assert_eq!(a.addresses().unwrap().len(), 2);
        let bad = args(&["10.1.1.1"], &["10.1.2.1,sideways"], false);
        let e = format!("{:#}", bad.stack_config(true).unwrap_err());
        assert!(e.contains("--endpoint 10.1.2.1,sideways"), "{e}");
    }

    #[test]
    fn tcp_is_plain_and_refuses_mptcp_options() {
        let a = args(&["10.1.1.1"], &[], true);
        assert!(!a.stack_config(true).unwrap().endpoint.mptcp.enabled);
        let e = args(&["10.1.1.1"], &["10.1.2.1,subflow"], true)
            .stack_config(true)
            .unwrap_err();
        assert!(e.to_string().contains("drop --tcp"), "{e}");
    }
}

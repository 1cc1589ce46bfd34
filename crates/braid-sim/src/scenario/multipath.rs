//! A ready-made network: a multihomed client with a path per interface, to a server
//! behind a router (perhaps a bottleneck shared with other hosts) or linked straight
//! to it.

use std::net::{IpAddr, Ipv4Addr};

use braid_proto::pm::{EndpointFlags, PmEndpoint};

use super::spec::{Host, Link, Router, Routing, ScenarioSpec};

/// The router's name, where paths meet.
pub const ROUTER: &str = "r1";
/// The server's name.
pub const SERVER: &str = "server";

/// A multihomed client with one interface per path: `Multipath { client, paths,
/// to_server }` added to a scenario by [`Multipath::add_to`].
///
/// Path `i` (from 0) is the client's interface named after it, with address
/// [`Multipath::client_address`]`(i)` (`10.0.{i+1}.1`), and the link from it. The
/// client routes by source address, so that a subflow keeps to the path of its
/// address, with a default route over the first path. `client` gives its name and
/// settings (its interfaces, routes and endpoints are added); hosts are added in the
/// order client, [`Competitor`]s, server, and links in the order of the paths, then
/// the competitors' access links, then the router's link to the server.
#[derive(Debug, Clone, PartialEq)]
pub struct Multipath {
    pub client: Host,
    pub paths: Vec<Path>,
    pub to_server: ToServer,
}

/// One path of a [`Multipath`] network.
#[derive(Debug, Clone, PartialEq)]
pub struct Path {
    /// The name of the client's interface, of the interface at the other end, and of
    /// the link unless `link` has a name.
    pub name: String,
    /// The link's parameters, schedule and middleboxes; its ends are set when the
    /// network is added.
    pub link: Link,
    /// The flags of the client's path manager endpoint on this path's address, if
    /// it has one (`ip mptcp endpoint add ADDR subflow`, say).
    pub endpoint: Option<EndpointFlags>,
}

impl Path {
    /// A path named `name` over a link with `link`'s parameters, and no endpoint.
    pub fn new(name: impl Into<String>, link: Link) -> Self {
        Path {
            name: name.into(),
            link,
            endpoint: None,
        }
    }

    /// Gives the client an endpoint with `flags` on this path's address.
    pub fn endpoint(mut self, flags: EndpointFlags) -> Self {
        self.endpoint = Some(flags);
        self
    }
}

/// Where the paths of a [`Multipath`] network lead.
#[derive(Debug, Clone, PartialEq)]
// Made once per scenario: boxing the link would only make it harder to write.
#[allow(clippy::large_enum_variant)]
pub enum ToServer {
    /// Every path's link ends at router [`ROUTER`], on an interface named after the
    /// path. From the router's interface `wan`, link `wan` (with that link's
    /// parameters; named `wan` unless it has a name) leads to host [`SERVER`], whose
    /// one address is `address`. The competitors reach the server through the router
    /// too, sharing that link.
    Router {
        address: Ipv4Addr,
        wan: Link,
        competitors: Vec<Competitor>,
    },
    /// Every path's link ends at host [`SERVER`], on an interface named after the
    /// path with address [`Multipath::direct_server_address`]`(i)` (`10.0.{i+1}.2`).
    /// The server routes by destination, with a route to each of the client's
    /// addresses over its path, so that answers go back the way they came.
    Direct,
}

impl ToServer {
    /// The server's address in [`ToServer::router`].
    pub const ADDRESS: Ipv4Addr = Ipv4Addr::new(10, 0, 9, 2);

    /// Through the router to a server at [`ToServer::ADDRESS`], over an unlimited
    /// link with no delay (the paths are the access links), shared with nobody.
    pub fn router() -> Self {
        ToServer::Router {
            address: ToServer::ADDRESS,
            wan: Link::default(),
            competitors: Vec::new(),
        }
    }
}

/// A single-path host that reaches the server through the router of a [`Multipath`]
/// network, over an access link of its own to the router's interface named after it.
#[derive(Debug, Clone, PartialEq)]
pub struct Competitor {
    /// Its name and settings; the network gives it `address` (interface eth0).
    pub host: Host,
    pub address: Ipv4Addr,
    /// The access link's parameters and name (its ends are set).
    pub access: Link,
}

impl Multipath {
    /// The server's address in [`Multipath::shared_bottleneck`].
    pub const BOTTLENECK_SERVER: Ipv4Addr = Ipv4Addr::new(10, 0, 200, 2);

    /// The competitor's address in [`Multipath::shared_bottleneck`].
    pub const COMPETITOR: Ipv4Addr = Ipv4Addr::new(10, 0, 100, 1);

    /// The client's address on path `path` (from 0, below 255): `10.0.{path+1}.1`.
    pub const fn client_address(path: usize) -> Ipv4Addr {
        Ipv4Addr::new(10, 0, path_octet(path), 1)
    }

    /// The server's address on path `path` of a [`ToServer::Direct`] network:
    /// `10.0.{path+1}.2`.
    pub const fn direct_server_address(path: usize) -> Ipv4Addr {
        Ipv4Addr::new(10, 0, path_octet(path), 2)
    }

    /// A shared bottleneck: `client`'s `paths` paths (fewer than 99: interfaces `p1`,
    /// `p2`, ..., links `path1`, `path2`, ...) and a single-path host's
    /// (`competitor`, at [`Multipath::COMPETITOR`]; link `access`) each have a link
    /// with `access`'s parameters to the router, whose link to the server (at
    /// [`Multipath::BOTTLENECK_SERVER`]; named `bottleneck` unless it has a name) they
    /// share. The client opens a subflow from each address but the first once
    /// connected.
    pub fn shared_bottleneck(
        client: Host,
        paths: usize,
        access: Link,
        bottleneck: Link,
        competitor: Host,
    ) -> Multipath {
        let subflow = EndpointFlags {
            subflow: true,
            ..EndpointFlags::default()
        };
        let paths = (1..=paths)
            .map(|i| {
                let path = Path::new(format!("p{i}"), access.clone().name(format!("path{i}")));
                if i > 1 {
                    path.endpoint(subflow)
                } else {
                    path
                }
            })
            .collect();
        let mut bottleneck = bottleneck;
        bottleneck
            .name
            .get_or_insert_with(|| "bottleneck".to_string());
        Multipath {
            client,
            paths,
            to_server: ToServer::Router {
                address: Multipath::BOTTLENECK_SERVER,
                wan: bottleneck,
                competitors: vec![Competitor {
                    host: competitor,
                    address: Multipath::COMPETITOR,
                    access: access.name("access"),
                }],
            },
        }
    }

    /// `spec` with the network's hosts, router and links added after its own.
    pub fn add_to(self, mut spec: ScenarioSpec) -> ScenarioSpec {
        let Multipath {
            client,
            paths,
            to_server,
        } = self;
        let mut client = client.routing(Routing::Source);
        if let Some(first) = paths.first() {
            client = client.route("default", first.name.as_str());
        }
        let mut mptcp = client.mptcp.take();
        for (i, path) in paths.iter().enumerate() {
            let addr = IpAddr::V4(Multipath::client_address(i));
            client = client.interface(&path.name, [addr]);
            if let Some(flags) = path.endpoint {
                let endpoint = PmEndpoint {
                    id: 0,
                    addr,
                    port: None,
                    flags,
                };
                mptcp = Some(mptcp.unwrap_or_default().endpoint(endpoint));
            }
        }
        client.mptcp = mptcp;
        let client_name = client.name.clone();
        spec = spec.host(client);
        let path_link = |path: Path, far: &str| {
            let mut link = Link {
                between: Some(vec![
                    format!("{client_name}:{}", path.name),
                    format!("{far}:{}", path.name),
                ]),
                ..path.link
            };
            link.name.get_or_insert(path.name);
            link
        };
        match to_server {
            ToServer::Router {
                address,
                wan,
                competitors,
            } => {
                let mut router = Router::new(
                    ROUTER,
                    paths
                        .iter()
                        .map(|p| p.name.as_str())
                        .chain(competitors.iter().map(|c| c.host.name.as_str()))
                        .chain(["wan"]),
                );
                for (i, path) in paths.iter().enumerate() {
                    router = router.route(subnet(Multipath::client_address(i)), path.name.as_str());
                }
                for c in &competitors {
                    router = router.route(subnet(c.address), c.host.name.as_str());
                }
                router = router.route("default", "wan");
                for c in &competitors {
                    spec = spec.host(c.host.clone().address(IpAddr::V4(c.address)));
                }
                spec = spec
                    .host(Host::new(SERVER).address(IpAddr::V4(address)))
                    .router(router);
                for path in paths {
                    spec = spec.link(path_link(path, ROUTER));
                }
                for c in competitors {
                    let name = c.host.name;
                    spec = spec.link(Link {
                        between: Some(vec![name.clone(), format!("{ROUTER}:{name}")]),
                        ..c.access
                    });
                }
                let mut wan = Link {
                    between: Some(vec![format!("{ROUTER}:wan"), SERVER.to_string()]),
                    ..wan
                };
                wan.name.get_or_insert_with(|| "wan".to_string());
                spec.link(wan)
            }
            ToServer::Direct => {
                let mut server = Host::new(SERVER).routing(Routing::Destination);
                for (i, path) in paths.iter().enumerate() {
                    server =
                        server.route(Multipath::client_address(i).to_string(), path.name.as_str());
                }
                for (i, path) in paths.iter().enumerate() {
                    let addr = IpAddr::V4(Multipath::direct_server_address(i));
                    server = server.interface(&path.name, [addr]);
                }
                spec = spec.host(server);
                for path in paths {
                    spec = spec.link(path_link(path, SERVER));
                }
                spec
            }
        }
    }
}

/// The third octet of path `path`'s addresses.
const fn path_octet(path: usize) -> u8 {
    assert!(path < 255, "a multipath network has at most 255 paths");
    path as u8 + 1
}

/// The /24 an address is in, as a route prefix.
fn subnet(address: Ipv4Addr) -> String {
    let [a, b, c, _] = address.octets();
    format!("{a}.{b}.{c}.0/24")
}

//! A scenario the crate's own tests share.

use std::net::IpAddr;

use braid_proto::time::Duration;

use super::spec::{App, Connection, Host, Link, ScenarioSpec, Tcp};
use super::units::{Rate, Size};

/// A minute of two request/response exchanges of `request` and `response` bytes from
/// host "client" at `client` to host "server" at `server`, over `link` between them
/// at 20 Mbit/s and 5 ms, in segments of 500 bytes so that there are many.
pub(crate) fn exchanges(
    client: IpAddr,
    server: IpAddr,
    link: Link,
    request: Size,
    response: Size,
) -> ScenarioSpec {
    let link = Link {
        between: Some(vec!["client".to_string(), "server".to_string()]),
        ..link.rate(Rate::mbit(20)).delay(Duration::from_millis(5))
    };
    let app = App::RequestResponse {
        request,
        response,
        count: Some(2),
    };
    ScenarioSpec::new("exchanges")
        .duration(Duration::from_secs(60))
        .tcp(Tcp::default().mss(500))
        .host(Host::new("client").address(client))
        .host(Host::new("server").address(server))
        .link(link)
        .connection(Connection::new("client", "server", app))
}

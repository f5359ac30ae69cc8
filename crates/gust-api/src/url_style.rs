//! Which function URL gust hands out (`gust serve --url-style`).
//!
//! Lambda's shape, `http://ID.lambda-url.REGION.localhost:PORT/`, works only where
//! the machine's resolver sends every `*.localhost` name to loopback: curl and
//! browsers do so themselves, but programs using glibc's resolver without such a
//! rule (Python's urllib and requests on Debian, for one) fail with "Name or service
//! not known". The path-based form, `http://127.0.0.1:PORT/gust/v1/urls/ID/`, works
//! for every client. `auto` asks the system resolver, once at start, whether a
//! `*.lambda-url.REGION.localhost` name reaches gust, and hands out the host-based
//! form only if it does. gust serves both forms whichever it hands out.

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::time::Duration;

use gust_platform::UrlStyle;

use crate::config::UrlStyleChoice;

/// How long the start-up check waits for the resolver (a resolver that asks DNS
/// about `.localhost` may take long to say no).
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

/// The form to hand out for a server reachable at `reachable` (never `0.0.0.0`)
/// and listening on `listen`.
pub async fn resolve(
    choice: UrlStyleChoice,
    listen: SocketAddr,
    reachable: SocketAddr,
    region: &str,
) -> UrlStyle {
    let host = UrlStyle::Host {
        port: reachable.port(),
    };
    let path = UrlStyle::Path {
        base: format!("http://{reachable}"),
    };
    match choice {
        UrlStyleChoice::Host => host,
        UrlStyleChoice::Path => path,
        UrlStyleChoice::Auto => {
            let name = format!("gust-probe.lambda-url.{region}.localhost");
            let probe = name.clone();
            let resolved = tokio::time::timeout(
                PROBE_TIMEOUT,
                tokio::task::spawn_blocking(move || {
                    (probe.as_str(), 0)
                        .to_socket_addrs()
                        .map(|a| a.map(|a| a.ip()).collect::<Vec<_>>())
                }),
            )
            .await;
            let ips = match resolved {
                Ok(Ok(Ok(ips))) => ips,
                Ok(Ok(Err(e))) => {
                    tracing::info!(
                        %name, error = %e,
                        "*.localhost does not resolve here: function URLs are path-based \
                         (--url-style host to force the host-based form)"
                    );
                    return path;
                }
                _ => {
                    tracing::info!(%name, "resolving *.localhost timed out: function URLs are path-based");
                    return path;
                }
            };
            if reaches(listen.ip(), &ips) {
                tracing::info!(%name, "*.localhost resolves to loopback: function URLs are host-based");
                host
            } else {
                tracing::info!(
                    %name, resolved = ?ips,
                    "*.localhost does not resolve to an address gust listens on: function URLs \
                     are path-based"
                );
                path
            }
        }
    }
}

/// Whether a name resolving to `ips` reaches a server listening on `listen`: every
/// address is loopback (as RFC 6761 asks of `.localhost`) and one is accepted.
fn reaches(listen: IpAddr, ips: &[IpAddr]) -> bool {
    let accepts = |ip: &IpAddr| match listen {
        IpAddr::V4(l) if l.is_unspecified() => ip.is_ipv4(),
        IpAddr::V6(l) if l.is_unspecified() => true,
        l => *ip == l,
    };
    !ips.is_empty() && ips.iter().all(IpAddr::is_loopback) && ips.iter().any(accepts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn a_name_reaches_gust_only_through_an_address_it_listens_on() {
        let v4 = ip("127.0.0.1");
        let v6 = ip("::1");
        assert!(reaches(v4, &[v4]));
        assert!(reaches(v4, &[v6, v4]));
        assert!(!reaches(v4, &[v6]));
        assert!(!reaches(v4, &[]));
        assert!(reaches(ip("0.0.0.0"), &[v4]));
        assert!(reaches(ip("::"), &[v6]));
        // A wildcard DNS record answering for *.localhost is not loopback.
        assert!(!reaches(ip("0.0.0.0"), &[ip("192.0.2.7"), v4]));
    }

    #[tokio::test]
    async fn forced_styles_are_kept() {
        let addr: SocketAddr = "127.0.0.1:9000".parse().unwrap();
        assert_eq!(
            resolve(UrlStyleChoice::Path, addr, addr, "us-east-1").await,
            UrlStyle::Path {
                base: "http://127.0.0.1:9000".into()
            }
        );
        assert_eq!(
            resolve(UrlStyleChoice::Host, addr, addr, "us-east-1").await,
            UrlStyle::Host { port: 9000 }
        );
    }
}

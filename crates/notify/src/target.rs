//! Where a webhook may point. A tenant admin types the URL, and the server makes the
//! request: without these checks an admin could make scimgate call the cloud's metadata
//! service (`169.254.169.254`), a database port on the host, or anything else on the
//! internal network. So:
//! - at subscription time: a well-formed `http(s)` URL with a host, no `user:password@`
//!   (it would be listed back, and logged by proxies), and no private, loopback or
//!   link-local address (or `localhost`) unless the server allows private targets;
//! - at send time: an IP address in the URL is checked again, and a host name is
//!   resolved by [`GuardedResolver`], which drops every forbidden address, so a name that
//!   later resolves inside the network (DNS rebinding) reaches nothing.

use crate::{NotifyError, Result};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::Url;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Whether webhooks may reach private, loopback and link-local addresses: off in
/// production; on for a deployment whose receivers are on its own network, and in tests
/// (whose receivers listen on 127.0.0.1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TargetPolicy {
    pub allow_private: bool,
}

impl TargetPolicy {
    pub const PUBLIC_ONLY: TargetPolicy = TargetPolicy {
        allow_private: false,
    };
    pub const ALLOW_PRIVATE: TargetPolicy = TargetPolicy {
        allow_private: true,
    };

    fn permits(self, ip: IpAddr) -> bool {
        self.allow_private || is_public(ip)
    }
}

/// Checks a webhook URL as typed by an admin; the error says what is wrong with it.
pub fn check_webhook_url(target: &str, policy: TargetPolicy) -> Result<Url> {
    let invalid = |why: &str| NotifyError::Invalid(format!("{target:?} is not accepted: {why}"));
    if target.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid("a URL holds no spaces or control characters"));
    }
    let url = Url::parse(target).map_err(|e| invalid(&format!("not a valid URL ({e})")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid("a webhook URL starts with https:// or http://"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid(
            "credentials in the URL (user:password@) are not kept; the receiver checks the x-scimgate-signature header instead",
        ));
    }
    let host = url.host().ok_or_else(|| invalid("the URL names no host"))?;
    if !policy.allow_private {
        let private = match host {
            url::Host::Ipv4(ip) => !is_public(IpAddr::V4(ip)),
            url::Host::Ipv6(ip) => !is_public(IpAddr::V6(ip)),
            url::Host::Domain(name) => {
                let name = name.trim_end_matches('.').to_ascii_lowercase();
                name == "localhost" || name.ends_with(".localhost")
            }
        };
        if private {
            return Err(invalid(
                "it points to a private, loopback or link-local address; webhooks go to public addresses unless the server allows private targets (allow_private_webhooks)",
            ));
        }
    }
    Ok(url)
}

/// The send-time check of a URL's host when it is an IP address (a host name is checked
/// by [`GuardedResolver`] as it is resolved).
pub fn check_literal_host(url: &Url, policy: TargetPolicy) -> std::result::Result<(), String> {
    let ip = match url.host() {
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip),
        _ => return Ok(()),
    };
    if policy.permits(ip) {
        Ok(())
    } else {
        Err("the webhook's address is private, loopback or link-local".into())
    }
}

/// An HTTP client for requests an admin's URL points at (webhooks, CRM targets): no
/// redirects, no proxy from the environment (it would resolve names itself), and names
/// resolved by [`GuardedResolver`].
pub fn guarded_client(
    policy: TargetPolicy,
    timeout: std::time::Duration,
) -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .dns_resolver(std::sync::Arc::new(GuardedResolver { policy }))
        .build()
        .map_err(|e| NotifyError::Invalid(format!("HTTP client: {e}")))
}

/// Resolves webhook host names and keeps only the addresses the policy permits.
pub struct GuardedResolver {
    pub policy: TargetPolicy,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy;
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let found = tokio::net::lookup_host((host.as_str(), 0)).await?;
            let allowed: Vec<SocketAddr> = found.filter(|a| policy.permits(a.ip())).collect();
            if allowed.is_empty() {
                return Err(format!(
                    "{host} resolves to no address a webhook may reach (private, loopback and link-local are refused)"
                )
                .into());
            }
            let addrs: Addrs = Box::new(allowed.into_iter());
            Ok(addrs)
        })
    }
}

/// True for addresses on the public internet; false for loopback, private (RFC 1918,
/// unique local), link-local, shared (CGNAT), unspecified, broadcast, multicast,
/// documentation and reserved ranges, and for IPv6 forms that embed such an IPv4 address.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || (a == 192 && b == 88 && c == 99) // 6to4 relay anycast
        || a >= 240) // reserved
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_public_v4(v4);
    }
    let segments = ip.segments();
    let v4 = |hi: u16, lo: u16| Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo));
    // NAT64 (64:ff9b::/96) and 6to4 (2002::/16) reach the IPv4 address they embed.
    if segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return is_public_v4(v4(segments[6], segments[7]));
    }
    if segments[0] == 0x2002 {
        return is_public_v4(v4(segments[1], segments[2]));
    }
    !(ip.is_unspecified()
        || (segments[0] == 0x64 && segments[1] == 0xff9b && segments[2] == 1) // local NAT64 64:ff9b:1::/48
        || (segments[0] == 0x2001 && segments[1] == 0) // Teredo 2001::/32
        || segments[..4] == [0x100, 0, 0, 0] // discard 100::/64
        || segments[..6] == [0, 0, 0, 0, 0xffff, 0] // IPv4-translated ::ffff:0:0:0/96
        || ip.is_loopback()
        || ip.is_multicast()
        || (segments[0] & 0xfe00) == 0xfc00 // unique local fc00::/7
        || (segments[0] & 0xffc0) == 0xfe80 // link-local fe80::/10
        || (segments[0] & 0xffc0) == 0xfec0 // site-local (deprecated) fec0::/10
        || (segments[0] == 0x2001 && segments[1] == 0x0db8) // documentation
        || segments[..6] == [0, 0, 0, 0, 0, 0]) // IPv4-compatible (deprecated)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_and_special_addresses_are_not_public() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "255.255.255.255",
            "224.0.0.1",
            "::1",
            "::",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b:1::1",
            "2002:a9fe:a9fe::1",
            "2001:0:4136:e378::1",
            "100::1",
            "::ffff:0:a00:1",
            "192.88.99.1",
            "ff02::1",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip} counted as public");
        }
        for ip in [
            "8.8.8.8",
            "1.1.1.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
            "2002:808:808::1",
        ] {
            assert!(is_public(ip.parse().unwrap()), "{ip} counted as private");
        }
    }

    #[test]
    fn webhook_urls_are_checked_when_subscribed() {
        let strict = TargetPolicy::PUBLIC_ONLY;
        assert!(check_webhook_url("https://hooks.acme.no/scim", strict).is_ok());
        assert!(check_webhook_url("https://93.184.216.34:8443/x?t=1", strict).is_ok());
        for (bad, says) in [
            ("https://user:pw@hooks.acme.no/", "credentials"),
            ("https://token@hooks.acme.no/", "credentials"),
            ("http://[::1", "not a valid URL"),
            ("http://", "not a valid URL"),
            ("ftp://hooks.acme.no/", "https://"),
            ("hooks.acme.no", "not a valid URL"),
            ("https://a b", "spaces"),
            ("http://169.254.169.254/latest/meta-data/", "private"),
            ("http://127.0.0.1:8080/", "private"),
            ("http://[::1]:8080/", "private"),
            ("http://10.0.0.5/", "private"),
            ("http://localhost:9000/", "private"),
            ("http://api.localhost./", "private"),
            ("http://[::ffff:10.0.0.1]/", "private"),
        ] {
            let err = check_webhook_url(bad, strict).unwrap_err().to_string();
            assert!(err.contains(says), "{bad}: {err}");
        }
        let lenient = TargetPolicy::ALLOW_PRIVATE;
        assert!(check_webhook_url("http://127.0.0.1:8080/hook", lenient).is_ok());
        assert!(check_webhook_url("http://localhost:9000/", lenient).is_ok());
        // Allowing private targets does not allow credentials or broken URLs.
        assert!(check_webhook_url("https://u:p@127.0.0.1/", lenient).is_err());
        assert!(check_webhook_url("http://[::1", lenient).is_err());
    }

    #[test]
    fn literal_hosts_are_checked_again_when_sent() {
        let url = Url::parse("http://127.0.0.1:9/").unwrap();
        assert!(check_literal_host(&url, TargetPolicy::PUBLIC_ONLY).is_err());
        assert!(check_literal_host(&url, TargetPolicy::ALLOW_PRIVATE).is_ok());
        let named = Url::parse("https://hooks.acme.no/").unwrap();
        assert!(check_literal_host(&named, TargetPolicy::PUBLIC_ONLY).is_ok());
    }

    #[tokio::test]
    async fn the_resolver_drops_forbidden_addresses() {
        // "localhost" resolves from /etc/hosts, without any network.
        let strict = GuardedResolver {
            policy: TargetPolicy::PUBLIC_ONLY,
        };
        let name: Name = "localhost".parse().unwrap();
        assert!(strict.resolve(name).await.is_err());
        let lenient = GuardedResolver {
            policy: TargetPolicy::ALLOW_PRIVATE,
        };
        let name: Name = "localhost".parse().unwrap();
        let addrs: Vec<SocketAddr> = lenient.resolve(name).await.unwrap().collect();
        assert!(addrs.iter().all(|a| a.ip().is_loopback()), "{addrs:?}");
    }
}

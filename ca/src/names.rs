//! Names in certificates: DNS names, IP addresses, common names, and the tenant name policy.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use crate::error::{CaError, Result};

/// A syntactically valid DNS name (RFC 1123 host name, lowercase ASCII; IDNs as punycode).
///
/// A leftmost `*` label is accepted so that foreign certificates can be inspected; the
/// [`NamePolicy`] refuses wildcards when issuing.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DnsName(String);

impl DnsName {
    /// Validates and lowercases `name` (DNS is case-insensitive; one spelling keeps policy
    /// checks and de-duplication simple).
    pub fn new(name: &str) -> Result<Self> {
        let invalid = |reason: &str| CaError::NameInvalid {
            name: name.to_string(),
            reason: reason.to_string(),
        };
        let lower = name.to_ascii_lowercase();
        if lower.is_empty() || lower.len() > 253 {
            return Err(invalid("a DNS name has 1 to 253 characters"));
        }
        if lower.parse::<IpAddr>().is_ok() {
            return Err(invalid(
                "an IP address is not a DNS name; request it as an IP SAN",
            ));
        }
        for (i, label) in lower.split('.').enumerate() {
            if i == 0 && label == "*" {
                continue;
            }
            if label.is_empty() || label.len() > 63 {
                return Err(invalid("each label has 1 to 63 characters"));
            }
            if !label
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            {
                return Err(invalid("labels use letters, digits and '-' only"));
            }
            if label.starts_with('-') || label.ends_with('-') {
                return Err(invalid("labels do not start or end with '-'"));
            }
        }
        Ok(Self(lower))
    }

    /// The name, lowercase.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether the leftmost label is `*`.
    pub fn is_wildcard(&self) -> bool {
        self.0.starts_with("*.") || self.0 == "*"
    }

    /// Whether this name equals `domain` or lies below it.
    pub fn is_within(&self, domain: &DnsName) -> bool {
        self.0 == domain.0
            || (self.0.len() > domain.0.len()
                && self.0.ends_with(&domain.0)
                && self.0.as_bytes()[self.0.len() - domain.0.len() - 1] == b'.')
    }
}

impl fmt::Display for DnsName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for DnsName {
    type Err = CaError;
    fn from_str(s: &str) -> Result<Self> {
        Self::new(s)
    }
}

/// A subject alternative name this CA requests and issues.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SubjectAltName {
    /// `dNSName`.
    Dns(DnsName),
    /// `iPAddress`.
    Ip(IpAddr),
}

impl SubjectAltName {
    /// Parses `s` as an IP address if it is one, else as a DNS name (the `openssl -addext`
    /// convention without the `DNS:`/`IP:` prefix).
    pub fn parse(s: &str) -> Result<Self> {
        match s.parse::<IpAddr>() {
            Ok(ip) => Ok(SubjectAltName::Ip(ip)),
            Err(_) => Ok(SubjectAltName::Dns(DnsName::new(s)?)),
        }
    }
}

impl fmt::Display for SubjectAltName {
    /// `DNS:name` or `IP:addr`, as OpenSSL prints them.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SubjectAltName::Dns(d) => write!(f, "DNS:{d}"),
            SubjectAltName::Ip(ip) => write!(f, "IP:{ip}"),
        }
    }
}

/// An IP network in CIDR form (`10.0.0.0/8`, `::1/128`), for the IP part of a [`NamePolicy`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IpNetwork {
    address: IpAddr,
    prefix: u8,
}

impl IpNetwork {
    /// A network from its address and prefix length; host bits must be zero.
    pub fn new(address: IpAddr, prefix: u8) -> Result<Self> {
        let bits = match address {
            IpAddr::V4(_) => 32,
            IpAddr::V6(_) => 128,
        };
        let invalid = |reason: &str| CaError::NameInvalid {
            name: format!("{address}/{prefix}"),
            reason: reason.to_string(),
        };
        if prefix > bits {
            return Err(invalid("prefix longer than the address"));
        }
        if mask(address, prefix) != to_u128(address) {
            return Err(invalid("host bits are set"));
        }
        Ok(Self { address, prefix })
    }

    /// Whether `ip` lies in this network (an IPv4 address never matches an IPv6 network).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.address, ip) {
            (IpAddr::V4(_), IpAddr::V4(_)) | (IpAddr::V6(_), IpAddr::V6(_)) => {
                mask(ip, self.prefix) == to_u128(self.address)
            }
            _ => false,
        }
    }
}

fn to_u128(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

/// Keeps the first `prefix` bits of the address.
fn mask(ip: IpAddr, prefix: u8) -> u128 {
    let bits: u32 = match ip {
        IpAddr::V4(_) => 32,
        IpAddr::V6(_) => 128,
    };
    let host_bits = bits.saturating_sub(u32::from(prefix));
    let value = to_u128(ip);
    if host_bits >= 128 {
        0
    } else {
        value & !((1u128 << host_bits) - 1)
    }
}

impl fmt::Display for IpNetwork {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.address, self.prefix)
    }
}

impl FromStr for IpNetwork {
    type Err = CaError;
    /// `addr/prefix`, or a bare address meaning a single host.
    fn from_str(s: &str) -> Result<Self> {
        let invalid = || CaError::NameInvalid {
            name: s.to_string(),
            reason: "expected an IP network like 10.0.0.0/8".into(),
        };
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let address: IpAddr = addr.parse().map_err(|_| invalid())?;
        let prefix = match (prefix, address) {
            (Some(p), _) => p.parse().map_err(|_| invalid())?,
            (None, IpAddr::V4(_)) => 32,
            (None, IpAddr::V6(_)) => 128,
        };
        Self::new(address, prefix)
    }
}

/// What names a tenant may put in its certificates: DNS names at or below its domains, IP
/// addresses inside its networks. No wildcards are issued.
///
/// The common name is not checked: TLS clients verify SANs (RFC 6125), and node/user common
/// names are identifiers like `validator-0`, not host names.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NamePolicy {
    domains: Vec<DnsName>,
    networks: Vec<IpNetwork>,
}

impl NamePolicy {
    /// A policy allowing these DNS domains (and their subdomains) and no IP addresses.
    pub fn new(domains: impl IntoIterator<Item = DnsName>) -> Self {
        Self {
            domains: domains.into_iter().collect(),
            networks: Vec::new(),
        }
    }

    /// Parses the domains from strings, as the API stores them.
    pub fn from_domains<S: AsRef<str>>(domains: impl IntoIterator<Item = S>) -> Result<Self> {
        let domains = domains
            .into_iter()
            .map(|d| DnsName::new(d.as_ref()))
            .collect::<Result<Vec<_>>>()?;
        if let Some(w) = domains.iter().find(|d| d.is_wildcard()) {
            return Err(CaError::NameInvalid {
                name: w.to_string(),
                reason: "an allowed domain is a plain domain, not a wildcard".into(),
            });
        }
        Ok(Self::new(domains))
    }

    /// Also allows IP addresses inside `networks` (e.g. `127.0.0.0/8` for the local runtime).
    pub fn with_ip_networks(mut self, networks: impl IntoIterator<Item = IpNetwork>) -> Self {
        self.networks.extend(networks);
        self
    }

    /// The allowed DNS domains.
    pub fn domains(&self) -> &[DnsName] {
        &self.domains
    }

    /// The allowed IP networks.
    pub fn ip_networks(&self) -> &[IpNetwork] {
        &self.networks
    }

    /// Checks one name; `Err(NameNotAllowed)` names the offender and the reason.
    pub fn check(&self, name: &SubjectAltName) -> Result<()> {
        let refuse = |reason: String| CaError::NameNotAllowed {
            name: name.to_string(),
            reason,
        };
        match name {
            SubjectAltName::Dns(dns) if dns.is_wildcard() => {
                Err(refuse("wildcard names are not issued".into()))
            }
            SubjectAltName::Dns(dns) => {
                if self.domains.iter().any(|d| dns.is_within(d)) {
                    Ok(())
                } else {
                    Err(refuse(format!(
                        "outside the allowed domains [{}]",
                        join(&self.domains)
                    )))
                }
            }
            SubjectAltName::Ip(ip) => {
                if self.networks.iter().any(|n| n.contains(*ip)) {
                    Ok(())
                } else {
                    Err(refuse(format!(
                        "outside the allowed networks [{}]",
                        join(&self.networks)
                    )))
                }
            }
        }
    }

    /// Checks every name, failing on the first refused one.
    pub fn check_all(&self, names: &[SubjectAltName]) -> Result<()> {
        names.iter().try_for_each(|n| self.check(n))
    }
}

fn join<T: fmt::Display>(items: &[T]) -> String {
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The subject of a certificate this CA writes: `C=CN, O=organisation, CN=common_name`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SubjectName {
    pub(crate) organisation: String,
    pub(crate) unit: Option<String>,
    pub(crate) common_name: String,
}

impl SubjectName {
    /// Checks both parts before anything is signed.
    pub(crate) fn new(organisation: &str, common_name: &str) -> Result<Self> {
        check_directory_string("organisation", organisation)?;
        check_directory_string("common name", common_name)?;
        Ok(Self {
            organisation: organisation.to_string(),
            unit: None,
            common_name: common_name.to_string(),
        })
    }

    /// Adds an organisational unit (OU) between O and CN.
    pub(crate) fn with_unit(mut self, unit: Option<&str>) -> Self {
        self.unit = unit.map(str::to_string);
        self
    }
}

/// Upper bound of `ub-common-name` in RFC 5280.
const MAX_COMMON_NAME: usize = 64;

/// Checks a subject common name or organisation: 1..=64 characters, no control characters.
pub(crate) fn check_directory_string(what: &str, value: &str) -> Result<()> {
    let chars = value.chars().count();
    if chars == 0 || chars > MAX_COMMON_NAME {
        return Err(CaError::NameInvalid {
            name: value.to_string(),
            reason: format!("{what} must have 1 to {MAX_COMMON_NAME} characters"),
        });
    }
    if value.chars().any(char::is_control) {
        return Err(CaError::NameInvalid {
            name: value.to_string(),
            reason: format!("{what} must not contain control characters"),
        });
    }
    Ok(())
}

/// Sorts and removes duplicate names, so certificates list each name once in a stable order.
pub(crate) fn normalise(names: &[SubjectAltName]) -> Vec<SubjectAltName> {
    if names.windows(2).all(|w| w[0] < w[1]) {
        // Already normal (names from a VerifiedCsr always are).
        return names.to_vec();
    }
    let mut names = names.to_vec();
    names.sort();
    names.dedup();
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dns(s: &str) -> SubjectAltName {
        SubjectAltName::Dns(DnsName::new(s).unwrap())
    }

    #[test]
    fn dns_names_are_validated_and_lowercased() {
        assert_eq!(
            DnsName::new("Peer0.Org1.Example.COM").unwrap().as_str(),
            "peer0.org1.example.com"
        );
        for bad in [
            "",
            "a..b",
            "-a.b",
            "a-.b",
            "a_b.c",
            "a b",
            "1.2.3.4",
            "a.*.b",
            &"a".repeat(64),
        ] {
            let err = DnsName::new(bad).unwrap_err();
            assert_eq!(err.code(), "NAME_INVALID", "{bad:?}");
        }
        assert!(DnsName::new("*.example.com").unwrap().is_wildcard());
    }

    #[test]
    fn policy_allows_domain_and_subdomains_only() {
        let policy = NamePolicy::from_domains(["example.com"]).unwrap();
        policy.check(&dns("example.com")).unwrap();
        policy.check(&dns("peer0.org1.example.com")).unwrap();
        for bad in ["badexample.com", "example.com.evil.org", "com"] {
            assert_eq!(
                policy.check(&dns(bad)).unwrap_err().code(),
                "NAME_NOT_ALLOWED",
                "{bad}"
            );
        }
        assert_eq!(
            policy.check(&dns("*.example.com")).unwrap_err().code(),
            "NAME_NOT_ALLOWED"
        );
        let ip = SubjectAltName::parse("127.0.0.1").unwrap();
        assert_eq!(policy.check(&ip).unwrap_err().code(), "NAME_NOT_ALLOWED");
        let policy = policy.with_ip_networks(["127.0.0.0/8".parse().unwrap()]);
        policy.check(&ip).unwrap();
        let outside = SubjectAltName::parse("10.0.0.1").unwrap();
        assert_eq!(
            policy.check(&outside).unwrap_err().code(),
            "NAME_NOT_ALLOWED"
        );
    }

    #[test]
    fn ip_networks() {
        let v6: IpNetwork = "fd00::/8".parse().unwrap();
        assert!(v6.contains("fd12::1".parse().unwrap()));
        assert!(!v6.contains("fe80::1".parse().unwrap()));
        assert!(!v6.contains("10.0.0.1".parse().unwrap()));
        let any: IpNetwork = "0.0.0.0/0".parse().unwrap();
        assert!(any.contains("8.8.8.8".parse().unwrap()));
        let host: IpNetwork = "::1".parse().unwrap();
        assert!(host.contains("::1".parse().unwrap()));
        assert!("10.0.0.1/8".parse::<IpNetwork>().is_err());
        assert!("10.0.0.0/33".parse::<IpNetwork>().is_err());
    }
}

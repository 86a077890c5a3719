//! Issuance profiles: which key usages, extended key usages and names each kind of
//! certificate carries. Both suites build their extensions from these tables, so an ECDSA and
//! an SM2 certificate of the same profile say the same thing.

use std::fmt;
use std::str::FromStr;

use der::oid::ObjectIdentifier;

use crate::error::CaError;

/// What an end-entity certificate is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Profile {
    /// A node's TLS identity: serverAuth + clientAuth (nodes dial each other), DNS/IP SANs
    /// required.
    NodeTls,
    /// A node's signing identity (blocks, votes, notarization receipts): digitalSignature +
    /// nonRepudiation, no extended key usage, so it cannot be used for TLS.
    NodeSigning,
    /// A user or application client: clientAuth + digitalSignature (TLS client auth and
    /// transaction signing).
    User,
    /// A member organisation's admin: a user certificate whose subject also carries
    /// `OU=admin`, with nonRepudiation, for approvals that bind the organisation (validator-set
    /// changes on the chain). The chain counts an approval for the organisation whose CA issued
    /// the certificate, never for whatever `O` says.
    MemberAdmin,
}

impl Profile {
    /// Every profile, for listings and tests.
    pub const ALL: [Profile; 4] = [
        Profile::NodeTls,
        Profile::NodeSigning,
        Profile::User,
        Profile::MemberAdmin,
    ];

    /// The organisational unit written into the subject, if the profile has one.
    pub fn organisational_unit(self) -> Option<&'static str> {
        match self {
            Profile::MemberAdmin => Some("admin"),
            _ => None,
        }
    }

    /// Stable name used in the API and database.
    pub fn as_str(self) -> &'static str {
        match self {
            Profile::NodeTls => "node-tls",
            Profile::NodeSigning => "node-signing",
            Profile::User => "user",
            Profile::MemberAdmin => "member-admin",
        }
    }

    /// Whether certificates of this profile must carry at least one SAN.
    pub fn requires_names(self) -> bool {
        matches!(self, Profile::NodeTls)
    }

    /// Recognises a profile from a certificate's extensions (for renewal and listings).
    pub(crate) fn detect(usages: &[Usage], purposes: &[Purpose], is_ca: bool) -> Option<Profile> {
        if is_ca {
            return None;
        }
        Profile::ALL.into_iter().find(|p| {
            let kind = CertKind::Leaf(*p);
            same_set(kind.usages(), usages) && same_set(kind.purposes(), purposes)
        })
    }
}

fn same_set<T: PartialEq>(a: &[T], b: &[T]) -> bool {
    a.len() == b.len() && a.iter().all(|x| b.contains(x))
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Profile {
    type Err = CaError;
    fn from_str(s: &str) -> Result<Self, CaError> {
        Profile::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or(CaError::ProfileUnknown)
    }
}

/// The keyUsage bits this crate sets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Usage {
    DigitalSignature,
    NonRepudiation,
    KeyCertSign,
    CrlSign,
}

/// The extendedKeyUsage purposes this crate sets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Purpose {
    ServerAuth,
    ClientAuth,
}

pub(crate) const OID_SERVER_AUTH: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.1");
pub(crate) const OID_CLIENT_AUTH: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.2");

impl Purpose {
    pub(crate) fn oid(self) -> ObjectIdentifier {
        match self {
            Purpose::ServerAuth => OID_SERVER_AUTH,
            Purpose::ClientAuth => OID_CLIENT_AUTH,
        }
    }
}

/// What is being certified: a CA (with its path length) or a leaf of some profile.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CertKind {
    Ca { path_len: Option<u8> },
    Leaf(Profile),
}

impl CertKind {
    pub(crate) fn usages(self) -> &'static [Usage] {
        match self {
            CertKind::Ca { .. } => &[Usage::KeyCertSign, Usage::CrlSign],
            CertKind::Leaf(Profile::NodeTls) => &[Usage::DigitalSignature],
            CertKind::Leaf(Profile::NodeSigning) => {
                &[Usage::DigitalSignature, Usage::NonRepudiation]
            }
            CertKind::Leaf(Profile::User) => &[Usage::DigitalSignature],
            CertKind::Leaf(Profile::MemberAdmin) => {
                &[Usage::DigitalSignature, Usage::NonRepudiation]
            }
        }
    }

    pub(crate) fn purposes(self) -> &'static [Purpose] {
        match self {
            CertKind::Ca { .. } | CertKind::Leaf(Profile::NodeSigning) => &[],
            CertKind::Leaf(Profile::NodeTls) => &[Purpose::ServerAuth, Purpose::ClientAuth],
            CertKind::Leaf(Profile::User | Profile::MemberAdmin) => &[Purpose::ClientAuth],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_profiles_are_distinguishable() {
        for p in Profile::ALL {
            assert_eq!(p.as_str().parse::<Profile>().unwrap(), p);
            let kind = CertKind::Leaf(p);
            assert_eq!(
                Profile::detect(kind.usages(), kind.purposes(), false),
                Some(p)
            );
            assert_eq!(Profile::detect(kind.usages(), kind.purposes(), true), None);
        }
        assert_eq!(
            "admin".parse::<Profile>().unwrap_err().code(),
            "CERTIFICATE_PROFILE_UNKNOWN"
        );
    }
}

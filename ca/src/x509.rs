//! X.509 structure helpers shared by the SM2 builder and the parsers (CSR, certificate).

use std::net::IpAddr;

use der::asn1::{Any, ObjectIdentifier, OctetString, PrintableStringRef, Utf8StringRef};
use der::{Decode, Encode};
use x509_cert::attr::AttributeTypeAndValue;
use x509_cert::ext::Extension;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::name::{Name, RelativeDistinguishedName};

use crate::error::{Built, CaError, Result};
use crate::names::{DnsName, SubjectAltName, SubjectName};

pub(crate) const OID_COUNTRY: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.6");
pub(crate) const OID_ORGANISATION: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.10");
pub(crate) const OID_COMMON_NAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.3");
pub(crate) const OID_ORGANISATIONAL_UNIT: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("2.5.4.11");

/// Every subject this CA writes is in China.
pub(crate) const COUNTRY: &str = "CN";

/// An extension with explicit criticality (x509-cert's defaults differ from ours in places).
pub(crate) fn extension<T: Encode>(
    oid: ObjectIdentifier,
    critical: bool,
    value: &T,
) -> der::Result<Extension> {
    Ok(Extension {
        extn_id: oid,
        critical,
        extn_value: OctetString::new(value.to_der()?)?,
    })
}

/// DNS and IP names as GeneralNames.
pub(crate) fn general_names(names: &[SubjectAltName]) -> der::Result<Vec<GeneralName>> {
    names
        .iter()
        .map(|n| match n {
            SubjectAltName::Dns(d) => {
                Ok(GeneralName::DnsName(der::asn1::Ia5String::new(d.as_str())?))
            }
            SubjectAltName::Ip(ip) => Ok(GeneralName::from(*ip)),
        })
        .collect()
}

/// What to do with names this CA does not issue (e-mail, URI, malformed DNS names).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum OtherNames {
    /// Refuse: for requests, where silently dropping a requested name would surprise the
    /// requester.
    Refuse,
    /// Leave out: for inspecting certificates, which must not fail on a foreign one.
    Skip,
}

/// Reads DNS and IP names.
pub(crate) fn names_from_general(
    general: &[GeneralName],
    others: OtherNames,
) -> Result<Vec<SubjectAltName>> {
    let mut names = Vec::with_capacity(general.len());
    for g in general {
        let name = match g {
            GeneralName::DnsName(d) => DnsName::new(d.as_str()).map(SubjectAltName::Dns),
            GeneralName::IpAddress(octets) => {
                let bytes = octets.as_bytes();
                if let Ok(v4) = <[u8; 4]>::try_from(bytes) {
                    Ok(SubjectAltName::Ip(IpAddr::from(v4)))
                } else if let Ok(v6) = <[u8; 16]>::try_from(bytes) {
                    Ok(SubjectAltName::Ip(IpAddr::from(v6)))
                } else {
                    Err(CaError::NameInvalid {
                        name: format!("{}-byte IP address", bytes.len()),
                        reason: "an IP address has 4 or 16 bytes".into(),
                    })
                }
            }
            other => Err(CaError::NameNotAllowed {
                name: format!("{other:?}"),
                reason: "only DNS names and IP addresses are issued".into(),
            }),
        };
        match (name, others) {
            (Ok(n), _) => names.push(n),
            (Err(e), OtherNames::Refuse) => return Err(e),
            (Err(_), OtherNames::Skip) => {}
        }
    }
    Ok(names)
}

/// `C=CN, O=<organisation>[, OU=<unit>], CN=<common name>` (most significant first, as RFC
/// 5280 orders names). C is a PrintableString as RFC 5280 requires, the others UTF8String for
/// Chinese names.
pub(crate) fn x509_name(subject: &SubjectName) -> Result<Name> {
    let mut attributes = vec![
        (OID_COUNTRY, COUNTRY),
        (OID_ORGANISATION, subject.organisation.as_str()),
    ];
    if let Some(unit) = &subject.unit {
        attributes.push((OID_ORGANISATIONAL_UNIT, unit.as_str()));
    }
    attributes.push((OID_COMMON_NAME, subject.common_name.as_str()));
    name_from_attributes(&attributes)
}

/// A name from (type, value) pairs in order, one attribute per RDN.
pub(crate) fn name_from_attributes(attributes: &[(ObjectIdentifier, &str)]) -> Result<Name> {
    let rdns = attributes
        .iter()
        .map(|(oid, value)| {
            let value = if *oid == OID_COUNTRY {
                Any::encode_from(&PrintableStringRef::new(value).map_err(|_| {
                    CaError::NameInvalid {
                        name: (*value).to_string(),
                        reason: "country must be printable ASCII".into(),
                    }
                })?)
                .built()?
            } else {
                Any::encode_from(&Utf8StringRef::new(value).built()?).built()?
            };
            RelativeDistinguishedName::try_from(vec![AttributeTypeAndValue { oid: *oid, value }])
                .built()
        })
        .collect::<Result<Vec<_>>>()?;
    // Name's constructor is hazmat-gated; encoding the RDN sequence and decoding it as a Name
    // goes through the checked path.
    Name::from_der(&rdns.to_der().built()?).built()
}

/// The first value of attribute `oid` in `name`, as text (PrintableString, UTF8String, ...).
pub(crate) fn attribute(name: &Name, oid: ObjectIdentifier) -> Option<String> {
    name.iter().find(|atv| atv.oid == oid).and_then(|atv| {
        x509_cert::ext::pkix::name::DirectoryString::try_from(&atv.value)
            .ok()
            .map(String::from)
    })
}

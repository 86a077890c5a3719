//! The network's trust: every node trusts the CAs of every member, and knows which member
//! each CA speaks for.
//!
//! Each member's certificates come from its own tenant's CA (or the development CA). A node
//! checks client certificates, in transactions it validates for consensus, against what it
//! trusts, so all nodes of a network must trust the same CAs: a member publishes the CAs that
//! issued its certificates in `status.caBundle`, and each member's nodes trust
//!
//! - the union of its own and its peers' bundles ([`merge`], for `FileContent::CaBundle`);
//! - the same bundles kept apart by organisation ([`trust_roots`], for
//!   `FileContent::TrustRoots`): an engine then tells members apart by the CA that issued a
//!   certificate, which one member cannot forge for another, rather than by the certificate's
//!   subject, which any member's CA can write as it likes.
//!
//! This is PEM text handling only (split, de-duplicate, join); what a certificate says is
//! `yuelu-ca`'s business.

use std::collections::BTreeMap;
use yuelu_engine::{OrgName, TrustRoots};

const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
const END: &str = "-----END CERTIFICATE-----";

/// The certificate blocks of a PEM bundle, each normalised to 64-column base64 between its
/// armour lines. Anything else (other block types, text between blocks) is dropped.
pub fn certificates(bundle: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = bundle;
    while let Some(start) = rest.find(BEGIN) {
        let after = &rest[start + BEGIN.len()..];
        let Some(end) = after.find(END) else {
            break;
        };
        let body: String = after[..end]
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        if !body.is_empty() {
            let mut block = String::from(BEGIN);
            block.push('\n');
            for line in body.as_bytes().chunks(64) {
                block.push_str(&String::from_utf8_lossy(line));
                block.push('\n');
            }
            block.push_str(END);
            block.push('\n');
            out.push(block);
        }
        rest = &after[end + END.len()..];
    }
    out
}

/// The union of bundles, each certificate once, in first-seen order (so the result is stable
/// for stable inputs and a configuration hash over it changes only when a CA does).
pub fn merge<'a>(bundles: impl IntoIterator<Item = &'a str>) -> String {
    let mut seen: Vec<String> = Vec::new();
    for b in bundles {
        for c in certificates(b) {
            if !seen.contains(&c) {
                seen.push(c);
            }
        }
    }
    seen.concat()
}

/// The trust roots of a network from its members' organisations and bundles: each
/// organisation's CA certificates, normalised and de-duplicated.
///
/// `members` must come oldest first: an organisation is claimed by its oldest member (as the
/// member reconciler decides), so a later member naming the same organisation cannot add its
/// CAs to that organisation's roots. Members whose bundle holds no certificate yet (not
/// published) and organisation names that are not valid are left out: nodes then trust no CA
/// for them, rather than a wrong one.
pub fn trust_roots<'a>(members: impl IntoIterator<Item = (&'a str, &'a str)>) -> TrustRoots {
    let mut claimed: BTreeMap<OrgName, Option<String>> = BTreeMap::new();
    for (org, bundle) in members {
        let Ok(org) = OrgName::new(org) else {
            continue;
        };
        claimed.entry(org).or_insert_with(|| {
            let pem = merge([bundle]);
            (!pem.is_empty()).then_some(pem)
        });
    }
    TrustRoots(
        claimed
            .into_iter()
            .filter_map(|(org, pem)| Some((org, pem?)))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cert(body: &str) -> String {
        format!("{BEGIN}\n{body}\n{END}\n")
    }

    #[test]
    fn bundles_merge_without_duplicates_in_stable_order() {
        let a = format!("{}{}", cert("AAAA"), cert("BBBB"));
        // The same certificate with other line breaks and CRLFs is the same certificate.
        let b = format!("junk\r\n{BEGIN}\r\nBB\r\nBB\r\n{END}\r\n{}", cert("CCCC"));
        let merged = merge([a.as_str(), b.as_str()]);
        assert_eq!(
            merged,
            format!("{}{}{}", cert("AAAA"), cert("BBBB"), cert("CCCC"))
        );
        assert_eq!(merge([merged.as_str(), a.as_str()]), merged);
        assert_eq!(merge(["", "no pem here"]), "");
        let long = "A".repeat(100);
        let wrapped = certificates(&cert(&long));
        assert_eq!(wrapped[0].lines().nth(1).unwrap().len(), 64);
        // A truncated block is ignored, not half-copied.
        assert_eq!(
            certificates(&format!("{BEGIN}\nAAAA")),
            Vec::<String>::new()
        );
    }

    #[test]
    fn trust_roots_keep_each_organisations_cas_apart() {
        let (a, b, c) = (cert("AAAA"), cert("BBBB"), cert("CCCC"));
        let org_b_bundle = format!("{b}{c}\r\n{b}");
        let roots = trust_roots([
            ("org-b", org_b_bundle.as_str()),
            ("org-a", a.as_str()),
            // A later claim of org-a does not add to its roots.
            ("org-a", c.as_str()),
            // Not yet published, not an organisation name: left out.
            ("org-d", ""),
            ("Org E", a.as_str()),
        ]);
        let org = |s: &str| OrgName::new(s).unwrap();
        assert_eq!(
            roots,
            TrustRoots(BTreeMap::from([
                (org("org-a"), a.clone()),
                (org("org-b"), format!("{b}{c}")),
            ]))
        );
        // A claim without a bundle still holds the organisation against later claimants.
        let roots = trust_roots([("org-d", ""), ("org-d", a.as_str())]);
        assert!(roots.is_empty());
    }
}

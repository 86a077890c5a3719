//! The network's trust bundle: every node trusts the CAs of every member.
//!
//! Each member's certificates come from its own tenant's CA (or the development CA). A node
//! checks client certificates, in transactions it validates for consensus, against its bundle,
//! so all nodes of a network must trust the same CAs: a member publishes the CAs that issued
//! its certificates in `status.caBundle`, and each member's nodes trust the union of its own
//! and its peers' bundles.
//!
//! This is PEM text handling only (split, de-duplicate, join); what a certificate says is
//! `yuelu-ca`'s business.

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
}

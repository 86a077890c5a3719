//! The state log's Merkle tree: RFC 6962 (Certificate Transparency) hashing over an append-only
//! list of leaves, so that anyone can check an inclusion proof with a few lines of code.
//!
//! Every complete, aligned subtree is stored once it is complete (level 0 holds the leaves);
//! roots and audit paths for any earlier tree size are computed from those stored nodes.

use sha2::{Digest, Sha256};

/// A SHA-256 hash.
pub type Hash = [u8; 32];

/// `SHA-256(0x00 || data)`: the hash of a leaf.
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(data);
    h.finalize().into()
}

/// `SHA-256(0x01 || left || right)`: the hash of an interior node.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The root of the empty tree: `SHA-256("")`.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// Where a stored node sits: `level` (0 = leaf) and `index` among the nodes of that level.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeKey {
    /// Height above the leaves.
    pub level: u8,
    /// Position within the level (covers leaves `index << level .. (index + 1) << level`).
    pub index: u64,
}

impl NodeKey {
    /// A single u64 key for storage: level in the top byte.
    pub fn packed(self) -> u64 {
        (u64::from(self.level) << 56) | (self.index & ((1 << 56) - 1))
    }
}

/// Read access to stored nodes.
pub trait NodeSource {
    /// The error of the backing store.
    type Error;
    /// The stored hash of a complete subtree, if stored.
    fn node(&self, key: NodeKey) -> Result<Option<Hash>, Self::Error>;
}

/// Why a tree operation failed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TreeError<E> {
    /// A node that must exist is missing (corrupt store).
    #[error("tree node {0:?} missing")]
    Missing(NodeKey),
    /// The leaf index is not below the tree size.
    #[error("leaf {leaf} is not in a tree of size {size}")]
    OutOfRange {
        /// The leaf.
        leaf: u64,
        /// The size.
        size: u64,
    },
    /// The store failed.
    #[error("store: {0}")]
    Store(E),
}

/// The right edge of the tree: the roots of its maximal complete subtrees, left to right.
/// Enough to append leaves and compute the current root without reading the store.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Frontier {
    size: u64,
    /// (level, hash) of each maximal complete subtree, largest (leftmost) first.
    peaks: Vec<(u8, Hash)>,
}

impl Frontier {
    /// The number of leaves.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Rebuilds the frontier of a tree of `size` leaves from stored nodes.
    pub fn load<S: NodeSource>(src: &S, size: u64) -> Result<Frontier, TreeError<S::Error>> {
        let mut peaks = Vec::new();
        let mut start = 0u64;
        for level in (0..64u8).rev() {
            if size & (1u64 << level) != 0 {
                let key = NodeKey {
                    level,
                    index: start >> level,
                };
                let h = src
                    .node(key)
                    .map_err(TreeError::Store)?
                    .ok_or(TreeError::Missing(key))?;
                peaks.push((level, h));
                start += 1u64 << level;
            }
        }
        Ok(Frontier { size, peaks })
    }

    /// Appends a leaf hash; returns every node that became complete (the leaf included), to
    /// be stored.
    pub fn push(&mut self, leaf: Hash) -> Vec<(NodeKey, Hash)> {
        let index = self.size;
        let mut created = vec![(NodeKey { level: 0, index }, leaf)];
        self.peaks.push((0, leaf));
        while self.peaks.len() >= 2 {
            let n = self.peaks.len();
            let (lr, right) = self.peaks[n - 1];
            let (ll, left) = self.peaks[n - 2];
            if ll != lr {
                break;
            }
            let level = lr + 1;
            let h = node_hash(&left, &right);
            self.peaks.truncate(n - 2);
            self.peaks.push((level, h));
            created.push((
                NodeKey {
                    level,
                    index: index >> level,
                },
                h,
            ));
        }
        self.size += 1;
        created
    }

    /// The RFC 6962 root of the tree.
    pub fn root(&self) -> Hash {
        let mut iter = self.peaks.iter().rev();
        let Some((_, last)) = iter.next() else {
            return empty_root();
        };
        let mut acc = *last;
        for (_, h) in iter {
            acc = node_hash(h, &acc);
        }
        acc
    }
}

/// The hash of leaves `start..end` (any range the RFC 6962 recursion produces).
fn range_hash<S: NodeSource>(src: &S, start: u64, end: u64) -> Result<Hash, TreeError<S::Error>> {
    let n = end - start;
    if n.is_power_of_two() && start.is_multiple_of(n) {
        let key = NodeKey {
            level: n.trailing_zeros() as u8,
            index: start / n,
        };
        return src
            .node(key)
            .map_err(TreeError::Store)?
            .ok_or(TreeError::Missing(key));
    }
    let k = split(n);
    let left = range_hash(src, start, start + k)?;
    let right = range_hash(src, start + k, end)?;
    Ok(node_hash(&left, &right))
}

/// The largest power of two below `n` (n >= 2).
fn split(n: u64) -> u64 {
    1u64 << (63 - (n - 1).leading_zeros())
}

/// The root of the first `size` leaves.
pub fn root_at<S: NodeSource>(src: &S, size: u64) -> Result<Hash, TreeError<S::Error>> {
    if size == 0 {
        return Ok(empty_root());
    }
    range_hash(src, 0, size)
}

/// The RFC 6962 audit path of leaf `leaf` in the tree of the first `size` leaves, bottom-up.
pub fn audit_path<S: NodeSource>(
    src: &S,
    leaf: u64,
    size: u64,
) -> Result<Vec<Hash>, TreeError<S::Error>> {
    if leaf >= size {
        return Err(TreeError::OutOfRange { leaf, size });
    }
    let mut path = Vec::new();
    let (mut start, mut end, mut m) = (0u64, size, leaf);
    // Walk down from the root, collecting the sibling of each step; reverse at the end.
    while end - start > 1 {
        let k = split(end - start);
        if m < k {
            path.push(range_hash(src, start + k, end)?);
            end = start + k;
        } else {
            path.push(range_hash(src, start, start + k)?);
            start += k;
            m -= k;
        }
    }
    path.reverse();
    Ok(path)
}

/// Checks an RFC 6962 audit path (RFC 9162 section 2.1.3.2).
pub fn verify_inclusion(leaf: &Hash, index: u64, size: u64, path: &[Hash], root: &Hash) -> bool {
    if index >= size {
        return false;
    }
    let (mut f_n, mut s_n) = (index, size - 1);
    let mut r = *leaf;
    for p in path {
        if s_n == 0 {
            return false;
        }
        if f_n & 1 == 1 || f_n == s_n {
            r = node_hash(p, &r);
            if f_n & 1 == 0 {
                while f_n & 1 == 0 && f_n != 0 {
                    f_n >>= 1;
                    s_n >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    s_n == 0 && &r == root
}

/// A Merkle root over a list of items in memory (transaction ids in a block).
pub fn root_of(leaves: &[Hash]) -> Hash {
    fn go(l: &[Hash]) -> Hash {
        match l.len() {
            0 => empty_root(),
            1 => l[0],
            n => {
                let k = split(n as u64) as usize;
                node_hash(&go(&l[..k]), &go(&l[k..]))
            }
        }
    }
    let hashed: Vec<Hash> = leaves.iter().map(|l| leaf_hash(l)).collect();
    go(&hashed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::convert::Infallible;

    #[derive(Default)]
    struct Mem(HashMap<NodeKey, Hash>);
    impl NodeSource for Mem {
        type Error = Infallible;
        fn node(&self, key: NodeKey) -> Result<Option<Hash>, Infallible> {
            Ok(self.0.get(&key).copied())
        }
    }

    fn naive_root(l: &[Hash]) -> Hash {
        match l.len() {
            0 => empty_root(),
            1 => l[0],
            n => {
                let k = split(n as u64) as usize;
                node_hash(&naive_root(&l[..k]), &naive_root(&l[k..]))
            }
        }
    }

    #[test]
    fn frontier_roots_and_proofs_match_the_rfc_recursion() {
        let mut mem = Mem::default();
        let mut f = Frontier::default();
        let mut leaves = Vec::new();
        let mut roots = vec![empty_root()];
        for i in 0..70u32 {
            let l = leaf_hash(&i.to_be_bytes());
            leaves.push(l);
            for (k, h) in f.push(l) {
                mem.0.insert(k, h);
            }
            assert_eq!(f.root(), naive_root(&leaves), "size {}", i + 1);
            roots.push(f.root());
        }
        for size in 1..=70u64 {
            assert_eq!(root_at(&mem, size).unwrap(), roots[size as usize]);
            assert_eq!(
                Frontier::load(&mem, size).unwrap().root(),
                roots[size as usize]
            );
            for leaf in 0..size {
                let path = audit_path(&mem, leaf, size).unwrap();
                let root = roots[size as usize];
                assert!(verify_inclusion(
                    &leaves[leaf as usize],
                    leaf,
                    size,
                    &path,
                    &root
                ));
                // A wrong leaf, index or root fails.
                assert!(
                    !verify_inclusion(&leaves[(leaf as usize + 1) % 70], leaf, size, &path, &root)
                        || size == 1 && leaves.len() == 1
                );
                assert!(!verify_inclusion(
                    &leaves[leaf as usize],
                    leaf,
                    size,
                    &path,
                    &empty_root()
                ));
            }
        }
        assert!(audit_path(&mem, 5, 5).is_err());
        // The known empty-tree root of RFC 6962.
        assert_eq!(
            hex::encode(empty_root()),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}

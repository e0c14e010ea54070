//! The Merkle tree of RFC 9162 (Certificate Transparency 2.0), section 2.1: the tree hash
//! (MTH) over a list of leaves, audit paths (inclusion proofs) and their verification.
//!
//! Leaf hash `SHA-256(0x00 || leaf)`, node hash `SHA-256(0x01 || left || right)`; a list of
//! `n > 1` leaves splits at `k`, the largest power of two smaller than `n`. Our own few
//! lines rather than the `ct-merkle` crate: that crate keeps its own in-memory tree of typed
//! leaves, and what we need is the RFC's three algorithms over leaves we already hold.

use sha2::{Digest, Sha256};

pub type Hash = [u8; 32];

pub fn leaf_hash(leaf: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0x00]);
    h.update(leaf);
    h.finalize().into()
}

pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([0x01]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The largest power of two smaller than `n` (`n > 1`).
fn split(n: usize) -> usize {
    let mut k = 1;
    while k << 1 < n {
        k <<= 1;
    }
    k
}

/// MTH over leaf hashes already computed (the empty tree's hash is SHA-256 of nothing).
pub fn root_of_hashes(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => Sha256::digest([]).into(),
        1 => leaves[0],
        n => {
            let k = split(n);
            node_hash(&root_of_hashes(&leaves[..k]), &root_of_hashes(&leaves[k..]))
        }
    }
}

/// MTH over the leaves' data.
pub fn root<T: AsRef<[u8]>>(leaves: &[T]) -> Hash {
    root_of_hashes(&leaves.iter().map(|l| leaf_hash(l.as_ref())).collect::<Vec<_>>())
}

/// PATH(m, D[n]): the audit path of leaf `index`, nearest sibling first; `None` when the
/// index is outside the tree.
pub fn inclusion_proof(leaves: &[Hash], index: usize) -> Option<Vec<Hash>> {
    if index >= leaves.len() {
        return None;
    }
    let mut path = Vec::new();
    path_into(leaves, index, &mut path);
    Some(path)
}

fn path_into(leaves: &[Hash], m: usize, path: &mut Vec<Hash>) {
    let n = leaves.len();
    if n <= 1 {
        return;
    }
    let k = split(n);
    if m < k {
        path_into(&leaves[..k], m, path);
        path.push(root_of_hashes(&leaves[k..]));
    } else {
        path_into(&leaves[k..], m - k, path);
        path.push(root_of_hashes(&leaves[..k]));
    }
}

/// RFC 9162 section 2.1.3.2: whether `path` proves the leaf with hash `leaf` at `index` in
/// the tree of `tree_size` leaves with root `root`.
pub fn verify_inclusion(leaf: &Hash, index: u64, tree_size: u64, path: &[Hash], root: &Hash) -> bool {
    if index >= tree_size {
        return false;
    }
    let (mut fnode, mut snode) = (index, tree_size - 1);
    let mut r = *leaf;
    for p in path {
        if snode == 0 {
            return false;
        }
        if fnode & 1 == 1 || fnode == snode {
            r = node_hash(p, &r);
            while fnode & 1 == 0 && fnode != 0 {
                fnode >>= 1;
                snode >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    snode == 0 && r == *root
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The leaves of the Certificate Transparency reference tests (RFC 6962's code base).
    const LEAVES: [&str; 8] =
        ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"];

    fn leaves(n: usize) -> Vec<Vec<u8>> {
        LEAVES.iter().take(n).map(|h| hex::decode(h).unwrap()).collect()
    }

    /// The roots of the first 1..=8 of those leaves, as published with them (and computed
    /// independently with Python's hashlib).
    #[test]
    fn roots_match_the_reference_vectors() {
        let expected = [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
            "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
            "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
            "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
            "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
        ];
        for (i, want) in expected.iter().enumerate() {
            assert_eq!(hex::encode(root(&leaves(i + 1))), *want, "{} leaves", i + 1);
        }
        assert_eq!(
            hex::encode(root::<Vec<u8>>(&[])),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "the empty tree"
        );
    }

    /// The structure of RFC 9162 section 2.1.5's examples: in the tree of 7 leaves, the
    /// path of leaf 0 (a) is [b, h, l], of leaf 3 (d) [c, g, l], of leaf 4 (e) [f, j, k].
    #[test]
    fn paths_have_the_rfc_example_structure() {
        let d: Vec<Hash> = (0..7u8).map(|i| leaf_hash(&[i])).collect();
        let (a, b, c, dd, e, f, j) = (d[0], d[1], d[2], d[3], d[4], d[5], d[6]);
        let g = node_hash(&a, &b);
        let h = node_hash(&c, &dd);
        let i = node_hash(&e, &f);
        let k = node_hash(&g, &h);
        let l = node_hash(&i, &j);
        assert_eq!(root_of_hashes(&d), node_hash(&k, &l));
        assert_eq!(inclusion_proof(&d, 0).unwrap(), vec![b, h, l]);
        assert_eq!(inclusion_proof(&d, 3).unwrap(), vec![c, g, l]);
        assert_eq!(inclusion_proof(&d, 4).unwrap(), vec![f, j, k]);
        assert_eq!(inclusion_proof(&d, 6).unwrap(), vec![i, k]);
        assert_eq!(inclusion_proof(&d, 7), None);
    }

    /// Every leaf of every tree of 1 to 17 leaves has a path that verifies, and only there:
    /// not for another leaf, not at another index, not against another root, not when any
    /// step of it is changed, cut short or made longer. (A path may also hold for a larger
    /// size whose root is the same hash: the size is bound by the checkpoint's signature.)
    #[test]
    fn every_leaf_of_trees_up_to_17_proves_its_inclusion() {
        for n in 1..=17usize {
            let hashes: Vec<Hash> = (0..n).map(|i| leaf_hash(format!("leaf {i}").as_bytes())).collect();
            let root = root_of_hashes(&hashes);
            for m in 0..n {
                let path = inclusion_proof(&hashes, m).unwrap();
                let (mi, ni) = (m as u64, n as u64);
                assert!(verify_inclusion(&hashes[m], mi, ni, &path, &root), "leaf {m} of {n}");
                for other in (0..n).filter(|o| *o != m) {
                    assert!(!verify_inclusion(&hashes[other], mi, ni, &path, &root), "leaf {other} at {m} of {n}");
                    assert!(!verify_inclusion(&hashes[m], other as u64, ni, &path, &root), "{m} as {other} of {n}");
                }
                assert!(!verify_inclusion(&hashes[m], mi, ni, &path, &leaf_hash(b"x")), "another root");
                for step in 0..path.len() {
                    let mut bad = path.clone();
                    bad[step][0] ^= 1;
                    assert!(!verify_inclusion(&hashes[m], mi, ni, &bad, &root), "step {step} of {m} in {n}");
                }
                if !path.is_empty() {
                    assert!(!verify_inclusion(&hashes[m], mi, ni, &path[..path.len() - 1], &root), "cut short");
                }
                let mut longer = path.clone();
                longer.push(root);
                assert!(!verify_inclusion(&hashes[m], mi, ni, &longer, &root), "one step too many");
            }
            assert!(!verify_inclusion(&hashes[0], n as u64, n as u64, &[], &root), "index past the end");
        }
    }
}

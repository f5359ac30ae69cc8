//! Symlink targets, resolved inside the archive as the kernel would resolve them: a
//! link is replaced by its target, relative to the link's directory, and `..` climbs
//! one level. A target is accepted only if resolution never climbs above the tree's
//! root and never needs an absolute path, *whatever* other links it goes through, so
//! neither the sandbox nor gust itself can be led outside the code directory.

use std::collections::{BTreeMap, HashMap, VecDeque};

use super::plan::{quoted, unzip_error, Node};
use crate::StoreError;

/// Most links followed while resolving one target (Linux's MAXSYMLINKS).
const MAX_HOPS: usize = 40;
/// Most path components processed while resolving one target, so that an archive of
/// links expanding into one another cannot make the check itself expensive.
const MAX_STEPS: usize = 4096;

/// Why a target was refused.
enum Refusal {
    Absolute,
    Escapes,
    Loop,
    TooDeep,
}

/// The archive's paths as a tree of ids (0 is the root), so that each resolution
/// step costs one hash lookup of a short key, however deep the path.
struct Tree<'a> {
    /// (directory id, component) to the id of that entry.
    children: HashMap<(usize, &'a str), usize>,
    /// Each id's parent; the root is its own.
    parents: Vec<usize>,
    /// The target of each id that is a symlink.
    targets: HashMap<usize, &'a str>,
    /// Every symlink's id and path, in the plan's order.
    links: Vec<(usize, &'a [String], &'a str)>,
}

impl<'a> Tree<'a> {
    fn new(nodes: &'a BTreeMap<Vec<String>, Node>) -> Self {
        let mut tree = Tree {
            children: HashMap::new(),
            parents: vec![0],
            targets: HashMap::new(),
            links: Vec::new(),
        };
        for (path, node) in nodes {
            let mut id = 0;
            for part in path {
                let next = tree.parents.len();
                id = *tree.children.entry((id, part.as_str())).or_insert_with(|| {
                    tree.parents.push(id);
                    next
                });
            }
            if let Node::Symlink { target } = node {
                tree.targets.insert(id, target.as_str());
                tree.links.push((id, path, target.as_str()));
            }
        }
        tree
    }

    /// Resolves the target of the symlink `link`.
    fn resolve(&self, link: usize, target: &'a str) -> Result<(), Refusal> {
        if target.starts_with('/') {
            return Err(Refusal::Absolute);
        }
        // Where resolution stands: a known path, plus how many components past it
        // lead through names the archive does not hold (no links can hide there).
        let (mut here, mut beyond) = (self.parents[link], 0usize);
        let mut pending: VecDeque<&str> = target.split('/').collect();
        let (mut hops, mut steps) = (0, 0);
        while let Some(part) = pending.pop_front() {
            steps += 1;
            if steps > MAX_STEPS {
                return Err(Refusal::TooDeep);
            }
            match part {
                "" | "." => {}
                ".." if beyond > 0 => beyond -= 1,
                ".." if here == 0 => return Err(Refusal::Escapes),
                ".." => here = self.parents[here],
                _ if beyond > 0 => beyond += 1,
                _ => match self.children.get(&(here, part)) {
                    None => beyond = 1,
                    Some(&child) => match self.targets.get(&child) {
                        None => here = child,
                        Some(next) => {
                            hops += 1;
                            if hops > MAX_HOPS {
                                return Err(Refusal::Loop);
                            }
                            if next.starts_with('/') {
                                return Err(Refusal::Absolute);
                            }
                            for part in next.split('/').rev() {
                                pending.push_front(part);
                            }
                        }
                    },
                },
            }
        }
        Ok(())
    }
}

/// Checks every symlink of the tree.
pub(super) fn check_all(nodes: &BTreeMap<Vec<String>, Node>) -> Result<(), StoreError> {
    let tree = Tree::new(nodes);
    // In the plan's order, so the error names the same link every time.
    for &(id, path, target) in &tree.links {
        if let Err(refusal) = tree.resolve(id, target) {
            let name = quoted(&path.join("/"));
            let target = quoted(target);
            let why = match refusal {
                Refusal::Absolute => format!(
                    "Symbolic link {name} points to an absolute path ({target}); links must \
                     stay inside the archive."
                ),
                Refusal::Escapes => {
                    format!("Symbolic link {name} points outside the archive ({target}).")
                }
                Refusal::Loop => format!(
                    "Symbolic link {name} goes through more than {MAX_HOPS} symbolic links \
                     (a loop?)."
                ),
                Refusal::TooDeep => {
                    format!("Symbolic link {name} has a target too deep to check ({target}).")
                }
            };
            return Err(unzip_error(why));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(links: &[(&str, &str)]) -> Result<(), StoreError> {
        let nodes = links
            .iter()
            .map(|(path, target)| {
                let path = path.split('/').map(str::to_owned).collect();
                (
                    path,
                    Node::Symlink {
                        target: (*target).to_owned(),
                    },
                )
            })
            .collect();
        check_all(&nodes)
    }

    #[test]
    fn links_inside_the_tree_pass() {
        check(&[("a/l", "../b/c"), ("top", "."), ("x/y/z", "../../a/./l")]).unwrap();
    }

    #[test]
    fn escaping_targets_are_refused() {
        for target in ["..", "../x", "a/../../x", "/etc/passwd"] {
            let err = check(&[("l", target)]).unwrap_err().to_string();
            assert!(err.contains("Symbolic link \"l\""), "{target}: {err}");
        }
    }

    #[test]
    fn escape_through_another_link_is_refused() {
        // Lexically `s/../..` from `sub/` is the root; really `s` is the root, so
        // `s/../..` climbs above it.
        let err = check(&[("sub/s", ".."), ("sub/l", "s/../..")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("\"sub/l\" points outside"), "{err}");
    }

    #[test]
    fn names_the_archive_lacks_still_count_their_levels() {
        check(&[("sub/l", "missing/../../ok.py")]).unwrap();
        let err = check(&[("l", "missing/../..")]).unwrap_err().to_string();
        assert!(err.contains("points outside"), "{err}");
    }

    #[test]
    fn checking_stays_bounded() {
        let err = check(&[("l", &"./".repeat(5000))]).unwrap_err().to_string();
        assert!(err.contains("too deep to check"), "{err}");
    }

    #[test]
    fn loops_are_refused() {
        let err = check(&[("a", "b"), ("b", "a")]).unwrap_err().to_string();
        assert!(err.contains("more than 40 symbolic links"), "{err}");
    }
}

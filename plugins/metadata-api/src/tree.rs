//! A metadata tree as the EC2 crawlers walk it: directories list their entries one per
//! line (subdirectories end with `/`), leaves are values; a path names a node by its
//! segments.

use crate::reply::Body;

/// The longest path looked up (anything longer names nothing).
pub const MAX_PATH: usize = 1024;

#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    /// Entries in listing order; `listing` replaces the generated listing (the
    /// `public-keys/` directory lists `0=<key-name>`, not `0/`).
    Dir {
        entries: Vec<(String, Node)>,
        listing: Option<String>,
    },
    Leaf(Body),
}

impl Node {
    pub fn dir(entries: Vec<(&str, Node)>) -> Node {
        Node::Dir {
            entries: entries
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
            listing: None,
        }
    }

    pub fn text(value: impl Into<String>) -> Node {
        Node::Leaf(Body::Text(value.into()))
    }

    /// This directory with its own listing.
    pub fn listed_as(self, text: String) -> Node {
        match self {
            Node::Dir { entries, .. } => Node::Dir {
                entries,
                listing: Some(text),
            },
            leaf => leaf,
        }
    }

    /// A directory's listing, or a leaf's value.
    pub fn body(&self) -> Body {
        match self {
            Node::Leaf(b) => b.clone(),
            Node::Dir {
                listing: Some(l), ..
            } => Body::Text(l.clone()),
            Node::Dir { entries, .. } => Body::Text(
                entries
                    .iter()
                    .map(|(k, v)| match v {
                        Node::Dir { .. } => format!("{k}/"),
                        Node::Leaf(_) => k.clone(),
                    })
                    .collect::<Vec<_>>()
                    .join("\n"),
            ),
        }
    }

    fn child(&self, name: &str) -> Option<&Node> {
        match self {
            Node::Dir { entries, .. } => entries.iter().find(|(k, _)| k == name).map(|(_, v)| v),
            Node::Leaf(_) => None,
        }
    }

    /// The node at `path` (segments separated by `/`; one trailing `/` is allowed, as
    /// crawlers add it to directories; an empty path is this node). Empty segments
    /// elsewhere, `.` and `..` name nothing.
    pub fn at(&self, path: &str) -> Option<&Node> {
        if path.len() > MAX_PATH {
            return None;
        }
        let path = path.strip_suffix('/').unwrap_or(path);
        if path.is_empty() {
            return Some(self);
        }
        path.split('/').try_fold(self, |node, segment| {
            if segment.is_empty() {
                None
            } else {
                node.child(segment)
            }
        })
    }
}

/// A route's fixed prefix and its catch-all tail as one path.
pub fn join(prefix: &str, rest: &str) -> String {
    if rest.is_empty() {
        prefix.to_string()
    } else {
        format!("{prefix}/{rest}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Node {
        Node::dir(vec![
            ("a", Node::text("1")),
            (
                "d",
                Node::dir(vec![("x", Node::text("2")), ("e", Node::dir(vec![]))]),
            ),
        ])
    }

    fn text(n: Option<&Node>) -> Option<String> {
        n.map(|n| match n.body() {
            Body::Text(t) => t,
            other => panic!("{other:?}"),
        })
    }

    #[test]
    fn listings_mark_directories() {
        let t = sample();
        assert_eq!(text(t.at("")).as_deref(), Some("a\nd/"));
        assert_eq!(text(t.at("/")).as_deref(), Some("a\nd/"));
        assert_eq!(text(t.at("d")).as_deref(), Some("x\ne/"));
        assert_eq!(text(t.at("d/")).as_deref(), Some("x\ne/"));
        assert_eq!(text(t.at("d/e/")).as_deref(), Some(""));
        let custom = Node::dir(vec![("0", Node::dir(vec![]))]).listed_as("0=k".into());
        assert_eq!(text(custom.at("")).as_deref(), Some("0=k"));
        assert!(custom.at("0").is_some());
    }

    #[test]
    fn leaves_answer_with_or_without_a_trailing_slash() {
        let t = sample();
        assert_eq!(text(t.at("a")).as_deref(), Some("1"));
        assert_eq!(text(t.at("a/")).as_deref(), Some("1"));
        assert_eq!(text(t.at("d/x")).as_deref(), Some("2"));
    }

    #[test]
    fn odd_paths_name_nothing() {
        let t = sample();
        for p in [
            "b", "a/b", "d//x", "//", "d/x//", "/a", ".", "..", "d/../a", "./a", "d/./x", "A",
            "a ", "%61", "d\\x", "a\0", "d/x/y", "d/e/f",
        ] {
            assert_eq!(t.at(p), None, "{p:?}");
        }
        let long = "d/".repeat(MAX_PATH);
        assert_eq!(t.at(&long), None);
    }

    #[test]
    fn joins_prefix_and_tail() {
        assert_eq!(join("meta-data", ""), "meta-data");
        assert_eq!(join("meta-data", "placement/"), "meta-data/placement/");
    }
}

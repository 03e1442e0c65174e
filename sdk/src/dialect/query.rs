//! Query-string helpers: numbers, Nova's booleans, and `limit`/`marker` paging.

use super::{Fault, Request};
use std::fmt;

/// Why a query value was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueryError {
    /// `name` should be a non-negative integer and is `value`.
    NotANumber { name: String, value: String },
    /// No item has the id given as `marker`.
    MarkerNotFound(String),
}

impl fmt::Display for QueryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QueryError::NotANumber { name, value } => write!(f, "Invalid {name} filter [{value}]"),
            QueryError::MarkerNotFound(m) => write!(f, "marker [{m}] not found"),
        }
    }
}

impl std::error::Error for QueryError {}

impl From<QueryError> for Fault {
    fn from(e: QueryError) -> Fault {
        Fault::bad_request(e.to_string())
    }
}

/// A boolean as Nova reads one (`oslo_utils.strutils.bool_from_string`): `1`, `t`, `true`,
/// `on`, `y`, `yes` (any case) are true, anything else false.
pub fn nova_bool(value: &str) -> bool {
    matches!(
        value.trim().to_ascii_lowercase().as_str(),
        "1" | "t" | "true" | "on" | "y" | "yes"
    )
}

/// A page of a listing: at most `limit` items after the one whose id is `marker`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Paging {
    pub limit: Option<u64>,
    pub marker: Option<String>,
}

impl Paging {
    /// `items` (filtered and ordered) cut to this page; an unknown marker is an error.
    pub fn apply<T>(
        &self,
        mut items: Vec<T>,
        id: impl Fn(&T) -> &str,
    ) -> Result<Vec<T>, QueryError> {
        if let Some(marker) = &self.marker {
            let at = items
                .iter()
                .position(|x| id(x) == marker)
                .ok_or_else(|| QueryError::MarkerNotFound(marker.clone()))?;
            items.drain(..=at);
        }
        if let Some(limit) = self.limit {
            items.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        }
        Ok(items)
    }
}

impl<C> Request<C> {
    /// A non-negative integer query parameter (`limit`, `minRam`, …); none when absent.
    pub fn query_u64(&self, name: &str) -> Result<Option<u64>, QueryError> {
        let Some(value) = self.query(name) else {
            return Ok(None);
        };
        value.parse().map(Some).map_err(|_| QueryError::NotANumber {
            name: name.to_string(),
            value: value.to_string(),
        })
    }

    /// A boolean query parameter read as Nova reads one ([`nova_bool`]); none when absent.
    pub fn query_bool(&self, name: &str) -> Option<bool> {
        self.query(name).map(nova_bool)
    }

    /// The `limit` and `marker` query parameters.
    pub fn paging(&self) -> Result<Paging, QueryError> {
        Ok(Paging {
            limit: self.query_u64("limit")?,
            marker: self.query("marker").map(String::from),
        })
    }

    /// `items` cut to the page the query asks for (see [`Paging::apply`]).
    pub fn page<T>(&self, items: Vec<T>, id: impl Fn(&T) -> &str) -> Result<Vec<T>, QueryError> {
        self.paging()?.apply(items, id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type R = Request<()>;

    fn ids(r: &R) -> Result<Vec<&'static str>, QueryError> {
        r.page(vec!["a", "b", "c", "d"], |s| s)
    }

    #[test]
    fn limit_and_marker_cut_the_listing() {
        let r = R::new("GET", "/");
        assert_eq!(ids(&r).unwrap(), ["a", "b", "c", "d"]);
        let r = R::new("GET", "/").with_query("limit", "2");
        assert_eq!(ids(&r).unwrap(), ["a", "b"]);
        let r = r.with_query("marker", "b");
        assert_eq!(ids(&r).unwrap(), ["c", "d"]);
        let r = R::new("GET", "/").with_query("limit", "0");
        assert!(ids(&r).unwrap().is_empty());
    }

    #[test]
    fn bad_limits_and_unknown_markers_are_400s() {
        for bad in ["-1", "x", "1.5", ""] {
            let r = R::new("GET", "/").with_query("limit", bad);
            let e = ids(&r).unwrap_err();
            assert_eq!(e.to_string(), format!("Invalid limit filter [{bad}]"));
            assert_eq!(Fault::from(e).status, 400);
        }
        let r = R::new("GET", "/").with_query("marker", "zz");
        assert_eq!(
            ids(&r).unwrap_err(),
            QueryError::MarkerNotFound("zz".into())
        );
    }

    #[test]
    fn booleans_as_nova_reads_them() {
        for yes in ["1", "t", "True", "on", "y", "YES"] {
            assert!(nova_bool(yes), "{yes}");
        }
        for no in ["0", "f", "false", "off", "no", "", "maybe"] {
            assert!(!nova_bool(no), "{no}");
        }
        let r = R::new("GET", "/").with_query("is_public", "false");
        assert_eq!(r.query_bool("is_public"), Some(false));
        assert_eq!(r.query_bool("other"), None);
    }
}

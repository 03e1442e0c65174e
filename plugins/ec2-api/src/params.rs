//! Query-API parameters: the form-encoded body of a POST, or the query string of a GET,
//! flattened the EC2 way (`InstanceId.1`, `Filter.1.Name`, `Filter.1.Value.2`,
//! `TagSpecification.1.Tag.1.Key`, `Placement.AvailabilityZone`, …).

use crate::Ec2Error;
use std::collections::BTreeMap;

/// Parameters by name (a repeated name keeps its last value).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Params {
    map: BTreeMap<String, String>,
}

/// `Filter.N`: a name and the values any of which may match (`*` and `?` wildcards,
/// `\` escapes them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    pub name: String,
    pub values: Vec<String>,
}

impl Filter {
    /// Whether any of the filter's values matches `candidate`.
    pub fn matches(&self, candidate: &str) -> bool {
        self.values.iter().any(|p| glob(p, candidate))
    }

    /// Whether any value matches any of `candidates`.
    pub fn matches_any<'a>(&self, candidates: impl IntoIterator<Item = &'a str>) -> bool {
        candidates.into_iter().any(|c| self.matches(c))
    }
}

/// A tag in `Tag.N` (`CreateTags`, `DeleteTags`): the value is none when not given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagParam {
    pub key: String,
    pub value: Option<String>,
}

/// `TagSpecification.N`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagSpec {
    pub resource_type: String,
    pub tags: Vec<(String, String)>,
}

/// Decodes `application/x-www-form-urlencoded` text: `+` is a space, `%XX` a byte; a `%`
/// not followed by two hex digits stays as it is (as browsers and `form_urlencoded` do).
fn form_decode(s: &[u8]) -> Result<String, Ec2Error> {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            b'+' => out.push(b' '),
            b'%' => match (
                s.get(i + 1).copied().and_then(hex),
                s.get(i + 2).copied().and_then(hex),
            ) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| {
        Ec2Error::client(
            "MalformedQueryString",
            "The request parameters are not valid UTF-8 once decoded.",
        )
    })
}

/// The pairs of a form-encoded body.
pub fn parse_form(body: &[u8]) -> Result<Vec<(String, String)>, Ec2Error> {
    let mut out = Vec::new();
    for part in body.split(|&b| b == b'&') {
        if part.is_empty() {
            continue;
        }
        let (k, v) = match part.iter().position(|&b| b == b'=') {
            Some(at) => (&part[..at], &part[at + 1..]),
            None => (part, &b""[..]),
        };
        out.push((form_decode(k)?, form_decode(v)?));
    }
    Ok(out)
}

/// Whether a content type is a form (or absent, as some clients leave it).
fn is_form(content_type: Option<&str>) -> bool {
    match content_type {
        None => true,
        Some(ct) => {
            let essence = ct.split(';').next().unwrap_or("").trim();
            essence.is_empty() || essence.eq_ignore_ascii_case("application/x-www-form-urlencoded")
        }
    }
}

/// `Prefix.N…` keys: `N` and the rest after it (`""` for `Prefix.N` itself).
fn split_index<'a>(key: &'a str, prefix: &str) -> Option<Result<(u32, &'a str), Ec2Error>> {
    let rest = key.strip_prefix(prefix)?.strip_prefix('.')?;
    let (n, tail) = match rest.find('.') {
        Some(at) => (&rest[..at], &rest[at + 1..]),
        None => (rest, ""),
    };
    let index = if !n.is_empty() && n.len() <= 9 && n.bytes().all(|b| b.is_ascii_digit()) {
        n.parse::<u32>().ok()
    } else {
        None
    };
    Some(match index {
        Some(i) => Ok((i, tail)),
        None => Err(Ec2Error::client(
            "InvalidParameterValue",
            format!("The parameter '{key}' has an invalid index: it must be {prefix}.N."),
        )),
    })
}

impl Params {
    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Params {
        Params {
            map: pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }

    /// The parameters of a request: its query string, and for a POST its form body too
    /// (body values win). A non-form body is refused.
    pub fn from_request(
        method: &str,
        query: &[(String, String)],
        headers: &[(String, String)],
        body: &[u8],
    ) -> Result<Params, Ec2Error> {
        let mut map: BTreeMap<String, String> = query.iter().cloned().collect();
        if method.eq_ignore_ascii_case("POST") && !body.is_empty() {
            let ct = headers
                .iter()
                .rev()
                .find(|(k, _)| k.eq_ignore_ascii_case("content-type"))
                .map(|(_, v)| v.as_str());
            if !is_form(ct) {
                return Err(Ec2Error::client(
                    "InvalidParameterValue",
                    format!(
                        "The request body must be application/x-www-form-urlencoded, not '{}'.",
                        ct.unwrap_or("")
                    ),
                ));
            }
            map.extend(parse_form(body)?);
        }
        Ok(Params { map })
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.map.get(name).map(String::as_str)
    }

    /// A parameter that must be present and not empty.
    pub fn required(&self, name: &str) -> Result<&str, Ec2Error> {
        match self.get(name) {
            Some(v) if !v.is_empty() => Ok(v),
            _ => Err(Ec2Error::missing(name)),
        }
    }

    /// `Prefix.1`, `Prefix.2`, … in index order (gaps allowed).
    pub fn list(&self, prefix: &str) -> Result<Vec<&str>, Ec2Error> {
        let mut out = Vec::new();
        for (k, v) in &self.map {
            if let Some(split) = split_index(k, prefix) {
                let (i, tail) = split?;
                if !tail.is_empty() {
                    return Err(Ec2Error::unknown_parameter(k));
                }
                out.push((i, v.as_str()));
            }
        }
        out.sort_by_key(|(i, _)| *i);
        Ok(out.into_iter().map(|(_, v)| v).collect())
    }

    /// `Prefix.N.rest` keys grouped by `N`: `(rest, value)` pairs, in index order.
    pub fn groups(&self, prefix: &str) -> Result<Groups<'_>, Ec2Error> {
        let mut out = Groups::new();
        for (k, v) in &self.map {
            if let Some(split) = split_index(k, prefix) {
                let (i, tail) = split?;
                if tail.is_empty() {
                    return Err(Ec2Error::unknown_parameter(k));
                }
                out.entry(i).or_default().push((tail, v.as_str()));
            }
        }
        Ok(out)
    }

    /// `Filter.N.Name` and `Filter.N.Value.M`.
    pub fn filters(&self) -> Result<Vec<Filter>, Ec2Error> {
        let mut out = Vec::new();
        for (n, fields) in self.groups("Filter")? {
            let mut name = None;
            let mut values = BTreeMap::new();
            for (field, value) in fields {
                if field == "Name" {
                    name = Some(value);
                } else if let Some(m) = field.strip_prefix("Value.").and_then(parse_index) {
                    values.insert(m, value.to_string());
                } else {
                    return Err(Ec2Error::unknown_parameter(&format!("Filter.{n}.{field}")));
                }
            }
            let name = match name {
                Some(n) if !n.is_empty() => n.to_string(),
                _ => return Err(Ec2Error::missing(&format!("Filter.{n}.Name"))),
            };
            if values.is_empty() {
                return Err(Ec2Error::invalid(format!(
                    "The filter '{name}' (Filter.{n}) needs at least one Value."
                )));
            }
            out.push(Filter {
                name,
                values: values.into_values().collect(),
            });
        }
        Ok(out)
    }

    /// `Tag.N.Key` / `Tag.N.Value` (a key is required, a value is optional).
    pub fn tags(&self, prefix: &str) -> Result<Vec<TagParam>, Ec2Error> {
        let mut out = Vec::new();
        for (n, fields) in self.groups(prefix)? {
            let (mut key, mut value) = (None, None);
            for (field, v) in fields {
                match field {
                    "Key" => key = Some(v),
                    "Value" => value = Some(v.to_string()),
                    _ => {
                        return Err(Ec2Error::unknown_parameter(&format!(
                            "{prefix}.{n}.{field}"
                        )))
                    }
                }
            }
            let key = key.ok_or_else(|| Ec2Error::missing(&format!("{prefix}.{n}.Key")))?;
            out.push(TagParam {
                key: key.to_string(),
                value,
            });
        }
        Ok(out)
    }

    /// `TagSpecification.N.ResourceType` and `TagSpecification.N.Tag.M.Key/Value`.
    pub fn tag_specs(&self) -> Result<Vec<TagSpec>, Ec2Error> {
        let mut out = Vec::new();
        for (n, fields) in self.groups("TagSpecification")? {
            let mut resource_type = None;
            let mut tags: BTreeMap<u32, (Option<&str>, Option<&str>)> = BTreeMap::new();
            for (field, v) in fields {
                if field == "ResourceType" {
                    resource_type = Some(v);
                    continue;
                }
                let parsed = field.strip_prefix("Tag.").and_then(|rest| {
                    let (m, which) = rest.split_once('.')?;
                    Some((parse_index(m)?, which))
                });
                match parsed {
                    Some((m, "Key")) => tags.entry(m).or_default().0 = Some(v),
                    Some((m, "Value")) => tags.entry(m).or_default().1 = Some(v),
                    _ => {
                        return Err(Ec2Error::unknown_parameter(&format!(
                            "TagSpecification.{n}.{field}"
                        )))
                    }
                }
            }
            let resource_type = match resource_type {
                Some(t) if !t.is_empty() => t.to_string(),
                _ => {
                    return Err(Ec2Error::missing(&format!(
                        "TagSpecification.{n}.ResourceType"
                    )))
                }
            };
            let mut list = Vec::new();
            for (m, (k, v)) in tags {
                let k = k.ok_or_else(|| {
                    Ec2Error::missing(&format!("TagSpecification.{n}.Tag.{m}.Key"))
                })?;
                list.push((k.to_string(), v.unwrap_or("").to_string()));
            }
            out.push(TagSpec {
                resource_type,
                tags: list,
            });
        }
        Ok(out)
    }

    /// A boolean parameter (`true`/`false`, any case).
    pub fn boolean(&self, name: &str) -> Result<Option<bool>, Ec2Error> {
        match self.get(name) {
            None => Ok(None),
            Some(v) if v.eq_ignore_ascii_case("true") => Ok(Some(true)),
            Some(v) if v.eq_ignore_ascii_case("false") => Ok(Some(false)),
            Some(v) => Err(Ec2Error::invalid(format!(
                "Value ({v}) for parameter {name} is invalid. Expected: 'true' or 'false'."
            ))),
        }
    }

    /// An integer parameter within `min..=max`.
    pub fn int(&self, name: &str, min: i64, max: i64) -> Result<Option<i64>, Ec2Error> {
        let Some(v) = self.get(name) else {
            return Ok(None);
        };
        match v.trim().parse::<i64>() {
            Ok(n) if (min..=max).contains(&n) => Ok(Some(n)),
            Ok(_) => Err(Ec2Error::invalid(format!(
                "Value ({v}) for parameter {name} is invalid. Expected a value between {min} and {max}."
            ))),
            Err(_) => Err(Ec2Error::invalid(format!(
                "Value ({v}) for parameter {name} is invalid. Expected an integer."
            ))),
        }
    }

    /// `MaxResults` within `min..=max` and `NextToken`.
    pub fn paging(&self, min: i64, max: i64) -> Result<Paging, Ec2Error> {
        Ok(Paging {
            max_results: self.int("MaxResults", min, max)?.map(|n| n as usize),
            next_token: self
                .get("NextToken")
                .filter(|t| !t.is_empty())
                .map(String::from),
        })
    }

    /// Names of all parameters (for checks that refuse some).
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.map.keys().map(String::as_str)
    }
}

/// `Prefix.N.rest` parameters by `N`: `(rest, value)` pairs.
pub type Groups<'a> = BTreeMap<u32, Vec<(&'a str, &'a str)>>;

/// A page request.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Paging {
    pub max_results: Option<usize>,
    pub next_token: Option<String>,
}

fn parse_index(s: &str) -> Option<u32> {
    if !s.is_empty() && s.len() <= 9 && s.bytes().all(|b| b.is_ascii_digit()) {
        s.parse().ok()
    } else {
        None
    }
}

/// Cuts `items` into a page: after the item whose key is the (opaque) token, at most
/// `max_results`; the token of the next page when more remain.
pub fn paginate<T>(
    items: Vec<T>,
    key: impl Fn(&T) -> String,
    paging: &Paging,
) -> Result<(Vec<T>, Option<String>), Ec2Error> {
    use base64::Engine;
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut items = items;
    if let Some(token) = &paging.next_token {
        let bad = || Ec2Error::invalid(format!("The NextToken '{token}' is not valid."));
        let marker = engine
            .decode(token)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or_else(bad)?;
        let at = items
            .iter()
            .position(|i| key(i) == marker)
            .ok_or_else(bad)?;
        items.drain(..=at);
    }
    let next = match paging.max_results {
        Some(max) if items.len() > max => {
            items.truncate(max);
            items.last().map(|last| engine.encode(key(last)))
        }
        _ => None,
    };
    Ok((items, next))
}

/// EC2's filter wildcards: `*` any run, `?` any one character, `\` escapes the next one.
pub fn glob(pattern: &str, s: &str) -> bool {
    #[derive(Clone, Copy, PartialEq)]
    enum Tok {
        Star,
        One,
        Lit(char),
    }
    let mut toks = Vec::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        toks.push(match c {
            '*' => Tok::Star,
            '?' => Tok::One,
            '\\' => Tok::Lit(chars.next().unwrap_or('\\')),
            c => Tok::Lit(c),
        });
    }
    let s: Vec<char> = s.chars().collect();
    // The classic linear-backtracking match: remember the last star and retry after it.
    let (mut p, mut i) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while i < s.len() {
        match toks.get(p) {
            Some(Tok::Star) => {
                star = Some((p, i));
                p += 1;
            }
            Some(Tok::One) => {
                p += 1;
                i += 1;
            }
            Some(Tok::Lit(c)) if *c == s[i] => {
                p += 1;
                i += 1;
            }
            _ => match star {
                Some((sp, si)) => {
                    p = sp + 1;
                    i = si + 1;
                    star = Some((sp, si + 1));
                }
                None => return false,
            },
        }
    }
    toks[p..].iter().all(|t| *t == Tok::Star)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(list: &[(&str, &str)]) -> Params {
        Params::from_pairs(list.iter().copied())
    }

    #[test]
    fn form_bodies() {
        assert_eq!(
            parse_form(b"Action=RunInstances&Tag.1.Value=a+b%26c&x&&k=%zz%4").unwrap(),
            vec![
                ("Action".to_string(), "RunInstances".to_string()),
                ("Tag.1.Value".to_string(), "a b&c".to_string()),
                ("x".to_string(), String::new()),
                ("k".to_string(), "%zz%4".to_string()),
            ]
        );
        assert_eq!(parse_form(b"a=%C3%A9").unwrap()[0].1, "é");
        assert_eq!(
            parse_form(b"a=%FF").unwrap_err().code,
            "MalformedQueryString"
        );
        assert_eq!(parse_form(b"").unwrap(), vec![]);
    }

    #[test]
    fn request_parameters_merge_query_and_form() {
        let q = vec![
            ("Action".to_string(), "A".to_string()),
            ("Version".to_string(), "1".to_string()),
        ];
        let h = vec![(
            "content-type".to_string(),
            "application/x-www-form-urlencoded; charset=utf-8".to_string(),
        )];
        let p = Params::from_request("POST", &q, &h, b"Action=B&X=1").unwrap();
        assert_eq!(
            (p.get("Action"), p.get("Version"), p.get("X")),
            (Some("B"), Some("1"), Some("1"))
        );
        let json = vec![("content-type".to_string(), "application/json".to_string())];
        assert_eq!(
            Params::from_request("POST", &q, &json, b"{}")
                .unwrap_err()
                .code,
            "InvalidParameterValue"
        );
        // A GET's body is not read.
        let p = Params::from_request("GET", &q, &json, b"Action=B").unwrap();
        assert_eq!(p.get("Action"), Some("A"));
    }

    #[test]
    fn indexed_lists() {
        let p = params(&[
            ("InstanceId.10", "c"),
            ("InstanceId.2", "b"),
            ("InstanceId.1", "a"),
            ("InstanceIds", "x"),
            ("Other.1", "y"),
        ]);
        assert_eq!(p.list("InstanceId").unwrap(), vec!["a", "b", "c"]);
        assert_eq!(p.list("Nothing").unwrap(), Vec::<&str>::new());
        for bad in [
            "InstanceId.x",
            "InstanceId.",
            "InstanceId.1.Key",
            "InstanceId.-1",
            "InstanceId.99999999999",
        ] {
            let e = params(&[(bad, "v")]).list("InstanceId").unwrap_err();
            assert_eq!(e.status, 400, "{bad}");
        }
    }

    #[test]
    fn filters() {
        let p = params(&[
            ("Filter.1.Name", "instance-state-name"),
            ("Filter.1.Value.2", "stopped"),
            ("Filter.1.Value.1", "running"),
            ("Filter.2.Name", "tag:Name"),
            ("Filter.2.Value.1", "web*"),
        ]);
        assert_eq!(
            p.filters().unwrap(),
            vec![
                Filter {
                    name: "instance-state-name".into(),
                    values: vec!["running".into(), "stopped".into()]
                },
                Filter {
                    name: "tag:Name".into(),
                    values: vec!["web*".into()]
                },
            ]
        );
        assert_eq!(
            params(&[("Filter.1.Value.1", "x")])
                .filters()
                .unwrap_err()
                .code,
            "MissingParameter"
        );
        assert_eq!(
            params(&[("Filter.1.Name", "x")])
                .filters()
                .unwrap_err()
                .code,
            "InvalidParameterValue"
        );
        assert_eq!(
            params(&[("Filter.1.Name", "x"), ("Filter.1.Values.1", "y")])
                .filters()
                .unwrap_err()
                .code,
            "UnknownParameter"
        );
        assert_eq!(
            params(&[("Filter.1.Name", "x"), ("Filter.1.Value.a", "y")])
                .filters()
                .unwrap_err()
                .code,
            "UnknownParameter"
        );
    }

    #[test]
    fn tag_specifications() {
        let p = params(&[
            ("TagSpecification.1.ResourceType", "instance"),
            ("TagSpecification.1.Tag.1.Key", "Name"),
            ("TagSpecification.1.Tag.1.Value", "web <1>"),
            ("TagSpecification.1.Tag.2.Key", "empty"),
            ("TagSpecification.2.ResourceType", "volume"),
            ("TagSpecification.2.Tag.1.Key", "k"),
            ("TagSpecification.2.Tag.1.Value", "v"),
        ]);
        assert_eq!(
            p.tag_specs().unwrap(),
            vec![
                TagSpec {
                    resource_type: "instance".into(),
                    tags: vec![
                        ("Name".into(), "web <1>".into()),
                        ("empty".into(), String::new())
                    ]
                },
                TagSpec {
                    resource_type: "volume".into(),
                    tags: vec![("k".into(), "v".into())]
                },
            ]
        );
        for bad in [
            vec![("TagSpecification.1.Tag.1.Key", "k")],
            vec![
                ("TagSpecification.1.ResourceType", "instance"),
                ("TagSpecification.1.Tag.1.Value", "v"),
            ],
            vec![
                ("TagSpecification.1.ResourceType", "instance"),
                ("TagSpecification.1.Tag.x.Key", "v"),
            ],
            vec![
                ("TagSpecification.1.ResourceType", "instance"),
                ("TagSpecification.1.Tags.1.Key", "v"),
            ],
            vec![
                ("TagSpecification.1.ResourceType", "instance"),
                ("TagSpecification.1.Tag.1.Kee", "v"),
            ],
        ] {
            assert_eq!(params(&bad).tag_specs().unwrap_err().status, 400, "{bad:?}");
        }
    }

    #[test]
    fn tags() {
        let p = params(&[("Tag.1.Key", "a"), ("Tag.2.Key", "b"), ("Tag.2.Value", "")]);
        assert_eq!(
            p.tags("Tag").unwrap(),
            vec![
                TagParam {
                    key: "a".into(),
                    value: None
                },
                TagParam {
                    key: "b".into(),
                    value: Some(String::new())
                },
            ]
        );
        assert_eq!(
            params(&[("Tag.1.Value", "v")])
                .tags("Tag")
                .unwrap_err()
                .code,
            "MissingParameter"
        );
    }

    #[test]
    fn scalars() {
        let p = params(&[
            ("DryRun", "TRUE"),
            ("Bad", "yes"),
            ("N", "7"),
            ("Big", "99999999999999999999"),
        ]);
        assert_eq!(p.boolean("DryRun").unwrap(), Some(true));
        assert_eq!(p.boolean("Missing").unwrap(), None);
        assert!(p.boolean("Bad").is_err());
        assert_eq!(p.int("N", 1, 10).unwrap(), Some(7));
        assert!(p.int("N", 8, 10).is_err());
        assert!(p.int("Big", 0, i64::MAX).is_err());
        assert!(p.int("Bad", 0, 1).is_err());
        assert_eq!(p.required("N").unwrap(), "7");
        assert_eq!(
            params(&[("E", "")]).required("E").unwrap_err().code,
            "MissingParameter"
        );
    }

    #[test]
    fn paging() {
        let items: Vec<String> = (0..7).map(|i| format!("i-{i}")).collect();
        let page = |max, token: Option<String>| {
            paginate(
                items.clone(),
                |s| s.clone(),
                &Paging {
                    max_results: max,
                    next_token: token,
                },
            )
        };
        let (first, next) = page(Some(3), None).unwrap();
        assert_eq!(first, vec!["i-0", "i-1", "i-2"]);
        let (second, next) = page(Some(3), next).unwrap();
        assert_eq!(second, vec!["i-3", "i-4", "i-5"]);
        let (third, next) = page(Some(3), next).unwrap();
        assert_eq!((third, next), (vec!["i-6".to_string()], None));
        assert_eq!(page(None, None).unwrap().0.len(), 7);
        for bad in ["!!", "aS0x0", "bm9wZQ"] {
            assert_eq!(
                page(Some(3), Some(bad.into())).unwrap_err().code,
                "InvalidParameterValue"
            );
        }
    }

    #[test]
    fn wildcards() {
        assert!(glob("web*", "web-1"));
        assert!(glob("*", ""));
        assert!(glob("a?c", "abc"));
        assert!(!glob("a?c", "ac"));
        assert!(glob("*b*d", "abcbd"));
        assert!(!glob("*b*d", "abcbe"));
        assert!(glob("a\\*", "a*"));
        assert!(!glob("a\\*", "ab"));
        assert!(glob("exact", "exact"));
        assert!(!glob("exact", "exactly"));
        assert!(glob("é?", "éé"));
        // No exponential blow-up.
        let s = "a".repeat(5000);
        assert!(glob(&"*a".repeat(300), &s));
        assert!(!glob(&format!("{}b", "*a".repeat(300)), &s));
    }
}

//! Tags: CreateTags, DeleteTags, DescribeTags. Tags on instances are their server
//! metadata (merged by CreateTags, removed key by key by DeleteTags). Other resources
//! carry no tags here: naming one is an error, not a silent no-op.

use crate::bindings::metacloud::api::compute;
use crate::bindings::metacloud::api::types::{OpError, Server};
use crate::ids::{self, Kind};
use crate::instances::{instance_id, list_servers};
use crate::params::{paginate, Filter, Paging, Params, TagParam};
pub use crate::tag_rules::{check_tag_count, validate_tag, MAX_KEY, MAX_TAGS, MAX_VALUE};
use crate::xml::Xml;
use crate::{Ctx, Ec2Error, Family};

/// Resource-id prefixes of EC2 kinds this cloud has no tags for.
const OTHER_KINDS: &[&str] = &[
    "ami-",
    "aki-",
    "ari-",
    "key-",
    "sg-",
    "vol-",
    "snap-",
    "vpc-",
    "subnet-",
    "eni-",
    "eipalloc-",
    "igw-",
    "rtb-",
    "acl-",
    "dopt-",
    "lt-",
    "r-",
];

/// `ResourceId.N`: at least one, each an instance id.
pub fn resource_ids(p: &Params) -> Result<Vec<String>, Ec2Error> {
    let list = p.list("ResourceId")?;
    if list.is_empty() {
        return Err(Ec2Error::missing("ResourceId"));
    }
    for id in &list {
        if id.starts_with("i-") {
            ids::parse(Kind::Instance, id)?;
        } else if OTHER_KINDS.iter().any(|k| id.starts_with(k)) {
            return Err(Ec2Error::unsupported(format!(
                "The resource '{id}' cannot be tagged here: only instances carry tags."
            )));
        } else {
            return Err(Ec2Error::client(
                "InvalidID",
                format!("The ID '{id}' is not valid"),
            ));
        }
    }
    Ok(list.into_iter().map(String::from).collect())
}

/// A CreateTags request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateRequest {
    pub resources: Vec<String>,
    pub tags: Vec<(String, String)>,
}

impl CreateRequest {
    pub fn parse(p: &Params) -> Result<CreateRequest, Ec2Error> {
        let resources = resource_ids(p)?;
        let given = p.tags("Tag")?;
        if given.is_empty() {
            return Err(Ec2Error::missing("Tag"));
        }
        let mut tags: Vec<(String, String)> = Vec::new();
        for TagParam { key, value } in given {
            let value = value.unwrap_or_default();
            validate_tag(&key, &value)?;
            tags.retain(|(k, _)| *k != key);
            tags.push((key, value));
        }
        check_tag_count(tags.len())?;
        Ok(CreateRequest { resources, tags })
    }
}

/// A DeleteTags request: no tags means all of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteRequest {
    pub resources: Vec<String>,
    pub tags: Vec<TagParam>,
}

impl DeleteRequest {
    pub fn parse(p: &Params) -> Result<DeleteRequest, Ec2Error> {
        let resources = resource_ids(p)?;
        let tags = p.tags("Tag")?;
        for t in &tags {
            if t.key.is_empty() {
                return Err(Ec2Error::invalid("Tag keys cannot be empty."));
            }
        }
        Ok(DeleteRequest { resources, tags })
    }
}

/// The metadata keys DeleteTags removes from `metadata`: a tag without a value by key; with
/// one (even empty) only where the value matches; every key when no tag is named.
pub fn keys_to_delete(metadata: &[(String, String)], tags: &[TagParam]) -> Vec<String> {
    metadata
        .iter()
        .filter(|(k, v)| {
            tags.is_empty()
                || tags
                    .iter()
                    .any(|t| &t.key == k && t.value.as_ref().is_none_or(|want| want == v))
        })
        .map(|(k, _)| k.clone())
        .collect()
}

fn targets<'a>(servers: &'a [Server], ids_: &[String]) -> Result<Vec<&'a Server>, Ec2Error> {
    let names: Vec<&str> = ids_.iter().map(String::as_str).collect();
    ids::resolve_all(Kind::Instance, servers, |s| s.id.as_str(), &names)
}

fn ok_return() -> String {
    let mut x = Xml::new();
    x.boolean("return", true);
    x.finish()
}

pub fn create_tags(ctx: &Ctx) -> Result<String, Ec2Error> {
    let req = CreateRequest::parse(ctx.params)?;
    let servers = list_servers(ctx.caller, ctx.now_ms)?;
    for s in targets(&servers, &req.resources)? {
        compute::set_server_metadata(ctx.caller, &s.id, &req.tags, false)
            .map_err(|e| Ec2Error::from_op(e, Family::Instance))?;
    }
    Ok(ok_return())
}

pub fn delete_tags(ctx: &Ctx) -> Result<String, Ec2Error> {
    let req = DeleteRequest::parse(ctx.params)?;
    let servers = list_servers(ctx.caller, ctx.now_ms)?;
    for s in targets(&servers, &req.resources)? {
        for key in keys_to_delete(&s.metadata, &req.tags) {
            match compute::delete_server_metadata(ctx.caller, &s.id, &key) {
                // Gone already: what was asked.
                Ok(()) | Err(OpError::NotFound(_)) => {}
                Err(e) => return Err(Ec2Error::from_op(e, Family::Instance)),
            }
        }
    }
    Ok(ok_return())
}

pub const TAG_FILTERS: &[&str] = &["key", "resource-id", "resource-type", "value"];

/// A DescribeTags request.
#[derive(Debug, Clone, PartialEq)]
pub struct DescribeRequest {
    pub filters: Vec<Filter>,
    pub paging: Paging,
}

impl DescribeRequest {
    pub fn parse(p: &Params) -> Result<DescribeRequest, Ec2Error> {
        let filters = p.filters()?;
        for f in &filters {
            if !TAG_FILTERS.contains(&f.name.as_str()) {
                return Err(Ec2Error::invalid(format!(
                    "The filter '{}' is invalid",
                    f.name
                )));
            }
        }
        Ok(DescribeRequest {
            filters,
            paging: p.paging(5, 1000)?,
        })
    }
}

/// One tag of one resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagRow {
    pub resource_id: String,
    pub key: String,
    pub value: String,
}

/// Every instance tag that passes the filters, a page of them, and the next token.
pub fn select(
    servers: &[Server],
    req: &DescribeRequest,
) -> Result<(Vec<TagRow>, Option<String>), Ec2Error> {
    let rows: Vec<TagRow> = servers
        .iter()
        .flat_map(|s| {
            let id = instance_id(s);
            s.metadata.iter().map(move |(k, v)| TagRow {
                resource_id: id.clone(),
                key: k.clone(),
                value: v.clone(),
            })
        })
        .filter(|r| {
            req.filters.iter().all(|f| match f.name.as_str() {
                "key" => f.matches(&r.key),
                "resource-id" => f.matches(&r.resource_id),
                "resource-type" => f.matches("instance"),
                "value" => f.matches(&r.value),
                _ => false,
            })
        })
        .collect();
    paginate(
        rows,
        |r| format!("{}\n{}", r.resource_id, r.key),
        &req.paging,
    )
}

pub fn render_describe(rows: &[TagRow], next: Option<&str>) -> String {
    let mut x = Xml::new();
    x.set("tagSet", rows, |x, r| {
        x.leaf("resourceId", &r.resource_id)
            .leaf("resourceType", "instance")
            .leaf("key", &r.key)
            .leaf("value", &r.value);
    });
    if let Some(t) = next {
        x.leaf("nextToken", t);
    }
    x.finish()
}

pub fn describe_tags(ctx: &Ctx) -> Result<String, Ec2Error> {
    let req = DescribeRequest::parse(ctx.params)?;
    let servers = list_servers(ctx.caller, ctx.now_ms)?;
    let (rows, next) = select(&servers, &req)?;
    Ok(render_describe(&rows, next.as_deref()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{params, server};

    #[test]
    fn create_requests() {
        let r = CreateRequest::parse(&params(&[
            ("ResourceId.1", "i-0a000000"),
            ("Tag.1.Key", "Name"),
            ("Tag.1.Value", "web"),
            ("Tag.2.Key", "flag"),
            ("Tag.3.Key", "Name"),
            ("Tag.3.Value", "db"),
        ]))
        .unwrap();
        assert_eq!(r.resources, vec!["i-0a000000"]);
        assert_eq!(
            r.tags,
            vec![("flag".into(), "".into()), ("Name".into(), "db".into())]
        );
        let code = |list: &[(&str, &str)]| CreateRequest::parse(&params(list)).unwrap_err().code;
        assert_eq!(code(&[("Tag.1.Key", "k")]), "MissingParameter");
        assert_eq!(code(&[("ResourceId.1", "i-0a000000")]), "MissingParameter");
        assert_eq!(
            code(&[("ResourceId.1", "i-0a00"), ("Tag.1.Key", "k")]),
            "InvalidInstanceID.Malformed"
        );
        assert_eq!(
            code(&[("ResourceId.1", "ami-0a000000"), ("Tag.1.Key", "k")]),
            "Unsupported"
        );
        assert_eq!(
            code(&[("ResourceId.1", "vol-0a000000"), ("Tag.1.Key", "k")]),
            "Unsupported"
        );
        assert_eq!(
            code(&[("ResourceId.1", "<x>"), ("Tag.1.Key", "k")]),
            "InvalidID"
        );
        assert_eq!(
            code(&[("ResourceId.1", "i-0a000000"), ("Tag.1.Key", "aws:k")]),
            "InvalidParameterValue"
        );
        assert_eq!(
            code(&[("ResourceId.1", "i-0a000000"), ("Tag.1.Key", "")]),
            "InvalidParameterValue"
        );
        let long = "k".repeat(128);
        assert_eq!(
            code(&[("ResourceId.1", "i-0a000000"), ("Tag.1.Key", long.as_str())]),
            "InvalidParameterValue"
        );
        let many: Vec<(String, String)> = (1..=51)
            .map(|i| (format!("Tag.{i}.Key"), format!("k{i}")))
            .collect();
        let mut p: Vec<(&str, &str)> = many.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        p.push(("ResourceId.1", "i-0a000000"));
        assert_eq!(code(&p), "TagLimitExceeded");
    }

    #[test]
    fn delete_semantics() {
        let md = vec![
            ("a".to_string(), "1".to_string()),
            ("b".to_string(), "".to_string()),
            ("c".to_string(), "3".to_string()),
        ];
        let t = |key: &str, value: Option<&str>| TagParam {
            key: key.into(),
            value: value.map(String::from),
        };
        assert_eq!(keys_to_delete(&md, &[]), vec!["a", "b", "c"]);
        assert_eq!(keys_to_delete(&md, &[t("a", None)]), vec!["a"]);
        assert_eq!(
            keys_to_delete(&md, &[t("a", Some("2"))]),
            Vec::<String>::new()
        );
        assert_eq!(
            keys_to_delete(&md, &[t("a", Some("1")), t("b", Some(""))]),
            vec!["a", "b"]
        );
        assert_eq!(
            keys_to_delete(&md, &[t("c", Some("")), t("zz", None)]),
            Vec::<String>::new()
        );
        let r = DeleteRequest::parse(&params(&[("ResourceId.1", "i-0a000000")])).unwrap();
        assert!(r.tags.is_empty());
    }

    #[test]
    fn describe() {
        let mut a = server("0a000000-0000-0000-0000-000000000001", "active");
        a.metadata = vec![
            ("Name".into(), "web <1>".into()),
            ("env".into(), "prod".into()),
        ];
        let mut b = server("0b000000-0000-0000-0000-000000000002", "active");
        b.metadata = vec![("env".into(), "dev".into())];
        let servers = vec![a, b];
        let pick = |list: &[(&str, &str)]| {
            select(&servers, &DescribeRequest::parse(&params(list)).unwrap())
                .unwrap()
                .0
        };
        assert_eq!(pick(&[]).len(), 3);
        assert_eq!(
            pick(&[("Filter.1.Name", "key"), ("Filter.1.Value.1", "env")]).len(),
            2
        );
        assert_eq!(
            pick(&[
                ("Filter.1.Name", "resource-id"),
                ("Filter.1.Value.1", "i-0b000000000000000")
            ])
            .len(),
            1
        );
        assert_eq!(
            pick(&[
                ("Filter.1.Name", "resource-type"),
                ("Filter.1.Value.1", "image")
            ])
            .len(),
            0
        );
        assert_eq!(
            pick(&[("Filter.1.Name", "value"), ("Filter.1.Value.1", "web*")]).len(),
            1
        );
        assert!(DescribeRequest::parse(&params(&[
            ("Filter.1.Name", "tag:x"),
            ("Filter.1.Value.1", "y")
        ]))
        .is_err());
        let (first, next) = select(
            &servers,
            &DescribeRequest::parse(&params(&[("MaxResults", "5")])).unwrap(),
        )
        .unwrap();
        assert_eq!((first.len(), next), (3, None));
        let rows = pick(&[("Filter.1.Name", "key"), ("Filter.1.Value.1", "Name")]);
        assert_eq!(
            render_describe(&rows, None),
            "<tagSet><item><resourceId>i-0a000000000000000</resourceId><resourceType>instance</resourceType>\
             <key>Name</key><value>web &lt;1&gt;</value></item></tagSet>"
        );
    }

    #[test]
    fn describe_pages_through_many_tags() {
        let mut servers = Vec::new();
        for i in 0..3u32 {
            let mut s = server(&format!("{i:08x}-0000-0000-0000-000000000000"), "active");
            s.metadata = (0..4).map(|k| (format!("k{k}"), format!("v{k}"))).collect();
            servers.push(s);
        }
        let mut token: Option<String> = None;
        let mut seen = 0;
        loop {
            let mut p = vec![("MaxResults".to_string(), "5".to_string())];
            if let Some(t) = &token {
                p.push(("NextToken".to_string(), t.clone()));
            }
            let (rows, next) = select(
                &servers,
                &DescribeRequest::parse(&Params::from_pairs(p)).unwrap(),
            )
            .unwrap();
            seen += rows.len();
            match next {
                Some(t) => token = Some(t),
                None => break,
            }
        }
        assert_eq!(seen, 12);
    }
}

//! Key pairs: CreateKeyPair, ImportKeyPair, DescribeKeyPairs, DeleteKeyPair, over the
//! caller's compute key pairs. The host generates Ed25519 keys (OpenSSH format), so a
//! request for an RSA key or a PuTTY-format one is refused rather than answered with
//! something else. Key pair ids (`key-…`) are derived from the owner and the name.

use crate::bindings::metacloud::api::compute;
use crate::bindings::metacloud::api::types::{Keypair, OpError};
use crate::ids;
use crate::params::{Filter, Params};
use crate::xml::{iso8601, Xml};
use crate::{Ctx, Ec2Error, Family};
use base64::Engine;

/// EC2's limit on key names.
pub const MAX_NAME: usize = 255;

fn key_name(p: &Params) -> Result<&str, Ec2Error> {
    let name = p.required("KeyName")?;
    if name.chars().count() > MAX_NAME {
        return Err(Ec2Error::invalid(format!(
            "Value for parameter KeyName is invalid: it is longer than {MAX_NAME} characters."
        )));
    }
    Ok(name)
}

fn no_tag_specs(p: &Params) -> Result<(), Ec2Error> {
    if !p.tag_specs()?.is_empty() {
        return Err(Ec2Error::unsupported(
            "Tags on key pairs are not supported: only instances carry tags here.",
        ));
    }
    Ok(())
}

/// A CreateKeyPair request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateRequest {
    pub name: String,
}

impl CreateRequest {
    pub fn parse(p: &Params) -> Result<CreateRequest, Ec2Error> {
        let name = key_name(p)?;
        match p.get("KeyType") {
            None | Some("") | Some("ed25519") => {}
            Some(t) => {
                return Err(Ec2Error::invalid(format!(
                    "Value ({t}) for parameter KeyType is not supported: key pairs are generated \
                     as ed25519 here (import an RSA key with ImportKeyPair)."
                )))
            }
        }
        match p.get("KeyFormat") {
            None | Some("") | Some("pem") => {}
            Some(f) => {
                return Err(Ec2Error::invalid(format!(
                    "Value ({f}) for parameter KeyFormat is not supported: private keys are \
                     given in OpenSSH (pem) format."
                )))
            }
        }
        no_tag_specs(p)?;
        Ok(CreateRequest {
            name: name.to_string(),
        })
    }
}

/// The OpenSSH public key line in `PublicKeyMaterial`: base64 of it, as EC2 and boto3
/// send it (the raw line is taken too).
pub fn public_key_material(raw: &str) -> Result<String, Ec2Error> {
    let compact: String = raw.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    if let Some(text) = base64::engine::general_purpose::STANDARD
        .decode(&compact)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
    {
        let text = text.trim();
        if !text.is_empty() {
            return Ok(text.to_string());
        }
    }
    let raw = raw.trim();
    if raw.starts_with("ssh-") || raw.starts_with("ecdsa-") {
        return Ok(raw.to_string());
    }
    Err(Ec2Error::client(
        "InvalidKey.Format",
        "Key is not in valid OpenSSH public key format",
    ))
}

/// An ImportKeyPair request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportRequest {
    pub name: String,
    pub public_key: String,
}

impl ImportRequest {
    pub fn parse(p: &Params) -> Result<ImportRequest, Ec2Error> {
        let name = key_name(p)?;
        let public_key = public_key_material(p.required("PublicKeyMaterial")?)?;
        no_tag_specs(p)?;
        Ok(ImportRequest {
            name: name.to_string(),
            public_key,
        })
    }
}

pub const KEY_FILTERS: &[&str] = &["fingerprint", "key-name", "key-pair-id", "key-type"];

/// A DescribeKeyPairs request.
#[derive(Debug, Clone, PartialEq)]
pub struct DescribeRequest {
    pub names: Vec<String>,
    pub ids: Vec<String>,
    pub filters: Vec<Filter>,
    pub include_public_key: bool,
}

impl DescribeRequest {
    pub fn parse(p: &Params) -> Result<DescribeRequest, Ec2Error> {
        let filters = p.filters()?;
        for f in &filters {
            if !KEY_FILTERS.contains(&f.name.as_str()) {
                return Err(Ec2Error::invalid(format!(
                    "The filter '{}' is invalid",
                    f.name
                )));
            }
        }
        Ok(DescribeRequest {
            names: p.list("KeyName")?.into_iter().map(String::from).collect(),
            ids: p.list("KeyPairId")?.into_iter().map(String::from).collect(),
            filters,
            include_public_key: p.boolean("IncludePublicKey")?.unwrap_or(false),
        })
    }
}

/// EC2's key type of an OpenSSH public key.
pub fn key_type(public_key: &str) -> &str {
    let algo = public_key.split_whitespace().next().unwrap_or("");
    match algo {
        "ssh-ed25519" => "ed25519",
        "ssh-rsa" => "rsa",
        other => other.strip_prefix("ssh-").unwrap_or(other),
    }
}

pub fn key_pair_id(k: &Keypair) -> String {
    ids::key_pair_id(&k.user_id, &k.name)
}

fn not_found(name: &str) -> Ec2Error {
    Ec2Error::client(
        "InvalidKeyPair.NotFound",
        format!("The key pair '{name}' does not exist"),
    )
}

/// The key pairs a DescribeKeyPairs answers: each named one must exist.
pub fn select<'a>(all: &'a [Keypair], req: &DescribeRequest) -> Result<Vec<&'a Keypair>, Ec2Error> {
    for n in &req.names {
        if !all.iter().any(|k| &k.name == n) {
            return Err(not_found(n));
        }
    }
    for id in &req.ids {
        if !all.iter().any(|k| &key_pair_id(k) == id) {
            return Err(not_found(id));
        }
    }
    Ok(all
        .iter()
        .filter(|k| {
            ((req.names.is_empty() && req.ids.is_empty())
                || req.names.contains(&k.name)
                || req.ids.contains(&key_pair_id(k)))
                && req.filters.iter().all(|f| match f.name.as_str() {
                    "fingerprint" => f.matches(&k.fingerprint),
                    "key-name" => f.matches(&k.name),
                    "key-pair-id" => f.matches(&key_pair_id(k)),
                    "key-type" => f.matches(key_type(&k.public_key)),
                    _ => false,
                })
        })
        .collect())
}

pub fn render_describe(keys: &[&Keypair], include_public_key: bool) -> String {
    let mut x = Xml::new();
    x.set("keySet", keys, |x, k| {
        x.leaf("keyPairId", &key_pair_id(k))
            .leaf("keyType", key_type(&k.public_key))
            .elem("tagSet", |_| {})
            .leaf("keyName", &k.name)
            .leaf("keyFingerprint", &k.fingerprint);
        if include_public_key {
            x.leaf("publicKey", &k.public_key);
        }
        if k.created_at > 0 {
            x.leaf("createTime", &iso8601(k.created_at));
        }
    });
    x.finish()
}

/// The body of CreateKeyPair (`private_key` some) or ImportKeyPair.
pub fn render_created(k: &Keypair, private_key: Option<&str>) -> String {
    let mut x = Xml::new();
    x.leaf("keyName", &k.name)
        .leaf("keyFingerprint", &k.fingerprint);
    if let Some(pem) = private_key {
        x.leaf("keyMaterial", pem);
    }
    x.leaf("keyPairId", &key_pair_id(k)).elem("tagSet", |_| {});
    x.finish()
}

fn duplicate_or(e: OpError, name: &str, family: Family) -> Ec2Error {
    match e {
        OpError::Conflict(_) => Ec2Error::client(
            "InvalidKeyPair.Duplicate",
            format!("The keypair '{name}' already exists."),
        ),
        e => Ec2Error::from_op(e, family),
    }
}

pub fn create_key_pair(ctx: &Ctx) -> Result<String, Ec2Error> {
    let req = CreateRequest::parse(ctx.params)?;
    let made = compute::create_keypair(ctx.caller, &req.name, "ssh", None)
        .map_err(|e| duplicate_or(e, &req.name, Family::KeyPair))?;
    let pem = made
        .private_key
        .as_deref()
        .ok_or_else(|| Ec2Error::new(500, "InternalError", "The host generated no private key."))?;
    Ok(render_created(&made.keypair, Some(pem)))
}

pub fn import_key_pair(ctx: &Ctx) -> Result<String, Ec2Error> {
    let req = ImportRequest::parse(ctx.params)?;
    let made = compute::create_keypair(ctx.caller, &req.name, "ssh", Some(&req.public_key))
        .map_err(|e| duplicate_or(e, &req.name, Family::KeyImport))?;
    Ok(render_created(&made.keypair, None))
}

pub fn describe_key_pairs(ctx: &Ctx) -> Result<String, Ec2Error> {
    let req = DescribeRequest::parse(ctx.params)?;
    let all =
        compute::list_keypairs(ctx.caller).map_err(|e| Ec2Error::from_op(e, Family::KeyPair))?;
    let keys = select(&all, &req)?;
    Ok(render_describe(&keys, req.include_public_key))
}

/// What DeleteKeyPair names: a key name or a key pair id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeleteRequest {
    Name(String),
    Id(String),
}

impl DeleteRequest {
    pub fn parse(p: &Params) -> Result<DeleteRequest, Ec2Error> {
        match (
            p.get("KeyName").filter(|v| !v.is_empty()),
            p.get("KeyPairId").filter(|v| !v.is_empty()),
        ) {
            (Some(n), _) => Ok(DeleteRequest::Name(n.to_string())),
            (None, Some(id)) => Ok(DeleteRequest::Id(id.to_string())),
            (None, None) => Err(Ec2Error::missing("KeyName")),
        }
    }
}

/// Deleting a key pair that is not there succeeds, as on EC2.
pub fn delete_key_pair(ctx: &Ctx) -> Result<String, Ec2Error> {
    let c = ctx.caller;
    let name = match DeleteRequest::parse(ctx.params)? {
        DeleteRequest::Name(n) => Some(n),
        DeleteRequest::Id(id) => compute::list_keypairs(c)
            .map_err(|e| Ec2Error::from_op(e, Family::KeyPair))?
            .into_iter()
            .find(|k| key_pair_id(k) == id)
            .map(|k| k.name),
    };
    let mut id = None;
    if let Some(name) = name {
        id = Some(ids::key_pair_id(&c.user_id, &name));
        match compute::delete_keypair(c, &name) {
            Ok(()) | Err(OpError::NotFound(_)) => {}
            Err(e) => return Err(Ec2Error::from_op(e, Family::KeyPair)),
        }
    }
    let mut x = Xml::new();
    x.boolean("return", true);
    if let Some(id) = id {
        x.leaf("keyPairId", &id);
    }
    Ok(x.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::params;

    const ED: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGfm1yqbP2fXOOHJBu0Ry9ZBHS+zdFCm1J4mjnBL9yxu test";

    fn key(name: &str, public: &str) -> Keypair {
        Keypair {
            name: name.into(),
            user_id: "u1".into(),
            key_type: "ssh".into(),
            fingerprint: format!("fp-{name}"),
            public_key: public.into(),
            created_at: 1_764_594_957_000,
        }
    }

    #[test]
    fn create_requests() {
        assert_eq!(
            CreateRequest::parse(&params(&[("KeyName", "k")]))
                .unwrap()
                .name,
            "k"
        );
        assert_eq!(
            CreateRequest::parse(&params(&[("KeyName", "k"), ("KeyType", "ed25519")]))
                .unwrap()
                .name,
            "k"
        );
        assert_eq!(
            CreateRequest::parse(&params(&[])).unwrap_err().code,
            "MissingParameter"
        );
        assert_eq!(
            CreateRequest::parse(&params(&[("KeyName", "k"), ("KeyType", "rsa")]))
                .unwrap_err()
                .code,
            "InvalidParameterValue"
        );
        assert_eq!(
            CreateRequest::parse(&params(&[("KeyName", "k"), ("KeyFormat", "ppk")]))
                .unwrap_err()
                .code,
            "InvalidParameterValue"
        );
        let long = "k".repeat(256);
        assert_eq!(
            CreateRequest::parse(&params(&[("KeyName", long.as_str())]))
                .unwrap_err()
                .code,
            "InvalidParameterValue"
        );
        let tagged = params(&[
            ("KeyName", "k"),
            ("TagSpecification.1.ResourceType", "key-pair"),
            ("TagSpecification.1.Tag.1.Key", "a"),
        ]);
        assert_eq!(
            CreateRequest::parse(&tagged).unwrap_err().code,
            "Unsupported"
        );
    }

    #[test]
    fn public_key_material_is_base64_of_the_line() {
        let b64 = base64::engine::general_purpose::STANDARD.encode(format!("{ED}\n"));
        assert_eq!(public_key_material(&b64).unwrap(), ED);
        assert_eq!(public_key_material(ED).unwrap(), ED);
        assert_eq!(
            public_key_material("%%%").unwrap_err().code,
            "InvalidKey.Format"
        );
        let r = ImportRequest::parse(&params(&[
            ("KeyName", "k"),
            ("PublicKeyMaterial", b64.as_str()),
        ]))
        .unwrap();
        assert_eq!(r.public_key, ED);
        assert_eq!(
            ImportRequest::parse(&params(&[("KeyName", "k")]))
                .unwrap_err()
                .code,
            "MissingParameter"
        );
        assert_eq!(
            Ec2Error::from_op(OpError::BadRequest("x".into()), Family::KeyImport).code,
            "InvalidKey.Format"
        );
    }

    #[test]
    fn describe_selection() {
        let all = vec![key("a", ED), key("b<>", "ssh-rsa AAAA x")];
        let pick = |list: &[(&str, &str)]| {
            select(&all, &DescribeRequest::parse(&params(list)).unwrap())
                .map(|v| v.iter().map(|k| k.name.clone()).collect::<Vec<_>>())
                .map_err(|e| (e.code, e.message))
        };
        assert_eq!(pick(&[]).unwrap(), vec!["a", "b<>"]);
        assert_eq!(pick(&[("KeyName.1", "a")]).unwrap(), vec!["a"]);
        assert_eq!(
            pick(&[("KeyName.1", "a"), ("KeyName.2", "zz")]).unwrap_err(),
            (
                "InvalidKeyPair.NotFound",
                "The key pair 'zz' does not exist".to_string()
            )
        );
        let id = ids::key_pair_id("u1", "b<>");
        assert_eq!(pick(&[("KeyPairId.1", id.as_str())]).unwrap(), vec!["b<>"]);
        assert_eq!(
            pick(&[("Filter.1.Name", "key-type"), ("Filter.1.Value.1", "rsa")]).unwrap(),
            vec!["b<>"]
        );
        assert_eq!(
            pick(&[
                ("Filter.1.Name", "fingerprint"),
                ("Filter.1.Value.1", "fp-a")
            ])
            .unwrap(),
            vec!["a"]
        );
        assert!(DescribeRequest::parse(&params(&[
            ("Filter.1.Name", "x"),
            ("Filter.1.Value.1", "y")
        ]))
        .is_err());
    }

    #[test]
    fn key_xml() {
        let k = key("b<>", "ssh-rsa AAAA x");
        let body = render_describe(&[&k], true);
        assert_eq!(
            body,
            format!(
                "<keySet><item><keyPairId>{}</keyPairId><keyType>rsa</keyType><tagSet></tagSet>\
                 <keyName>b&lt;&gt;</keyName><keyFingerprint>fp-b&lt;&gt;</keyFingerprint>\
                 <publicKey>ssh-rsa AAAA x</publicKey><createTime>2025-12-01T13:15:57.000Z</createTime></item></keySet>",
                ids::key_pair_id("u1", "b<>")
            )
        );
        let created = render_created(
            &key("a", ED),
            Some("-----BEGIN OPENSSH PRIVATE KEY-----\n…"),
        );
        assert!(created.starts_with("<keyName>a</keyName><keyFingerprint>fp-a</keyFingerprint><keyMaterial>-----BEGIN OPENSSH PRIVATE KEY-----\n…</keyMaterial><keyPairId>key-"));
        assert!(!render_created(&key("a", ED), None).contains("keyMaterial"));
        assert_eq!(key_type(ED), "ed25519");
        assert_eq!(key_type("ecdsa-sha2-nistp256 AAAA"), "ecdsa-sha2-nistp256");
        assert_eq!(key_type(""), "");
    }

    #[test]
    fn delete_requests() {
        assert_eq!(
            DeleteRequest::parse(&params(&[("KeyName", "k")])).unwrap(),
            DeleteRequest::Name("k".into())
        );
        assert_eq!(
            DeleteRequest::parse(&params(&[("KeyPairId", "key-1")])).unwrap(),
            DeleteRequest::Id("key-1".into())
        );
        assert_eq!(
            DeleteRequest::parse(&params(&[])).unwrap_err().code,
            "MissingParameter"
        );
    }
}

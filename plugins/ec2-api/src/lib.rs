//! The EC2 Query API (version 2016-11-15) as a dialect plugin, as boto3, the AWS CLI and
//! other EC2 clients speak it: `POST /` with a form-encoded body (or `GET /` with a query
//! string), `Action` and `Version` parameters, every request signed with AWS Signature
//! Version 4, and XML answers in the `http://ec2.amazonaws.com/doc/2016-11-15/` namespace.
//!
//! There is no Keystone token here: the routes are public, and the plugin builds the
//! canonical request and string to sign ([`sigv4`]) for the host to verify against the
//! secret it holds (`signatures::verify-signature`), which yields the caller. Instances and
//! images get EC2 ids ([`ids`]); tags on instances are their metadata. Addresses and
//! security groups are EC2-Classic's ([`addresses`], [`security_groups`]); VPC actions and
//! block storage are not built: they answer `Unsupported`, never a pretend success.
//!
//! Modules: [`params`] (form parsing, indexed lists, filters, tag specifications), [`xml`]
//! (the response writer), and one per resource family ([`instances`], [`images`],
//! [`keypairs`], [`tags`], [`regions`], [`addresses`], [`security_groups`]). Each holds pure parsing and shaping functions,
//! unit-tested natively, and thin handlers that call the imports.

metacloud_sdk::dialect_plugin!(Ec2, "../../wit/api");

pub mod addresses;
pub mod ids;
pub mod images;
pub mod instances;
pub mod keypairs;
pub mod params;
pub mod regions;
pub mod security_groups;
pub mod sigv4;
mod tag_rules;
pub mod tags;
pub mod xml;

use bindings::metacloud::api::signatures;
use bindings::metacloud::api::types::{Caller, OpError};
use metacloud_sdk::dialect::{Access, Dialect, Fault, Reply, Route, Router};
use params::Params;
use sha2::{Digest, Sha256};

/// The API version this dialect speaks.
pub const API_VERSION: &str = "2016-11-15";
/// The service name in SigV4 credential scopes.
pub const SERVICE: &str = "ec2";
const CONTENT_TYPE: &str = "text/xml;charset=UTF-8";

/// An EC2 error: HTTP status, EC2 error code and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ec2Error {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
}

/// Which resource an operation's `op-error` is about, for the EC2 error code it becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    Instance,
    /// Creating instances: what is not found is a parameter's value.
    Launch,
    Image,
    KeyPair,
    /// Importing a key: bad input is the key's format.
    KeyImport,
    /// Elastic (floating) addresses.
    Address,
    SecurityGroup,
    /// Security group rules (IpPermissions).
    Rule,
    Other,
}

impl Ec2Error {
    pub fn new(status: u16, code: &'static str, message: impl Into<String>) -> Ec2Error {
        Ec2Error {
            status,
            code,
            message: message.into(),
        }
    }

    /// A client error (400).
    pub fn client(code: &'static str, message: impl Into<String>) -> Ec2Error {
        Ec2Error::new(400, code, message)
    }

    /// `AuthFailure` (401).
    pub fn auth(message: impl Into<String>) -> Ec2Error {
        Ec2Error::new(401, "AuthFailure", message)
    }

    /// `MissingParameter`.
    pub fn missing(name: &str) -> Ec2Error {
        Ec2Error::client(
            "MissingParameter",
            format!("The request must contain the parameter {name}"),
        )
    }

    /// `InvalidParameterValue`.
    pub fn invalid(message: impl Into<String>) -> Ec2Error {
        Ec2Error::client("InvalidParameterValue", message)
    }

    /// `UnknownParameter`.
    pub fn unknown_parameter(name: &str) -> Ec2Error {
        Ec2Error::client(
            "UnknownParameter",
            format!("The parameter {name} is not recognized"),
        )
    }

    /// `Unsupported` (400): something EC2 has and this cloud does not.
    pub fn unsupported(message: impl Into<String>) -> Ec2Error {
        Ec2Error::client("Unsupported", message)
    }

    /// An import's error as EC2 words it for `family`.
    pub fn from_op(e: OpError, family: Family) -> Ec2Error {
        use Family::*;
        match e {
            OpError::NotFound(m) => Ec2Error::client(
                match family {
                    Instance => "InvalidInstanceID.NotFound",
                    Image => "InvalidAMIID.NotFound",
                    KeyPair | KeyImport => "InvalidKeyPair.NotFound",
                    Address => "InvalidAddress.NotFound",
                    SecurityGroup | Rule => "InvalidGroup.NotFound",
                    Launch | Other => "InvalidParameterValue",
                },
                m,
            ),
            OpError::Conflict(m) => Ec2Error::client(
                match family {
                    Instance => "IncorrectInstanceState",
                    KeyPair | KeyImport => "InvalidKeyPair.Duplicate",
                    Address => "InvalidIPAddress.InUse",
                    SecurityGroup => "InvalidGroup.InUse",
                    Rule => "InvalidPermission.Duplicate",
                    Launch => "InvalidParameterValue",
                    Image | Other => "IncorrectState",
                },
                m,
            ),
            OpError::Forbidden(m) => match (family, is_quota(&m)) {
                (Address, true) => Ec2Error::client("AddressLimitExceeded", m),
                (SecurityGroup, true) => Ec2Error::client("SecurityGroupLimitExceeded", m),
                (Rule, true) => Ec2Error::client("RulesPerSecurityGroupLimitExceeded", m),
                _ => Ec2Error::new(
                    403,
                    "UnauthorizedOperation",
                    format!("You are not authorized to perform this operation: {m}"),
                ),
            },
            OpError::BadRequest(m) => Ec2Error::client(
                match family {
                    KeyImport => "InvalidKey.Format",
                    Rule if m.contains("already exists") => "InvalidPermission.Duplicate",
                    SecurityGroup if m.contains("already exists") => "InvalidGroup.Duplicate",
                    SecurityGroup if m.contains("cannot be deleted") => "InvalidGroup.InUse",
                    _ => "InvalidParameterValue",
                },
                m,
            ),
            OpError::QuotaExceeded(q) => Ec2Error::client(
                match (family, q.resource.as_str()) {
                    (_, "cores") => "VcpuLimitExceeded",
                    (Instance | Launch, _) => "InstanceLimitExceeded",
                    (Address, _) => "AddressLimitExceeded",
                    (SecurityGroup, _) => "SecurityGroupLimitExceeded",
                    (Rule, _) => "RulesPerSecurityGroupLimitExceeded",
                    _ => "ResourceLimitExceeded",
                },
                format!(
                    "Quota exceeded for {}: requested {}, {} of {} already in use.",
                    q.resource, q.requested, q.used, q.limit
                ),
            ),
            OpError::Unavailable(m) => Ec2Error::new(503, "Unavailable", m),
            OpError::Internal(m) => Ec2Error::new(500, "InternalError", m),
        }
    }

    /// `InvalidAddress.NotFound` for an address the caller does not hold.
    pub fn address_not_found(address: &str) -> Ec2Error {
        Ec2Error::client(
            "InvalidAddress.NotFound",
            format!("Address '{address}' not found."),
        )
    }

    /// The error for a status the host decided (`render-error`).
    pub fn for_status(status: u16, message: &str) -> Ec2Error {
        let code = match status {
            401 => "AuthFailure",
            403 => "UnauthorizedOperation",
            404 => "InvalidAction",
            405 => "UnsupportedOperation",
            429 => "RequestLimitExceeded",
            500 => "InternalError",
            503 => "Unavailable",
            s if (400..500).contains(&s) => "InvalidRequest",
            _ => "InternalError",
        };
        Ec2Error::new(status, code, message)
    }
}

/// Whether a host refusal is about a quota (the host words networking quotas so, as Nova's
/// 403s are).
fn is_quota(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("quota")
}

/// What a handler sees: the caller the signature established, the parameters, the
/// request headers and the time.
pub struct Ctx<'a> {
    pub caller: &'a Caller,
    pub params: &'a Params,
    pub headers: &'a [(String, String)],
    /// Milliseconds since the epoch.
    pub now_ms: i64,
}

/// One EC2 action: its handler (which returns the XML after `requestId`) and the pure
/// validation of its parameters (what the handler parses first; dry runs stop there).
#[derive(Debug)]
pub struct Action {
    pub name: &'static str,
    pub run: fn(&Ctx) -> Result<String, Ec2Error>,
    pub check: fn(&Params) -> Result<(), Ec2Error>,
}

/// The actions served.
pub const ACTIONS: &[Action] = &[
    Action {
        name: "DescribeRegions",
        run: regions::describe_regions,
        check: |p| regions::RegionsRequest::parse(p).map(drop),
    },
    Action {
        name: "DescribeAvailabilityZones",
        run: regions::describe_availability_zones,
        check: |p| regions::ZonesRequest::parse(p).map(drop),
    },
    Action {
        name: "DescribeInstanceTypes",
        run: regions::describe_instance_types,
        check: |p| regions::TypesRequest::parse(p).map(drop),
    },
    Action {
        name: "CreateKeyPair",
        run: keypairs::create_key_pair,
        check: |p| keypairs::CreateRequest::parse(p).map(drop),
    },
    Action {
        name: "ImportKeyPair",
        run: keypairs::import_key_pair,
        check: |p| keypairs::ImportRequest::parse(p).map(drop),
    },
    Action {
        name: "DescribeKeyPairs",
        run: keypairs::describe_key_pairs,
        check: |p| keypairs::DescribeRequest::parse(p).map(drop),
    },
    Action {
        name: "DeleteKeyPair",
        run: keypairs::delete_key_pair,
        check: |p| keypairs::DeleteRequest::parse(p).map(drop),
    },
    Action {
        name: "DescribeImages",
        run: images::describe_images,
        check: |p| images::DescribeRequest::parse(p).map(drop),
    },
    Action {
        name: "DeregisterImage",
        run: images::deregister_image,
        check: |p| images::deregister_target(p).map(drop),
    },
    Action {
        name: "RunInstances",
        run: instances::run_instances,
        check: |p| instances::RunRequest::parse(p).map(drop),
    },
    Action {
        name: "DescribeInstances",
        run: instances::describe_instances,
        check: |p| instances::DescribeRequest::parse(p).map(drop),
    },
    Action {
        name: "DescribeInstanceStatus",
        run: instances::describe_instance_status,
        check: |p| instances::StatusRequest::parse(p).map(drop),
    },
    Action {
        name: "TerminateInstances",
        run: instances::terminate_instances,
        check: |p| instances::instance_ids(p).map(drop),
    },
    Action {
        name: "StartInstances",
        run: instances::start_instances,
        check: |p| instances::instance_ids(p).map(drop),
    },
    Action {
        name: "StopInstances",
        run: instances::stop_instances,
        check: |p| instances::instance_ids(p).map(drop),
    },
    Action {
        name: "RebootInstances",
        run: instances::reboot_instances,
        check: |p| instances::instance_ids(p).map(drop),
    },
    Action {
        name: "GetConsoleOutput",
        run: instances::get_console_output,
        check: |p| instances::console_target(p).map(drop),
    },
    Action {
        name: "AllocateAddress",
        run: addresses::allocate_address,
        check: |p| addresses::AllocateRequest::parse(p).map(drop),
    },
    Action {
        name: "AssociateAddress",
        run: addresses::associate_address,
        check: |p| addresses::AssociateRequest::parse(p).map(drop),
    },
    Action {
        name: "DisassociateAddress",
        run: addresses::disassociate_address,
        check: |p| addresses::address_target(p).map(drop),
    },
    Action {
        name: "ReleaseAddress",
        run: addresses::release_address,
        check: |p| addresses::address_target(p).map(drop),
    },
    Action {
        name: "DescribeAddresses",
        run: addresses::describe_addresses,
        check: |p| addresses::DescribeRequest::parse(p).map(drop),
    },
    Action {
        name: "CreateSecurityGroup",
        run: security_groups::create_security_group,
        check: |p| security_groups::CreateRequest::parse(p).map(drop),
    },
    Action {
        name: "DeleteSecurityGroup",
        run: security_groups::delete_security_group,
        check: |p| security_groups::group_ref(p).map(drop),
    },
    Action {
        name: "DescribeSecurityGroups",
        run: security_groups::describe_security_groups,
        check: |p| security_groups::DescribeRequest::parse(p).map(drop),
    },
    Action {
        name: "AuthorizeSecurityGroupIngress",
        run: security_groups::authorize_ingress,
        check: |p| security_groups::RulesRequest::parse(p).map(drop),
    },
    Action {
        name: "AuthorizeSecurityGroupEgress",
        run: security_groups::authorize_egress,
        check: |p| security_groups::RulesRequest::parse(p).map(drop),
    },
    Action {
        name: "RevokeSecurityGroupIngress",
        run: security_groups::revoke_ingress,
        check: |p| security_groups::RulesRequest::parse(p).map(drop),
    },
    Action {
        name: "RevokeSecurityGroupEgress",
        run: security_groups::revoke_egress,
        check: |p| security_groups::RulesRequest::parse(p).map(drop),
    },
    Action {
        name: "CreateTags",
        run: tags::create_tags,
        check: |p| tags::CreateRequest::parse(p).map(drop),
    },
    Action {
        name: "DeleteTags",
        run: tags::delete_tags,
        check: |p| tags::DeleteRequest::parse(p).map(drop),
    },
    Action {
        name: "DescribeTags",
        run: tags::describe_tags,
        check: |p| tags::DescribeRequest::parse(p).map(drop),
    },
];

/// Networking actions of VPCs (this cloud's addresses and security groups are
/// EC2-Classic's): answered `Unsupported`.
pub const NETWORKING: &[&str] = &[
    "AttachInternetGateway",
    "AttachNetworkInterface",
    "CreateInternetGateway",
    "CreateNetworkInterface",
    "CreateRoute",
    "CreateRouteTable",
    "CreateSubnet",
    "CreateVpc",
    "DeleteInternetGateway",
    "DeleteNetworkInterface",
    "DeleteRouteTable",
    "DeleteSubnet",
    "DeleteVpc",
    "DescribeInternetGateways",
    "DescribeNetworkInterfaces",
    "DescribeRouteTables",
    "DescribeSecurityGroupRules",
    "DescribeSubnets",
    "DescribeVpcs",
    "DetachInternetGateway",
    "DetachNetworkInterface",
    "ModifySecurityGroupRules",
];

/// Block-storage actions: answered `Unsupported` (there is no volume service).
pub const STORAGE: &[&str] = &[
    "AttachVolume",
    "CopySnapshot",
    "CreateSnapshot",
    "CreateVolume",
    "DeleteSnapshot",
    "DeleteVolume",
    "DescribeSnapshots",
    "DescribeVolumeStatus",
    "DescribeVolumes",
    "DetachVolume",
    "ModifyVolume",
];

/// The action a request names, or the EC2 error for its `Action` and `Version`.
pub fn select_action(p: &Params) -> Result<&'static Action, Ec2Error> {
    let name = match p.get("Action") {
        Some(a) if !a.is_empty() => a,
        _ => {
            return Err(Ec2Error::client(
                "MissingAction",
                "The request must contain the parameter Action",
            ))
        }
    };
    if NETWORKING.contains(&name) {
        return Err(Ec2Error::unsupported(format!(
            "The action {name} is not supported: there are no VPCs here (no subnets, route \
             tables, gateways or network interfaces); addresses and security groups are \
             EC2-Classic's."
        )));
    }
    if STORAGE.contains(&name) {
        return Err(Ec2Error::unsupported(format!(
            "The action {name} is not supported: block storage (volumes, snapshots) is not built yet."
        )));
    }
    let action = ACTIONS.iter().find(|a| a.name == name).ok_or_else(|| {
        Ec2Error::client(
            "InvalidAction",
            format!("The action {name} is not valid for this web service."),
        )
    })?;
    p.required("Version")?;
    Ok(action)
}

/// A request id when the host gave none (before authentication): UUID-shaped, from the
/// request and a per-call random seed.
pub fn fresh_request_id(seed: &[u8]) -> String {
    use std::hash::BuildHasher;
    let random = std::collections::hash_map::RandomState::new().hash_one(seed);
    let mut h = Sha256::new();
    h.update(seed);
    h.update(random.to_le_bytes());
    let d = hex::encode(h.finalize());
    format!(
        "{}-{}-4{}-a{}-{}",
        &d[0..8],
        &d[8..12],
        &d[12..15],
        &d[15..18],
        &d[18..30]
    )
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis().min(i64::MAX as u128) as i64)
        .unwrap_or(0)
}

fn xml_response(status: u16, body: String) -> Reply {
    Reply::bytes(status, CONTENT_TYPE, body.into_bytes())
}

/// The error document of `e`.
pub fn error_response(e: &Ec2Error, request_id: &str) -> Reply {
    xml_response(e.status, xml::error(e.code, &e.message, request_id))
}

/// The request as signing sees it.
fn raw(req: &Request) -> sigv4::RawRequest<'_> {
    sigv4::RawRequest {
        method: &req.method,
        path: &req.path,
        query: &req.query,
        headers: &req.headers,
        body: &req.body,
    }
}

/// What a request needs before the host is asked anything: its signature and its
/// parameters (pure, so garbage can be thrown at it natively).
pub fn prepare(req: &Request) -> Result<(sigv4::Signed, Params), Ec2Error> {
    let signed = sigv4::prepare(&raw(req), SERVICE)?;
    let params = Params::from_request(&req.method, &req.query, &req.headers, &req.body)?;
    Ok((signed, params))
}

/// Serves one request; `request_id` is set once the caller (and so the host's id) is known.
fn serve(
    req: &Request,
    request_id: &mut Option<String>,
) -> Result<(&'static str, String), Ec2Error> {
    let (signed, params) = prepare(req)?;
    let caller = signatures::verify_signature(
        &signed.access_key,
        &signed.string_to_sign,
        &signed.signature,
        &signed.scope,
    )
    .ok_or_else(|| {
        Ec2Error::auth(
            "AWS was not able to validate the provided access credentials: the signature does \
             not match, the access key is unknown, or the request time is too far from ours.",
        )
    })?;
    if !caller.request_id.is_empty() {
        *request_id = Some(caller.request_id.clone());
    }
    let action = select_action(&params)?;
    if params.boolean("DryRun")? == Some(true) {
        (action.check)(&params)?;
        return Err(Ec2Error::new(
            412,
            "DryRunOperation",
            "Request would have succeeded, but DryRun flag is set.",
        ));
    }
    let ctx = Ctx {
        caller: &caller,
        params: &params,
        headers: &req.headers,
        now_ms: now_ms(),
    };
    Ok((action.name, (action.run)(&ctx)?))
}

/// Serves one request: the action's XML, or its error in EC2's format.
pub fn dispatch(req: &Request) -> Reply {
    let mut request_id = None;
    let result = serve(req, &mut request_id);
    let request_id = request_id.unwrap_or_else(|| {
        let mut seed = Vec::with_capacity(req.body.len() + req.path.len() + 64);
        seed.extend_from_slice(req.method.as_bytes());
        seed.extend_from_slice(req.path.as_bytes());
        for (k, v) in req.headers.iter().chain(&req.query) {
            seed.extend_from_slice(k.as_bytes());
            seed.extend_from_slice(v.as_bytes());
        }
        seed.extend_from_slice(&req.body);
        fresh_request_id(&seed)
    });
    match result {
        Ok((action, body)) => xml_response(200, xml::response(action, &request_id, &body)),
        Err(e) => error_response(&e, &request_id),
    }
}

/// A request as the plugin receives it (its caller is always none: EC2 requests carry a
/// signature, not a token).
pub type Request = metacloud_sdk::dialect::Request<Caller>;

/// The one handler of both routes: the action's XML, or its error in EC2's format (both
/// carry the request id, so errors are answered here rather than as a [`Fault`]).
fn handle(req: &Request) -> Result<Reply, Fault> {
    Ok(dispatch(req))
}

/// The EC2 Query API.
pub struct Ec2;

impl Dialect for Ec2 {
    const NAME: &'static str = "ec2-query";
    type Caller = Caller;
    /// The EC2 endpoint is the root, by POST (form body) or GET (query string). Public:
    /// the signature, not a token, authenticates.
    const ROUTER: Router<Caller> = Router::new(&[
        Route::post("/", Access::Public, handle),
        Route::get("/", Access::Public, handle),
    ]);

    /// An EC2 error document for a status the host (or the SDK) decided.
    fn fault(status: u16, message: &str) -> Reply {
        let e = Ec2Error::for_status(status, message);
        error_response(&e, &fresh_request_id(message.as_bytes()))
    }
}

#[cfg(test)]
pub(crate) mod testing;

#[cfg(test)]
mod tests {
    use super::*;
    use bindings::metacloud::api::types::QuotaError;

    fn params(list: &[(&str, &str)]) -> Params {
        Params::from_pairs(list.iter().copied())
    }

    #[test]
    fn routes_are_public_at_the_root() {
        let r = Ec2::ROUTER.routes();
        assert_eq!(r.len(), 2);
        for route in r {
            assert_eq!((route.path, route.access), ("/", Access::Public));
        }
        assert_eq!((r[0].method, r[1].method), ("POST", "GET"));
    }

    #[test]
    fn actions_are_selected_by_name() {
        let a = select_action(&params(&[
            ("Action", "DescribeInstances"),
            ("Version", API_VERSION),
        ]))
        .unwrap();
        assert_eq!(a.name, "DescribeInstances");
        let e = select_action(&params(&[("Version", API_VERSION)])).unwrap_err();
        assert_eq!((e.status, e.code), (400, "MissingAction"));
        let e = select_action(&params(&[("Action", ""), ("Version", API_VERSION)])).unwrap_err();
        assert_eq!(e.code, "MissingAction");
        let e = select_action(&params(&[("Action", "DescribeInstances")])).unwrap_err();
        assert_eq!(
            (e.code, e.message.as_str()),
            (
                "MissingParameter",
                "The request must contain the parameter Version"
            )
        );
        let e = select_action(&params(&[
            ("Action", "<Launch&Missiles>"),
            ("Version", API_VERSION),
        ]))
        .unwrap_err();
        assert_eq!((e.status, e.code), (400, "InvalidAction"));
        for net in ["CreateVpc", "DescribeSubnets", "DescribeNetworkInterfaces"] {
            let e =
                select_action(&params(&[("Action", net), ("Version", API_VERSION)])).unwrap_err();
            assert_eq!((e.status, e.code), (400, "Unsupported"), "{net}");
            assert!(e.message.contains("VPCs"), "{}", e.message);
        }
        for served in [
            "DescribeSecurityGroups",
            "AuthorizeSecurityGroupIngress",
            "RevokeSecurityGroupEgress",
            "AllocateAddress",
            "DescribeAddresses",
        ] {
            let a = select_action(&params(&[("Action", served), ("Version", API_VERSION)]));
            assert_eq!(a.unwrap().name, served);
        }
        let e = select_action(&params(&[
            ("Action", "CreateVolume"),
            ("Version", API_VERSION),
        ]))
        .unwrap_err();
        assert_eq!(e.code, "Unsupported");
    }

    #[test]
    fn action_names_are_unique_and_disjoint_from_unsupported_ones() {
        let mut names: Vec<&str> = ACTIONS.iter().map(|a| a.name).collect();
        names.extend(NETWORKING);
        names.extend(STORAGE);
        let n = names.len();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), n);
        // Action names end up in element names: letters only.
        for a in ACTIONS {
            assert!(
                a.name.bytes().all(|b| b.is_ascii_alphabetic()),
                "{}",
                a.name
            );
        }
    }

    #[test]
    fn op_errors_become_ec2_codes() {
        let cases = [
            (
                OpError::NotFound("x".into()),
                Family::Instance,
                400,
                "InvalidInstanceID.NotFound",
            ),
            (
                OpError::NotFound("x".into()),
                Family::Image,
                400,
                "InvalidAMIID.NotFound",
            ),
            (
                OpError::NotFound("x".into()),
                Family::KeyPair,
                400,
                "InvalidKeyPair.NotFound",
            ),
            (
                OpError::NotFound("x".into()),
                Family::Launch,
                400,
                "InvalidParameterValue",
            ),
            (
                OpError::Conflict("x".into()),
                Family::Instance,
                400,
                "IncorrectInstanceState",
            ),
            (
                OpError::Conflict("x".into()),
                Family::KeyPair,
                400,
                "InvalidKeyPair.Duplicate",
            ),
            (
                OpError::Forbidden("x".into()),
                Family::Other,
                403,
                "UnauthorizedOperation",
            ),
            (
                OpError::BadRequest("x".into()),
                Family::Instance,
                400,
                "InvalidParameterValue",
            ),
            (
                OpError::BadRequest("x".into()),
                Family::KeyImport,
                400,
                "InvalidKey.Format",
            ),
            (
                OpError::Unavailable("x".into()),
                Family::Other,
                503,
                "Unavailable",
            ),
            (
                OpError::Internal("x".into()),
                Family::Other,
                500,
                "InternalError",
            ),
        ];
        for (e, family, status, code) in cases {
            let got = Ec2Error::from_op(e, family);
            assert_eq!((got.status, got.code), (status, code));
        }
        let quota = |r: &str| {
            OpError::QuotaExceeded(QuotaError {
                resource: r.into(),
                requested: 2,
                used: 9,
                limit: 10,
            })
        };
        let e = Ec2Error::from_op(quota("instances"), Family::Launch);
        assert_eq!((e.status, e.code), (400, "InstanceLimitExceeded"));
        assert_eq!(
            e.message,
            "Quota exceeded for instances: requested 2, 9 of 10 already in use."
        );
        assert_eq!(
            Ec2Error::from_op(quota("cores"), Family::Launch).code,
            "VcpuLimitExceeded"
        );
        assert_eq!(
            Ec2Error::from_op(quota("key_pairs"), Family::KeyPair).code,
            "ResourceLimitExceeded"
        );
    }

    #[test]
    fn host_refusals_in_ec2_terms() {
        for (status, code) in [
            (401, "AuthFailure"),
            (403, "UnauthorizedOperation"),
            (404, "InvalidAction"),
            (405, "UnsupportedOperation"),
            (413, "InvalidRequest"),
            (500, "InternalError"),
            (503, "Unavailable"),
            (502, "InternalError"),
        ] {
            let e = Ec2Error::for_status(status, "m");
            assert_eq!((e.status, e.code), (status, code));
        }
        let (status, headers, body) =
            error_response(&Ec2Error::for_status(413, "too <big>"), "rid").into_parts();
        assert_eq!(status, 413);
        assert_eq!(
            headers,
            vec![("content-type".to_string(), CONTENT_TYPE.to_string())]
        );
        let body = String::from_utf8(body).unwrap();
        assert!(
            body.contains("<Code>InvalidRequest</Code><Message>too &lt;big&gt;</Message>"),
            "{body}"
        );
        assert!(
            body.ends_with("<RequestID>rid</RequestID></Response>"),
            "{body}"
        );
    }

    #[test]
    fn request_ids_look_fresh() {
        let a = fresh_request_id(b"x");
        let b = fresh_request_id(b"x");
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        assert_eq!(a.matches('-').count(), 4);
        assert_eq!(&a[14..15], "4");
    }

    /// Garbage requests never panic and always fail as a 4xx before the host is asked.
    #[test]
    fn garbage_requests_are_refused_before_the_host() {
        for req in testing::garbage_requests() {
            if let Err(e) = prepare(&req) {
                assert!((400..500).contains(&e.status), "{req:?} -> {e:?}");
            }
        }
    }

    /// Every action's parameter checks, over malformed parameters: 4xx errors, no panic.
    #[test]
    fn garbage_parameters_never_panic() {
        let sets = testing::garbage_params();
        assert!(sets.len() > 200);
        for a in ACTIONS {
            for p in &sets {
                if let Err(e) = (a.check)(p) {
                    assert!((400..500).contains(&e.status), "{} {p:?} -> {e:?}", a.name);
                }
            }
        }
        for p in &sets {
            if let Err(e) = select_action(p) {
                assert_eq!(e.status, 400);
            }
        }
    }

    /// What parses is selected and rendered over sample data without a panic, and the
    /// result is well-formed enough to hold no raw `<` from the input.
    #[test]
    fn garbage_parameters_through_selection_and_rendering() {
        use testing::{flavor, server};
        let mut a = server("0a000000-0000-0000-0000-000000000001", "active");
        a.metadata = vec![("Name".into(), "<web>".into())];
        let servers = vec![a, server("0b000000-0000-0000-0000-000000000002", "deleted")];
        let flavors = vec![flavor("1", "m1.small", 1, 2048, 20)];
        let image = images::ImageView {
            id: "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0".into(),
            name: "<img>".into(),
            status: "active".into(),
            owner: Some("p1".into()),
            public: Some(true),
            created_at: 0,
            properties: vec![],
        };
        let all_images = vec![image];
        let groups = vec![bindings::metacloud::api::types::SecurityGroup {
            id: "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0".into(),
            project_id: "p1".into(),
            name: "<web>".into(),
            description: "<img>".into(),
            rules: vec![],
        }];
        let floating = vec![bindings::metacloud::api::types::FloatingIp {
            address: "192.0.2.5".into(),
            pool: "<web>".into(),
            interface: "eth0".into(),
            project_id: Some("p1".into()),
            fixed_address: Some("<img>".into()),
            instance_id: Some("<web>".into()),
            host: None,
            port_id: None,
        }];
        let check = |body: String| {
            assert!(
                !body.contains("<>") && !body.contains("<web>") && !body.contains("<img>"),
                "{body}"
            );
        };
        for p in testing::garbage_params() {
            if let Ok(req) = instances::DescribeRequest::parse(&p) {
                if let Ok((page, next)) = instances::select(&servers, &req, &instances::Nets::new())
                {
                    check(instances::render_describe(
                        &servers,
                        &page,
                        next.as_deref(),
                        &instances::Nets::new(),
                    ));
                }
            }
            if let Ok(req) = instances::StatusRequest::parse(&p) {
                if let Ok((page, next)) = instances::select_status(&servers, &req) {
                    check(instances::render_status(&page, next.as_deref()));
                }
            }
            if let Ok(req) = images::DescribeRequest::parse(&p) {
                if let Ok((page, next)) = images::select(&all_images, &req, "p1") {
                    check(images::render_describe(&page, next.as_deref()));
                }
            }
            if let Ok(req) = tags::DescribeRequest::parse(&p) {
                if let Ok((rows, next)) = tags::select(&servers, &req) {
                    check(tags::render_describe(&rows, next.as_deref()));
                }
            }
            if let Ok(req) = regions::TypesRequest::parse(&p) {
                if let Ok((page, next)) = regions::select_types(&flavors, &req) {
                    check(regions::render_types(&page, next.as_deref()));
                }
            }
            if let Ok(req) = security_groups::DescribeRequest::parse(&p) {
                if let Ok(page) = security_groups::select(&groups, &req) {
                    check(security_groups::render_describe(&page, &groups));
                }
            }
            if let Ok(req) = addresses::DescribeRequest::parse(&p) {
                if let Ok(list) = addresses::select(&floating, &req) {
                    check(addresses::render_describe(&list));
                }
            }
            if let Ok(req) = regions::RegionsRequest::parse(&p) {
                let _ = regions::select_regions("R", "http://h/", &req);
            }
            if let Ok(req) = instances::RunRequest::parse(&p) {
                let _ = instances::flavor_for(&flavors, req.instance_type.as_deref());
                let _ = req.server_create("u", "f");
            }
        }
    }
}

//! Test helpers: sample host records and heaps of malformed input.

use crate::bindings::metacloud::api::types::{Flavor, Server};
use crate::params::Params;
use crate::Request;

pub fn params(list: &[(&str, &str)]) -> Params {
    Params::from_pairs(list.iter().copied())
}

pub fn flavor(id: &str, name: &str, vcpus: u32, ram_mb: u64, disk_gb: u64) -> Flavor {
    Flavor {
        id: id.into(),
        name: name.into(),
        vcpus,
        ram_mb,
        disk_gb,
        ephemeral_gb: 0,
        swap_mb: 0,
        is_public: true,
        extra_specs: Vec::new(),
    }
}

/// A server of project `p1` booted from image `11111111-…`.
pub fn server(id: &str, vm_state: &str) -> Server {
    Server {
        id: id.into(),
        name: "s".into(),
        project_id: "p1".into(),
        user_id: "u1".into(),
        flavor: flavor("1", "m1.small", 1, 2048, 20),
        image_id: Some("11111111-1111-1111-1111-111111111111".into()),
        host: None,
        availability_zone: None,
        vm_state: vm_state.into(),
        task_state: None,
        power_state: 0,
        key_name: None,
        metadata: Vec::new(),
        reservation_id: "r-0".into(),
        created_at: 0,
        updated_at: 0,
        launched_at: None,
        terminated_at: None,
        fault: None,
        locked: false,
        access_ipv4: String::new(),
        access_ipv6: String::new(),
    }
}

/// A small deterministic generator (xorshift64*).
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

const SIG: &str = "0000000000000000000000000000000000000000000000000000000000000000";

fn auth_headers() -> Vec<String> {
    vec![
        String::new(),
        "AWS4-HMAC-SHA256".into(),
        "AWS4-HMAC-SHA256 ".into(),
        "AWS4-HMAC-SHA256 Credential=".into(),
        "AWS4-HMAC-SHA256 Credential=a/b/c/d/e, SignedHeaders=, Signature=".into(),
        "AWS4-HMAC-SHA256 Credential==, SignedHeaders==, Signature==".into(),
        "AWS4-HMAC-SHA256 Credential=AK/20261201/RegionOne/ec2/aws4_request, SignedHeaders=host;x-amz-date, Signature=zz".into(),
        format!("AWS4-HMAC-SHA256 Credential=AK/20261201/RegionOne/ec2/aws4_request, SignedHeaders=host;x-amz-date, Signature={SIG}"),
        format!("AWS4-HMAC-SHA256 Credential=AK/20261201/RegionOne/ec2/aws4_request, SignedHeaders=host;x-missing, Signature={SIG}"),
        format!("AWS4-HMAC-SHA256 Credential=AK/20261201/RegionOne/ec2/aws4_request/extra, SignedHeaders=host, Signature={SIG}"),
        format!("AWS4-HMAC-SHA256 Credential=AK/2026120１/RegionOne/ec2/aws4_request, SignedHeaders=host, Signature={SIG}"),
        format!("AWS4-HMAC-SHA256 Credential=é/20261201/ü/ec2/aws4_request, SignedHeaders=HOST;Host;host, Signature={SIG}"),
        "AWS AKID:c2lnbmF0dXJl".into(),
        "Bearer token".into(),
        "\u{0}\u{1}\u{2}".into(),
        ",,,,,=,=,=".into(),
        "AWS4-HMAC-SHA256 ===,,, Credential".into(),
    ]
}

/// Requests malformed in every way the transport allows.
pub fn garbage_requests() -> Vec<Request> {
    let mut rng = Rng::new(0xec2);
    let dates = [
        "20261201T120000Z",
        "",
        "2026-12-01",
        "20261201T120000",
        "20261202T120000Z",
        "\u{FFFF}",
    ];
    let bodies: Vec<Vec<u8>> = vec![
        Vec::new(),
        b"Action=DescribeInstances&Version=2016-11-15".to_vec(),
        b"%".to_vec(),
        b"=&=&==&&".to_vec(),
        b"Action=%FF%FE".to_vec(),
        b"InstanceId.99999999999999999999=x".to_vec(),
        vec![0xff; 64],
        rng.bytes(300),
        b"{\"json\": true}".to_vec(),
    ];
    let content_types = [
        "application/x-www-form-urlencoded; charset=utf-8",
        "application/json",
        "",
        "\u{0}",
    ];
    let queries: Vec<Vec<(String, String)>> = vec![
        Vec::new(),
        vec![("X-Amz-Algorithm".into(), "AWS4-HMAC-SHA256".into())],
        vec![
            ("X-Amz-Algorithm".into(), "AWS4-HMAC-SHA256".into()),
            (
                "X-Amz-Credential".into(),
                "AK/20261201/RegionOne/ec2/aws4_request".into(),
            ),
            ("X-Amz-Date".into(), "20261201T120000Z".into()),
            ("X-Amz-SignedHeaders".into(), "host".into()),
            ("X-Amz-Signature".into(), SIG.into()),
        ],
        vec![
            ("X-Amz-Algorithm".into(), "".into()),
            ("X-Amz-Signature".into(), "".into()),
        ],
        vec![
            ("Signature".into(), "x".into()),
            ("AWSAccessKeyId".into(), "a".into()),
        ],
        vec![("".into(), "".into()), ("\u{0}".into(), "<>&".into())],
    ];
    let mut out = Vec::new();
    for auth in auth_headers() {
        for (i, body) in bodies.iter().enumerate() {
            let mut headers = vec![("host".to_string(), "ec2.example.test".to_string())];
            if !auth.is_empty() {
                headers.push(("authorization".into(), auth.clone()));
            }
            if i % 3 != 0 {
                headers.push(("x-amz-date".into(), rng.pick(&dates).to_string()));
            }
            headers.push(("content-type".into(), rng.pick(&content_types).to_string()));
            out.push(Request {
                params: Vec::new(),
                caller: None,
                method: rng.pick(&["POST", "GET", "", "PUT"]).to_string(),
                path: rng
                    .pick(&["/", "", "/a b/%zz/../", "//", "/\u{FFFF}"])
                    .to_string(),
                query: rng.pick(&queries).clone(),
                headers,
                body: body.clone(),
            });
        }
    }
    for q in &queries {
        out.push(Request {
            params: Vec::new(),
            caller: None,
            method: "GET".into(),
            path: "/".into(),
            query: q.clone(),
            headers: vec![("host".into(), "h".into())],
            body: Vec::new(),
        });
    }
    out
}

/// The parameter names the actions read, and some near misses.
const KEYS: &[&str] = &[
    "Action",
    "Version",
    "DryRun",
    "ImageId",
    "ImageId.1",
    "MinCount",
    "MaxCount",
    "InstanceType",
    "InstanceType.1",
    "KeyName",
    "KeyName.1",
    "KeyPairId",
    "KeyPairId.1",
    "KeyType",
    "KeyFormat",
    "PublicKeyMaterial",
    "UserData",
    "Placement.AvailabilityZone",
    "InstanceId",
    "InstanceId.1",
    "InstanceId.0",
    "InstanceId.x",
    "InstanceId.1.2",
    "Filter.1.Name",
    "Filter.1.Value.1",
    "Filter.1.Value.x",
    "Filter.x.Name",
    "Filter.1",
    "Filter.2.Value.1",
    "MaxResults",
    "NextToken",
    "TagSpecification.1.ResourceType",
    "TagSpecification.1.Tag.1.Key",
    "TagSpecification.1.Tag.1.Value",
    "TagSpecification.1.Tag.x.Key",
    "TagSpecification.1",
    "Tag.1.Key",
    "Tag.1.Value",
    "Tag.1",
    "Tag.1.Other",
    "ResourceId.1",
    "ResourceId",
    "RegionName.1",
    "ZoneName.1",
    "ZoneId.1",
    "Owner.1",
    "ExecutableBy.1",
    "IncludeAllInstances",
    "IncludePublicKey",
    "AllRegions",
    "Latest",
    "SecurityGroupId.1",
    "SubnetId",
    "BlockDeviceMapping.1.DeviceName",
];

fn values() -> Vec<String> {
    vec![
        String::new(),
        "<>&\"'".into(),
        "\u{0}\u{7}".into(),
        "-1".into(),
        "0".into(),
        "5".into(),
        "99999999999999999999".into(),
        "i-".into(),
        "i-0a000000".into(),
        "i-0a000000000000000".into(),
        "ami-0f1e2d3c".into(),
        "ami-".into(),
        "*".into(),
        "?*\\".into(),
        "true".into(),
        "TRUE".into(),
        "instance".into(),
        "tag:".into(),
        "aws:x".into(),
        "%ZZ".into(),
        "é😀".into(),
        "x".repeat(10_000),
        "bm9wZQ".into(),
        "c3NoLWVkMjU1MTkgQUFBQQ==".into(),
    ]
}

/// Parameter sets built from the names above and hostile values: every single pair, and
/// random mixes.
pub fn garbage_params() -> Vec<Params> {
    let values = values();
    let mut out = Vec::new();
    for k in KEYS {
        for v in &values {
            out.push(Params::from_pairs([(k.to_string(), v.clone())]));
        }
    }
    let mut rng = Rng::new(7);
    for _ in 0..600 {
        let n = 1 + rng.below(8);
        let pairs: Vec<(String, String)> = (0..n)
            .map(|_| (rng.pick(KEYS).to_string(), rng.pick(&values).clone()))
            .collect();
        out.push(Params::from_pairs(pairs));
    }
    out
}

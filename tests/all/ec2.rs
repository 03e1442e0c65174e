//! The EC2 Query API through the `ec2-query` dialect: requests signed here with AWS
//! Signature Version 4 (as boto3 signs them), checked by the host against the EC2
//! credentials of the identity service; what a wrong secret, a tampered body, a replay and
//! another project's credentials get; EC2-Classic addresses and security groups over the
//! host's floating addresses and groups (errors in EC2's codes, projects apart, quotas).

use crate::openstack::Cloud;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::time::Duration;

const REGION: &str = "RegionOne";

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn hmac(key: &[u8], data: &str) -> Vec<u8> {
    let mut m = Hmac::<Sha256>::new_from_slice(key).unwrap();
    m.update(data.as_bytes());
    m.finalize().into_bytes().to_vec()
}

/// An EC2 client: one access key and its secret.
struct Ec2 {
    url: String,
    host: String,
    access: String,
    secret: String,
    http: reqwest::Client,
}

/// A signed request, ready to send (and to tamper with).
struct Signed {
    amz_date: String,
    authorization: String,
    body: String,
}

impl Ec2 {
    /// Signs `body` as a form POST to `/` at `when` (seconds from now).
    fn sign(&self, body: &str, offset_secs: i64) -> Signed {
        let t = chrono::Utc::now() + chrono::Duration::seconds(offset_secs);
        let amz_date = t.format("%Y%m%dT%H%M%SZ").to_string();
        let date = &amz_date[..8];
        let content_type = "application/x-www-form-urlencoded; charset=utf-8";
        let canonical = format!(
            "POST\n/\n\ncontent-type:{content_type}\nhost:{}\nx-amz-date:{amz_date}\n\ncontent-type;host;x-amz-date\n{}",
            self.host,
            hex(&Sha256::digest(body.as_bytes()))
        );
        let scope = format!("{date}/{REGION}/ec2/aws4_request");
        let to_sign = format!(
            "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
            hex(&Sha256::digest(canonical.as_bytes()))
        );
        let k = hmac(format!("AWS4{}", self.secret).as_bytes(), date);
        let k = hmac(&k, REGION);
        let k = hmac(&k, "ec2");
        let k = hmac(&k, "aws4_request");
        let signature = hex(&hmac(&k, &to_sign));
        Signed {
            authorization: format!(
                "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders=content-type;host;x-amz-date, Signature={signature}",
                self.access
            ),
            amz_date,
            body: body.to_string(),
        }
    }

    /// Sends a signed request: status and XML text.
    async fn send(&self, s: Signed) -> (u16, String) {
        let r = self
            .http
            .post(&self.url)
            .header(
                "content-type",
                "application/x-www-form-urlencoded; charset=utf-8",
            )
            .header("x-amz-date", s.amz_date)
            .header("authorization", s.authorization)
            .body(s.body)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }

    async fn call(&self, params: &str) -> (u16, String) {
        let body = format!("{params}&Version=2016-11-15");
        self.send(self.sign(&body, 0)).await
    }
}

/// The text of every `<tag>` in `xml`.
fn all(xml: &str, tag: &str) -> Vec<String> {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    xml.split(&open)
        .skip(1)
        .filter_map(|rest| rest.split(&close).next().map(String::from))
        .collect()
}

fn code(xml: &str) -> String {
    all(xml, "Code").into_iter().next().unwrap_or_default()
}

/// EC2 credentials for the holder of `token`, through the identity API.
async fn credentials(cloud: &Cloud, token: &str) -> Ec2 {
    let r = cloud
        .http
        .get(format!("{}/auth/tokens", cloud.keystone))
        .header("x-auth-token", token)
        .header("x-subject-token", token)
        .send()
        .await
        .unwrap();
    let t: Value = r.json().await.unwrap();
    let (user, project) = (&t["token"]["user"]["id"], &t["token"]["project"]["id"]);
    let r = cloud
        .http
        .post(format!(
            "{}/users/{}/credentials/OS-EC2",
            cloud.keystone,
            user.as_str().unwrap()
        ))
        .header("x-auth-token", token)
        .json(&json!({"tenant_id": project}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let c: Value = r.json().await.unwrap();
    let addr = cloud.running.ec2_addr.expect("EC2 API listening");
    Ec2 {
        url: format!("http://{addr}/"),
        host: addr.to_string(),
        access: c["credential"]["access"].as_str().unwrap().into(),
        secret: c["credential"]["secret"].as_str().unwrap().into(),
        http: reqwest::Client::new(),
    }
}

/// The EC2 image id of an image uuid, and the EC2 instance type of flavor 42.
async fn image_and_type(cloud: &Cloud, ec2: &Ec2, token: &str) -> (String, String) {
    let image = cloud.upload_image(token).await;
    let (s, xml) = ec2.call("Action=DescribeImages").await;
    assert_eq!(s, 200, "{xml}");
    let prefix = format!("ami-{}", &image.replace('-', "")[..17]);
    assert!(all(&xml, "imageId").contains(&prefix), "{xml}");
    let (_, f) = cloud.get(token, "/v2.1/flavors/42").await;
    (prefix, f["flavor"]["name"].as_str().unwrap().to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn signatures_are_checked_and_projects_stay_apart() {
    let cloud = Cloud::start().await;
    let admin = cloud.token("admin", "admin-pw", "admin").await;
    let demo_token = cloud.token("demo", "demo-pw", "demo").await;
    let other_token = cloud
        .user_in_new_project(&admin, "ec2-other", "member")
        .await;
    let demo = credentials(&cloud, &demo_token).await;
    let other = credentials(&cloud, &other_token).await;

    // A good signature: the zones answer.
    let (s, xml) = demo.call("Action=DescribeAvailabilityZones").await;
    assert_eq!(s, 200, "{xml}");
    assert!(xml.contains("<zoneState>available</zoneState>"), "{xml}");

    // A wrong secret, an unknown key, a body changed after signing, a replay after the
    // skew window and a request from the future: AuthFailure, 401, and nothing done.
    let body = "Action=DescribeInstances&Version=2016-11-15";
    let wrong = Ec2 {
        secret: "not-the-secret".into(),
        ..credentials(&cloud, &demo_token).await
    };
    let nobody = Ec2 {
        access: "AKIANOTAREALKEY00000".into(),
        ..credentials(&cloud, &demo_token).await
    };
    let mut tampered = demo.sign("Action=DescribeInstances&Version=2016-11-15", 0);
    tampered.body = "Action=TerminateInstances&Version=2016-11-15&InstanceId.1=i-0".into();
    for (what, (s, xml)) in [
        ("wrong secret", wrong.send(wrong.sign(body, 0)).await),
        ("unknown key", nobody.send(nobody.sign(body, 0)).await),
        ("tampered body", demo.send(tampered).await),
        ("replayed", demo.send(demo.sign(body, -600)).await),
        ("future", demo.send(demo.sign(body, 600)).await),
    ] {
        assert_eq!(
            (s, code(&xml).as_str()),
            (401, "AuthFailure"),
            "{what}: {xml}"
        );
        assert!(xml.contains("<RequestID>"), "{what}: {xml}");
    }
    // Within the window a slightly skewed clock is fine.
    assert_eq!(demo.send(demo.sign(body, -60)).await.0, 200);
    // No signature at all.
    let r = demo.http.post(&demo.url).body(body).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 401);

    // Each project boots one instance.
    let (ami, kind) = image_and_type(&cloud, &demo, &demo_token).await;
    let (s, xml) = demo
        .call(&format!("Action=RunInstances&ImageId={ami}&InstanceType={kind}&MinCount=1&MaxCount=1&TagSpecification.1.ResourceType=instance&TagSpecification.1.Tag.1.Key=Name&TagSpecification.1.Tag.1.Value=demo-vm"))
        .await;
    assert_eq!(s, 200, "{xml}");
    let mine = all(&xml, "instanceId").remove(0);
    let (their_ami, _) = image_and_type(&cloud, &other, &other_token).await;
    let (s, xml) = other
        .call(&format!(
            "Action=RunInstances&ImageId={their_ami}&InstanceType={kind}&MinCount=1&MaxCount=1"
        ))
        .await;
    assert_eq!(s, 200, "{xml}");
    let theirs = all(&xml, "instanceId").remove(0);
    // Another project's image is not there for demo.
    let (s, xml) = demo
        .call(&format!(
            "Action=RunInstances&ImageId={their_ami}&InstanceType={kind}&MinCount=1&MaxCount=1"
        ))
        .await;
    assert_eq!(
        (s, code(&xml).as_str()),
        (400, "InvalidAMIID.NotFound"),
        "{xml}"
    );

    // Each sees its own instance only; the other's id is not found, and cannot be touched.
    metacloud_tests::wait_for(
        "demo's instance running",
        Duration::from_secs(30),
        || async {
            let (_, xml) = demo.call("Action=DescribeInstances").await;
            xml.contains("<name>running</name>").then_some(())
        },
    )
    .await;
    let (_, xml) = demo.call("Action=DescribeInstances").await;
    assert_eq!(all(&xml, "instanceId"), vec![mine.clone()], "{xml}");
    assert!(xml.contains("<value>demo-vm</value>"), "{xml}");
    let (_, xml) = other.call("Action=DescribeInstances").await;
    assert_eq!(all(&xml, "instanceId"), vec![theirs.clone()], "{xml}");
    for action in ["DescribeInstances", "TerminateInstances", "StopInstances"] {
        let (s, xml) = demo
            .call(&format!("Action={action}&InstanceId.1={theirs}"))
            .await;
        assert_eq!(
            (s, code(&xml).as_str()),
            (400, "InvalidInstanceID.NotFound"),
            "{action}: {xml}"
        );
    }
    let (_, xml) = demo
        .call(&format!(
            "Action=CreateTags&ResourceId.1={theirs}&Tag.1.Key=k&Tag.1.Value=v"
        ))
        .await;
    assert_eq!(code(&xml), "InvalidInstanceID.NotFound", "{xml}");
    let (_, xml) = other.call("Action=DescribeInstances").await;
    assert!(
        xml.contains("<name>pending</name>") || xml.contains("<name>running</name>"),
        "untouched: {xml}"
    );

    // Malformed input is an EC2 error, never a 500.
    for bad in [
        "Action=RunInstances&MinCount=abc&MaxCount=1",
        "Action=RunInstances&MinCount=3&MaxCount=1&ImageId=ami-0",
        "Action=DescribeInstances&InstanceId.1=not-an-id",
        "Action=DescribeInstances&MaxResults=-4",
        "Action=NoSuchAction",
        "Action=CreateVpc",
        "Action=AuthorizeSecurityGroupIngress&GroupName=default&IpPermissions.1.IpProtocol=gre",
        "Version=2016-11-15",
        "Action=CreateTags&ResourceId.1=%ZZ",
    ] {
        let (s, xml) = demo.call(bad).await;
        assert!((400..500).contains(&s), "{bad}: {s} {xml}");
        assert!(!code(&xml).is_empty(), "{bad}: {xml}");
    }
    // Terminated, then shown as such.
    let (s, _) = demo
        .call(&format!("Action=TerminateInstances&InstanceId.1={mine}"))
        .await;
    assert_eq!(s, 200);
    metacloud_tests::wait_for("terminated", Duration::from_secs(30), || async {
        let (_, xml) = demo
            .call(&format!("Action=DescribeInstances&InstanceId.1={mine}"))
            .await;
        xml.contains("<name>terminated</name>").then_some(())
    })
    .await;
}

/// The first `<tag>` text, or empty.
fn first(xml: &str, tag: &str) -> String {
    all(xml, tag).into_iter().next().unwrap_or_default()
}

/// The names of the groups a DescribeSecurityGroups lists (not those its rules name).
fn group_names(xml: &str) -> Vec<String> {
    xml.split("<groupName>")
        .skip(1)
        .filter_map(|rest| {
            let (name, after) = rest.split_once("</groupName>")?;
            after
                .starts_with("<groupDescription>")
                .then(|| name.to_string())
        })
        .collect()
}

/// Asserts an EC2 client error with `want` as its code.
fn refused(got: (u16, String), want: &str, what: &str) {
    let (s, xml) = got;
    assert_eq!((s, code(&xml).as_str()), (400, want), "{what}: {xml}");
    assert!(xml.contains("<RequestID>"), "{what}: {xml}");
}

/// A shared network (10.20.0.0/24) and a floating range (192.0.2.0/29: six addresses),
/// made by the admin through Nova's API.
async fn network_and_range(cloud: &Cloud, admin: &str) {
    let (s, _, b) = cloud
        .call(
            admin,
            reqwest::Method::POST,
            "/v2.1/os-networks",
            Some(json!({"network": {"label": "ec2net", "cidr": "10.20.0.0/24"}})),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let (s, _, b) = cloud
        .call(
            admin,
            reqwest::Method::POST,
            "/v2.1/os-floating-ips-bulk",
            Some(json!({"floating_ips_bulk_create": {"ip_range": "192.0.2.0/29"}})),
        )
        .await;
    assert_eq!(s, 200, "{b}");
}

/// Sets quotas of `project` (admin, os-quota-sets).
async fn set_quota(cloud: &Cloud, admin: &str, project: &str, quota: Value) {
    let (s, _, b) = cloud
        .call(
            admin,
            reqwest::Method::PUT,
            &format!("/v2.1/os-quota-sets/{project}"),
            Some(json!({ "quota_set": quota })),
        )
        .await;
    assert_eq!(s, 200, "{b}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn security_groups_in_ec2_terms() {
    let cloud = Cloud::start().await;
    let admin = cloud.token("admin", "admin-pw", "admin").await;
    let demo_token = cloud.token("demo", "demo-pw", "demo").await;
    let other_token = cloud
        .user_in_new_project(&admin, "sg-other", "member")
        .await;
    let demo = credentials(&cloud, &demo_token).await;
    let other = credentials(&cloud, &other_token).await;
    network_and_range(&cloud, &admin).await;

    // Every project has its default group; create one, not twice.
    let (s, xml) = demo.call("Action=DescribeSecurityGroups").await;
    assert_eq!(s, 200, "{xml}");
    assert_eq!(group_names(&xml), vec!["default".to_string()], "{xml}");
    let (s, xml) = demo
        .call("Action=CreateSecurityGroup&GroupName=web&GroupDescription=web+servers")
        .await;
    assert_eq!(s, 200, "{xml}");
    assert_eq!(first(&xml, "return"), "true");
    let web = first(&xml, "groupId");
    assert!(web.starts_with("sg-") && web.len() == 20, "{xml}");
    for name in ["web", "default"] {
        refused(
            demo.call(&format!(
                "Action=CreateSecurityGroup&GroupName={name}&GroupDescription=d"
            ))
            .await,
            "InvalidGroup.Duplicate",
            name,
        );
    }
    refused(
        demo.call("Action=CreateSecurityGroup&GroupName=nodesc")
            .await,
        "MissingParameter",
        "no description",
    );

    // Rules: ingress by IpPermissions (CIDR and source group), egress by group id.
    let ssh = "IpPermissions.1.IpProtocol=tcp&IpPermissions.1.FromPort=22&IpPermissions.1.ToPort=22&IpPermissions.1.IpRanges.1.CidrIp=10.0.0.0/8";
    let (s, xml) = demo
        .call(&format!("Action=AuthorizeSecurityGroupIngress&GroupName=web&{ssh}&IpPermissions.2.IpProtocol=icmp&IpPermissions.2.FromPort=-1&IpPermissions.2.ToPort=-1&IpPermissions.2.Groups.1.GroupName=default"))
        .await;
    assert_eq!((s, first(&xml, "return").as_str()), (200, "true"), "{xml}");
    refused(
        demo.call(&format!(
            "Action=AuthorizeSecurityGroupIngress&GroupId={web}&{ssh}"
        ))
        .await,
        "InvalidPermission.Duplicate",
        "the same rule again",
    );
    let (s, xml) = demo
        .call(&format!("Action=AuthorizeSecurityGroupEgress&GroupId={web}&IpPermissions.1.IpProtocol=tcp&IpPermissions.1.FromPort=443&IpPermissions.1.ToPort=443&IpPermissions.1.IpRanges.1.CidrIp=0.0.0.0/0"))
        .await;
    assert_eq!(s, 200, "{xml}");
    let (s, xml) = demo
        .call(&format!("Action=DescribeSecurityGroups&GroupId.1={web}"))
        .await;
    assert_eq!(s, 200, "{xml}");
    assert_eq!(group_names(&xml), vec!["web".to_string()], "{xml}");
    let ingress = first(&xml, "ipPermissions");
    assert!(
        ingress.contains("<ipProtocol>tcp</ipProtocol><fromPort>22</fromPort><toPort>22</toPort><groups></groups><ipRanges><item><cidrIp>10.0.0.0/8</cidrIp>"),
        "{xml}"
    );
    assert!(ingress.contains("<ipProtocol>icmp</ipProtocol><fromPort>-1</fromPort><toPort>-1</toPort><groups><item><userId>"), "{xml}");
    let egress = first(&xml, "ipPermissionsEgress");
    assert!(
        egress.contains("<fromPort>443</fromPort><toPort>443</toPort><groups></groups><ipRanges><item><cidrIp>0.0.0.0/0</cidrIp>"),
        "{xml}"
    );
    assert!(
        !ingress.contains("<fromPort>443</fromPort>"),
        "egress is not ingress: {xml}"
    );

    // Revoke: a rule that is there goes; one that is not is InvalidPermission.NotFound.
    let (s, xml) = demo
        .call(&format!(
            "Action=RevokeSecurityGroupIngress&GroupName=web&{ssh}"
        ))
        .await;
    assert_eq!((s, first(&xml, "return").as_str()), (200, "true"), "{xml}");
    refused(
        demo.call(&format!(
            "Action=RevokeSecurityGroupIngress&GroupName=web&{ssh}"
        ))
        .await,
        "InvalidPermission.NotFound",
        "revoked twice",
    );
    refused(
        demo.call(&format!("Action=RevokeSecurityGroupIngress&GroupId={web}&IpPermissions.1.IpProtocol=tcp&IpPermissions.1.FromPort=443&IpPermissions.1.ToPort=443&IpPermissions.1.IpRanges.1.CidrIp=0.0.0.0/0"))
            .await,
        "InvalidPermission.NotFound",
        "an egress rule revoked as ingress",
    );
    let (s, xml) = demo
        .call(&format!("Action=RevokeSecurityGroupEgress&GroupId={web}&IpPermissions.1.IpProtocol=tcp&IpPermissions.1.FromPort=443&IpPermissions.1.ToPort=443&IpPermissions.1.IpRanges.1.CidrIp=0.0.0.0/0"))
        .await;
    assert_eq!(s, 200, "{xml}");
    let (_, xml) = demo
        .call("Action=DescribeSecurityGroups&GroupName.1=web")
        .await;
    assert!(
        !xml.contains("<cidrIp>10.0.0.0/8</cidrIp>") && !xml.contains("<fromPort>443</fromPort>"),
        "{xml}"
    );
    refused(
        demo.call("Action=AuthorizeSecurityGroupIngress&GroupName=web&IpPermissions.1.IpProtocol=-1&IpPermissions.1.Groups.1.GroupName=nope")
            .await,
        "InvalidGroup.NotFound",
        "an unknown source group",
    );
    refused(
        demo.call("Action=DescribeSecurityGroups&GroupName.1=nope")
            .await,
        "InvalidGroup.NotFound",
        "an unknown group",
    );
    refused(
        demo.call("Action=DeleteSecurityGroup&GroupName=default")
            .await,
        "CannotDelete",
        "the default group",
    );

    // Projects stay apart: demo's group is not the other's to see, change or delete.
    let (_, xml) = other.call("Action=DescribeSecurityGroups").await;
    assert_eq!(group_names(&xml), vec!["default".to_string()], "{xml}");
    for action in [
        format!("Action=DescribeSecurityGroups&GroupId.1={web}"),
        format!("Action=AuthorizeSecurityGroupIngress&GroupId={web}&{ssh}"),
        format!("Action=DeleteSecurityGroup&GroupId={web}"),
        "Action=DeleteSecurityGroup&GroupName=web".to_string(),
    ] {
        refused(other.call(&action).await, "InvalidGroup.NotFound", &action);
    }

    // RunInstances in a group, by name; an unknown group or another's id is refused.
    let (ami, kind) = image_and_type(&cloud, &demo, &demo_token).await;
    let run =
        format!("Action=RunInstances&ImageId={ami}&InstanceType={kind}&MinCount=1&MaxCount=1");
    refused(
        demo.call(&format!("{run}&SecurityGroup.1=nope")).await,
        "InvalidGroup.NotFound",
        "launch in an unknown group",
    );
    let (_, theirs) = other.call("Action=DescribeSecurityGroups").await;
    refused(
        demo.call(&format!(
            "{run}&SecurityGroupId.1={}",
            first(&theirs, "groupId")
        ))
        .await,
        "InvalidGroup.NotFound",
        "launch in another project's group",
    );
    let (s, xml) = demo.call(&format!("{run}&SecurityGroup.1=web")).await;
    assert_eq!(s, 200, "{xml}");
    let vm = first(&xml, "instanceId");
    let private = first(&xml, "privateIpAddress");
    assert!(private.starts_with("10.20.0."), "{xml}");
    assert!(
        xml.contains(&format!(
            "<groupSet><item><groupId>{web}</groupId><groupName>web</groupName></item></groupSet>"
        )),
        "{xml}"
    );
    let (_, xml) = demo
        .call(&format!("Action=DescribeInstances&InstanceId.1={vm}"))
        .await;
    assert_eq!(first(&xml, "privateIpAddress"), private, "{xml}");
    assert!(!first(&xml, "privateDnsName").is_empty(), "{xml}");
    refused(
        demo.call("Action=DeleteSecurityGroup&GroupName=web").await,
        "InvalidGroup.InUse",
        "a group with an instance in it",
    );

    // Quotas: groups and rules per group.
    let other_project = cloud.project_of(&other_token).await;
    set_quota(
        &cloud,
        &admin,
        &other_project,
        json!({"security_groups": 1, "security_group_rules": 1}),
    )
    .await;
    let (s, xml) = other
        .call("Action=CreateSecurityGroup&GroupName=one&GroupDescription=d")
        .await;
    assert_eq!(s, 200, "{xml}");
    refused(
        other
            .call("Action=CreateSecurityGroup&GroupName=two&GroupDescription=d")
            .await,
        "SecurityGroupLimitExceeded",
        "over the group quota",
    );
    let rule = |port: u16| {
        format!("Action=AuthorizeSecurityGroupIngress&GroupName=one&IpPermissions.1.IpProtocol=udp&IpPermissions.1.FromPort={port}&IpPermissions.1.ToPort={port}")
    };
    assert_eq!(other.call(&rule(53)).await.0, 200);
    refused(
        other.call(&rule(54)).await,
        "RulesPerSecurityGroupLimitExceeded",
        "over the rule quota",
    );
    // Two rules in one request over the quota: neither stays.
    let (s, xml) = other
        .call("Action=RevokeSecurityGroupIngress&GroupName=one&IpPermissions.1.IpProtocol=udp&IpPermissions.1.FromPort=53&IpPermissions.1.ToPort=53")
        .await;
    assert_eq!(s, 200, "{xml}");
    refused(
        other
            .call("Action=AuthorizeSecurityGroupIngress&GroupName=one&IpPermissions.1.IpProtocol=udp&IpPermissions.1.FromPort=1&IpPermissions.1.ToPort=1&IpPermissions.2.IpProtocol=udp&IpPermissions.2.FromPort=2&IpPermissions.2.ToPort=2")
            .await,
        "RulesPerSecurityGroupLimitExceeded",
        "two rules over the quota",
    );
    let (_, xml) = other
        .call("Action=DescribeSecurityGroups&GroupName.1=one")
        .await;
    assert_eq!(first(&xml, "ipPermissions"), "", "all or nothing: {xml}");

    // Once the instance is gone, its group can go.
    let (s, _) = demo
        .call(&format!("Action=TerminateInstances&InstanceId.1={vm}"))
        .await;
    assert_eq!(s, 200);
    metacloud_tests::wait_for("web deleted", Duration::from_secs(30), || async {
        let (s, _) = demo.call("Action=DeleteSecurityGroup&GroupName=web").await;
        (s == 200).then_some(())
    })
    .await;
    refused(
        demo.call(&format!("Action=DescribeSecurityGroups&GroupId.1={web}"))
            .await,
        "InvalidGroup.NotFound",
        "a deleted group",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn addresses_in_ec2_terms() {
    let cloud = Cloud::start().await;
    let admin = cloud.token("admin", "admin-pw", "admin").await;
    let demo_token = cloud.token("demo", "demo-pw", "demo").await;
    let other_token = cloud
        .user_in_new_project(&admin, "eip-other", "member")
        .await;
    let demo = credentials(&cloud, &demo_token).await;
    let other = credentials(&cloud, &other_token).await;
    network_and_range(&cloud, &admin).await;

    let (ami, kind) = image_and_type(&cloud, &demo, &demo_token).await;
    let (s, xml) = demo
        .call(&format!(
            "Action=RunInstances&ImageId={ami}&InstanceType={kind}&MinCount=1&MaxCount=1"
        ))
        .await;
    assert_eq!(s, 200, "{xml}");
    let vm = first(&xml, "instanceId");
    let private = first(&xml, "privateIpAddress");
    assert!(private.starts_with("10.20.0."), "{xml}");
    assert!(xml.contains("<groupName>default</groupName>"), "{xml}");

    // Allocate: an address of the range, EC2-Classic's domain.
    let (s, xml) = demo.call("Action=AllocateAddress").await;
    assert_eq!(s, 200, "{xml}");
    let ip = first(&xml, "publicIp");
    assert!(ip.starts_with("192.0.2."), "{xml}");
    assert_eq!(first(&xml, "domain"), "standard");
    refused(
        demo.call("Action=AllocateAddress&Domain=vpc").await,
        "Unsupported",
        "a VPC address",
    );
    let (_, xml) = demo.call("Action=DescribeAddresses").await;
    assert_eq!(all(&xml, "publicIp"), vec![ip.clone()], "{xml}");
    assert!(!xml.contains("<instanceId>"), "{xml}");

    // The other project cannot see, move or release it.
    let (_, xml) = other.call("Action=DescribeAddresses").await;
    assert!(all(&xml, "publicIp").is_empty(), "{xml}");
    for action in [
        format!("Action=DescribeAddresses&PublicIp.1={ip}"),
        format!("Action=ReleaseAddress&PublicIp={ip}"),
        format!("Action=DisassociateAddress&PublicIp={ip}"),
    ] {
        refused(
            other.call(&action).await,
            "InvalidAddress.NotFound",
            &action,
        );
    }
    refused(
        other
            .call(&format!(
                "Action=AssociateAddress&InstanceId={vm}&PublicIp={ip}"
            ))
            .await,
        "InvalidInstanceID.NotFound",
        "another's instance",
    );

    // Associate with the instance: both views show it.
    metacloud_tests::wait_for("running", Duration::from_secs(30), || async {
        let (_, xml) = demo.call("Action=DescribeInstances").await;
        xml.contains("<name>running</name>").then_some(())
    })
    .await;
    refused(
        demo.call(&format!(
            "Action=AssociateAddress&InstanceId={vm}&PublicIp=198.51.100.7"
        ))
        .await,
        "InvalidAddress.NotFound",
        "an address not held",
    );
    let (s, xml) = demo
        .call(&format!(
            "Action=AssociateAddress&InstanceId={vm}&PublicIp={ip}"
        ))
        .await;
    assert_eq!((s, first(&xml, "return").as_str()), (200, "true"), "{xml}");
    let (_, xml) = demo
        .call(&format!("Action=DescribeAddresses&PublicIp.1={ip}"))
        .await;
    assert_eq!(
        (first(&xml, "instanceId"), first(&xml, "privateIpAddress")),
        (vm.clone(), private.clone()),
        "{xml}"
    );
    let (_, xml) = demo
        .call(&format!("Action=DescribeInstances&InstanceId.1={vm}"))
        .await;
    assert_eq!(first(&xml, "ipAddress"), ip, "{xml}");
    assert_eq!(first(&xml, "privateIpAddress"), private, "{xml}");
    // Filters on networking.
    for (filter, value, found) in [
        ("ip-address", ip.as_str(), true),
        ("private-ip-address", private.as_str(), true),
        ("group-name", "default", true),
        ("private-ip-address", "10.99.0.1", false),
    ] {
        let (s, xml) = demo
            .call(&format!(
                "Action=DescribeInstances&Filter.1.Name={filter}&Filter.1.Value.1={value}"
            ))
            .await;
        assert_eq!(s, 200, "{xml}");
        let want = if found { vec![vm.clone()] } else { vec![] };
        assert_eq!(all(&xml, "instanceId"), want, "{filter}={value}: {xml}");
    }
    refused(
        demo.call(&format!("Action=ReleaseAddress&PublicIp={ip}"))
            .await,
        "InvalidIPAddress.InUse",
        "releasing an associated address",
    );

    // Disassociate, once; then release, once.
    let (s, _) = demo
        .call(&format!("Action=DisassociateAddress&PublicIp={ip}"))
        .await;
    assert_eq!(s, 200);
    refused(
        demo.call(&format!("Action=DisassociateAddress&PublicIp={ip}"))
            .await,
        "InvalidAssociationID.NotFound",
        "disassociated twice",
    );
    let (_, xml) = demo
        .call(&format!("Action=DescribeInstances&InstanceId.1={vm}"))
        .await;
    assert!(!xml.contains("<ipAddress>"), "{xml}");
    let (s, _) = demo
        .call(&format!("Action=ReleaseAddress&PublicIp={ip}"))
        .await;
    assert_eq!(s, 200);
    refused(
        demo.call(&format!("Action=ReleaseAddress&PublicIp={ip}"))
            .await,
        "InvalidAddress.NotFound",
        "released twice",
    );

    // Quota: one address for demo, the second is AddressLimitExceeded.
    let demo_project = cloud.project_of(&demo_token).await;
    set_quota(&cloud, &admin, &demo_project, json!({"floating_ips": 1})).await;
    assert_eq!(demo.call("Action=AllocateAddress").await.0, 200);
    refused(
        demo.call("Action=AllocateAddress").await,
        "AddressLimitExceeded",
        "over the address quota",
    );
    // The range runs dry for the other project (6 addresses, 1 held).
    for _ in 0..5 {
        assert_eq!(other.call("Action=AllocateAddress").await.0, 200);
    }
    refused(
        other.call("Action=AllocateAddress").await,
        "InsufficientAddressCapacity",
        "an empty range",
    );
}

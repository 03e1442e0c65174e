//! The EC2 Query API through the `ec2-query` dialect: requests signed here with AWS
//! Signature Version 4 (as boto3 signs them), checked by the host against the EC2
//! credentials of the identity service; what a wrong secret, a tampered body, a replay and
//! another project's credentials get.

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
        "Action=AllocateAddress",
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

//! The metadata service as instances reach it through a metadata proxy: the instance
//! named by a signed `X-Instance-ID` sees its own id, host name, key and user data, on
//! the EC2 and OpenStack paths, with IMDSv2 sessions; anyone else sees nothing.

use crate::openstack::{Cloud, METADATA_SECRET};
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

fn signature(secret: &str, instance: &str) -> String {
    let mut m = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    m.update(instance.as_bytes());
    m.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A metadata client on behalf of one instance, as a proxy would forward it.
struct Proxy {
    base: String,
    instance: String,
    tenant: String,
    secret: String,
    http: reqwest::Client,
}

impl Proxy {
    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.base))
            .header("x-instance-id", &self.instance)
            .header("x-tenant-id", &self.tenant)
            .header(
                "x-instance-id-signature",
                signature(&self.secret, &self.instance),
            )
    }

    async fn get(&self, path: &str) -> (u16, String) {
        let r = self
            .request(reqwest::Method::GET, path)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_instance_sees_itself_and_nobody_else_sees_anything() {
    let cloud = Cloud::start().await;
    let demo = cloud.token("demo", "demo-pw", "demo").await;
    let (s, _, b) = cloud
        .call(
            &demo,
            reqwest::Method::POST,
            "/v2.1/os-keypairs",
            Some(json!({"keypair": {"name": "md-key"}})),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let key = b["keypair"]["public_key"]
        .as_str()
        .unwrap()
        .trim()
        .to_string();
    let image = cloud.upload_image(&demo).await;
    let user_data = "#!/bin/sh\necho hello from user data\n";
    use base64::Engine;
    let encoded = base64::engine::general_purpose::STANDARD.encode(user_data);
    let (s, _, b) = cloud
        .call(
            &demo,
            reqwest::Method::POST,
            "/v2.1/servers",
            Some(
                json!({"server": {"name": "Web Server_1", "flavorRef": "42", "imageRef": image,
                "key_name": "md-key", "user_data": encoded, "metadata": {"role": "web"}}}),
            ),
        )
        .await;
    assert_eq!(s, 202, "{b}");
    let id = b["server"]["id"].as_str().unwrap().to_string();
    cloud.wait_status(&demo, &id, "ACTIVE").await;
    let project = cloud.project_of(&demo).await;
    let md = Proxy {
        base: format!(
            "http://{}",
            cloud.running.metadata_addr.expect("metadata listening")
        ),
        instance: id.clone(),
        tenant: project.clone(),
        secret: METADATA_SECRET.into(),
        http: reqwest::Client::new(),
    };
    let ec2_id = format!("i-{}", &id.replace('-', "")[..17]);

    // EC2 paths.
    assert_eq!(
        md.get("/latest/meta-data/instance-id").await,
        (200, ec2_id.clone())
    );
    assert_eq!(
        md.get("/2009-04-04/meta-data/local-hostname").await,
        (200, "web-server-1".into())
    );
    let (s, keys) = md.get("/latest/meta-data/public-keys/").await;
    assert_eq!((s, keys.as_str()), (200, "0=md-key"));
    let (s, key_text) = md.get("/latest/meta-data/public-keys/0/openssh-key").await;
    assert_eq!((s, key_text.trim()), (200, key.as_str()));
    assert_eq!(
        md.get("/latest/user-data").await,
        (200, user_data.to_string())
    );
    let (s, listing) = md.get("/latest/meta-data/").await;
    assert!(
        s == 200 && listing.lines().any(|l| l == "instance-id"),
        "{listing}"
    );

    // OpenStack paths.
    let (s, text) = md.get("/openstack/latest/meta_data.json").await;
    assert_eq!(s, 200, "{text}");
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        (v["uuid"].as_str(), v["hostname"].as_str()),
        (Some(id.as_str()), Some("web-server-1"))
    );
    assert_eq!(
        v["public_keys"]["md-key"].as_str().map(str::trim),
        Some(key.as_str())
    );
    assert_eq!(v["meta"]["role"], "web");

    // 2.90: the hostname a tenant chooses is the one the guest is told.
    let r = cloud
        .http
        .put(format!("{}/v2.1/servers/{id}", cloud.nova))
        .header("x-auth-token", &demo)
        .header("openstack-api-version", "compute 2.90")
        .json(&json!({"server": {"hostname": "chosen-1"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let (_, text) = md.get("/openstack/latest/meta_data.json").await;
    let chosen: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(chosen["hostname"], "chosen-1", "{text}");
    assert_eq!(
        md.get("/2009-04-04/meta-data/local-hostname").await,
        (200, "chosen-1".into())
    );
    assert_eq!(v["project_id"].as_str(), Some(project.as_str()));
    assert_eq!(
        md.get("/openstack/latest/user_data").await,
        (200, user_data.to_string())
    );
    for file in ["vendor_data.json", "vendor_data2.json", "network_data.json"] {
        let (s, text) = md.get(&format!("/openstack/latest/{file}")).await;
        assert_eq!(s, 200, "{file}");
        serde_json::from_str::<Value>(&text).unwrap_or_else(|e| panic!("{file}: {e}: {text}"));
    }

    // IMDSv2: a session token works for this instance only, and a bad one is refused.
    let r = md
        .request(reqwest::Method::PUT, "/latest/api/token")
        .header("x-aws-ec2-metadata-token-ttl-seconds", "60")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let session = r.text().await.unwrap();
    assert!(
        !session.is_empty() && !session.contains("sealed:"),
        "{session}"
    );
    let with = |token: &str| {
        md.request(reqwest::Method::GET, "/latest/meta-data/instance-id")
            .header("x-aws-ec2-metadata-token", token.to_string())
            .send()
    };
    let r = with(&session).await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(with("1.deadbeef").await.unwrap().status().as_u16(), 401);
    let r = md
        .request(reqwest::Method::PUT, "/latest/api/token")
        .header("x-aws-ec2-metadata-token-ttl-seconds", "999999")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);

    // Unknown callers: a wrong secret, another tenant, no proxy headers, a made-up
    // instance. Each gets 404 and nothing of the instance.
    let wrong_secret = Proxy {
        secret: "guess".into(),
        ..md.clone_for(&id, &project)
    };
    let other_tenant = Proxy {
        tenant: "someone-else".into(),
        ..md.clone_for(&id, &project)
    };
    let made_up = md.clone_for(&uuid::Uuid::new_v4().to_string(), &project);
    for (who, p) in [
        ("wrong secret", &wrong_secret),
        ("other tenant", &other_tenant),
        ("made up", &made_up),
    ] {
        for path in [
            "/latest/meta-data/instance-id",
            "/latest/user-data",
            "/openstack/latest/meta_data.json",
        ] {
            let (s, text) = p.get(path).await;
            assert_eq!(s, 404, "{who} {path}: {text}");
            assert!(
                !text.contains(&ec2_id) && !text.contains("hello from user data"),
                "{who}: {text}"
            );
        }
    }
    let r = md
        .http
        .get(format!("{}/latest/meta-data/instance-id", md.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);

    // Once deleted, the instance is unknown too.
    let (s, _) = cloud.delete_server(&demo, &id).await;
    assert_eq!(s, 204);
    metacloud_tests::wait_for("deleted", std::time::Duration::from_secs(30), || async {
        (md.get("/latest/meta-data/instance-id").await.0 == 404).then_some(())
    })
    .await;
}

impl Proxy {
    fn clone_for(&self, instance: &str, tenant: &str) -> Proxy {
        Proxy {
            base: self.base.clone(),
            instance: instance.into(),
            tenant: tenant.into(),
            secret: self.secret.clone(),
            http: self.http.clone(),
        }
    }
}

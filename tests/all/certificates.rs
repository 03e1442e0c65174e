//! The cert service through the OpenStack dialect (Nova's `os-certificates`): a CA per
//! project, made on first use; user certificates signed by it; the root certificate
//! fetchable; the private key handed to the client, never to the dialect.

use crate::openstack::Cloud;
use serde_json::Value;
use x509_parser::certificate::X509Certificate;
use x509_parser::pem::{parse_x509_pem, Pem};

const DAY: i64 = 86_400;

/// The one PEM block of `text` (a `CERTIFICATE`).
fn pem(text: &str) -> Pem {
    let (rest, p) = parse_x509_pem(text.as_bytes()).expect("a PEM certificate");
    assert_eq!(p.label, "CERTIFICATE");
    assert!(String::from_utf8_lossy(rest).trim().is_empty(), "one block");
    p
}

fn cert(p: &Pem) -> X509Certificate<'_> {
    p.parse_x509().expect("an X.509 certificate")
}

/// The user id a token stands for.
async fn user_of(c: &Cloud, token: &str) -> String {
    let r = c
        .http
        .get(format!("{}/auth/tokens", c.keystone))
        .header("x-auth-token", token)
        .header("x-subject-token", token)
        .send()
        .await
        .unwrap();
    r.json::<Value>().await.unwrap()["token"]["user"]["id"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn create(c: &Cloud, token: &str) -> (u16, Value) {
    let (s, _, b) = c
        .call(token, reqwest::Method::POST, "/v2.1/os-certificates", None)
        .await;
    (s, b)
}

async fn root(c: &Cloud, token: &str) -> String {
    let (s, b) = c.get(token, "/v2.1/os-certificates/root").await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["certificate"]["private_key"], Value::Null, "{b}");
    b["certificate"]["data"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn certificates_are_signed_by_their_own_projects_ca() {
    let c = Cloud::start().await;
    let admin = c.token("admin", "admin-pw", "admin").await;
    let demo = c.token("demo", "demo-pw", "demo").await;
    let other = c.user_in_new_project(&admin, "certs-other", "member").await;
    let reader = c
        .user_in_new_project(&admin, "certs-reader", "reader")
        .await;
    let (demo_user, demo_project) = (user_of(&c, &demo).await, c.project_of(&demo).await);

    // A member gets a certificate and its private key (Nova's shape, a body ignored).
    let (s, _, b) = c
        .call(
            &demo,
            reqwest::Method::POST,
            "/v2.1/os-certificates",
            Some(serde_json::json!({"ignored": true})),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let keys: Vec<&String> = b["certificate"].as_object().unwrap().keys().collect();
    assert_eq!(keys, ["data", "private_key"], "{b}");
    let key_pem = b["certificate"]["private_key"].as_str().unwrap();
    assert!(
        key_pem.starts_with("-----BEGIN PRIVATE KEY-----\n")
            && key_pem.trim_end().ends_with("-----END PRIVATE KEY-----"),
        "the key itself, opened by the host: {key_pem}"
    );
    assert!(!b.to_string().contains("sealed:"), "{b}");
    let user_pem = pem(b["certificate"]["data"].as_str().unwrap());
    let user = cert(&user_pem);
    assert_eq!(
        user.subject().to_string(),
        format!("CN={demo_user}, OU={demo_project}, O=Metacloud")
    );
    assert!(!user.is_ca());
    let eku = user.extended_key_usage().unwrap().expect("an EKU").value;
    assert!(eku.client_auth && !eku.server_auth);
    let life = user.validity().not_after.timestamp() - user.validity().not_before.timestamp();
    assert!((364 * DAY..=366 * DAY).contains(&life), "{life}");
    // The private key is this certificate's.
    let key = rcgen::KeyPair::from_pem(key_pem).expect("a PKCS #8 key");
    assert_eq!(
        key.public_key_raw(),
        &user.public_key().subject_public_key.data[..]
    );

    // Signed by the project's root, which is a CA.
    let root_pem = pem(&root(&c, &demo).await);
    let ca = cert(&root_pem);
    assert!(ca.is_ca());
    assert_eq!(
        ca.subject().to_string(),
        format!("CN=Metacloud project CA {demo_project}, OU={demo_project}, O=Metacloud")
    );
    let usage = ca.key_usage().unwrap().expect("key usage").value;
    assert!(usage.key_cert_sign() && usage.crl_sign());
    let life = ca.validity().not_after.timestamp() - ca.validity().not_before.timestamp();
    assert!((3649 * DAY..=3651 * DAY).contains(&life), "{life}");
    ca.verify_signature(None).expect("self-signed");
    assert_eq!(user.issuer(), ca.subject());
    user.verify_signature(Some(ca.public_key()))
        .expect("signed by the project's CA");
    // The same CA every time; a second certificate is a new one from it.
    assert_eq!(root(&c, &demo).await, root(&c, &demo).await);
    let (s, b) = create(&c, &demo).await;
    assert_eq!(s, 200, "{b}");
    let second_pem = pem(b["certificate"]["data"].as_str().unwrap());
    let second = cert(&second_pem);
    assert_ne!(second.raw_serial(), user.raw_serial());
    assert_ne!(
        b["certificate"]["private_key"].as_str().unwrap(),
        key_pem,
        "a new key each time"
    );
    second.verify_signature(Some(ca.public_key())).unwrap();

    // Another project has a CA of its own: demo's certificate does not verify against it.
    let other_root_pem = pem(&root(&c, &other).await);
    let other_ca = cert(&other_root_pem);
    assert_ne!(other_ca.subject(), ca.subject());
    assert_ne!(other_ca.public_key().raw, ca.public_key().raw);
    assert!(user.verify_signature(Some(other_ca.public_key())).is_err());
    let (s, b) = create(&c, &other).await;
    assert_eq!(s, 200, "{b}");
    let theirs_pem = pem(b["certificate"]["data"].as_str().unwrap());
    let theirs = cert(&theirs_pem);
    theirs
        .verify_signature(Some(other_ca.public_key()))
        .unwrap();
    assert!(theirs.verify_signature(Some(ca.public_key())).is_err());

    // A reader may fetch the root but not get a certificate.
    let (s, b) = create(&c, &reader).await;
    assert_eq!(
        (s, b["forbidden"]["code"].as_u64()),
        (403, Some(403)),
        "{b}"
    );
    let reader_root = root(&c, &reader).await;
    assert_ne!(reader_root, root(&c, &demo).await);
    // Only `root` can be fetched, as in Nova.
    let (s, b) = c.get(&demo, "/v2.1/os-certificates/other").await;
    assert_eq!(s, 501, "{b}");

    // No token: 401, and nothing issued.
    for r in [
        c.http.post(format!("{}/v2.1/os-certificates", c.nova)),
        c.http.get(format!("{}/v2.1/os-certificates/root", c.nova)),
    ] {
        let r = r.send().await.unwrap();
        assert_eq!(r.status().as_u16(), 401);
    }

    // Listed among the extensions.
    let (s, b) = c.get(&demo, "/v2.1/extensions/os-certificates").await;
    assert_eq!(
        (s, b["extension"]["name"].as_str()),
        (200, Some("Certificates"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_first_uses_make_one_ca() {
    let c = Cloud::start().await;
    let admin = c.token("admin", "admin-pw", "admin").await;
    let member = c.user_in_new_project(&admin, "certs-race", "member").await;
    let mut calls = Vec::new();
    for n in 0..6 {
        let (http, nova, token) = (c.http.clone(), c.nova.clone(), member.clone());
        calls.push(tokio::spawn(async move {
            let r = if n % 2 == 0 {
                http.get(format!("{nova}/v2.1/os-certificates/root"))
            } else {
                http.post(format!("{nova}/v2.1/os-certificates"))
            };
            let r = r.header("x-auth-token", token).send().await.unwrap();
            assert_eq!(r.status().as_u16(), 200);
            r.json::<Value>().await.unwrap()["certificate"]["data"]
                .as_str()
                .unwrap()
                .to_string()
        }));
    }
    let mut issued = Vec::new();
    for call in calls {
        issued.push(call.await.unwrap());
    }
    let root_pem = pem(&root(&c, &member).await);
    let ca = cert(&root_pem);
    for (n, data) in issued.iter().enumerate() {
        if n % 2 == 0 {
            assert_eq!(pem(data).contents, root_pem.contents, "one CA");
        } else {
            let p = pem(data);
            cert(&p)
                .verify_signature(Some(ca.public_key()))
                .expect("signed by the one CA");
        }
    }
}

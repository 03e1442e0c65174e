//! The identity API (Keystone v3) as clients see it, through the `openstack-identity`
//! dialect plugin, on SQLite and on PostgreSQL: tokens, policy, administration, EC2
//! credentials, and secrets that never reach the plugin.

use metacloud::Role;
use metacloud_config::Config;
use metacloud_db::{now_ms, scratch};
use metacloud_identity::token::{Payload, Signer};
use metacloud_identity::Identity;
use serde_json::{json, Value};

/// The API role alone (identity, image and compute listeners with their dialects) on the
/// database at `db_url`.
pub(crate) struct Api {
    pub running: metacloud::Running,
    pub config: Config,
}

impl Api {
    pub async fn start(db_url: &str, what: &str) -> Api {
        let dir = metacloud_tests::scratch_dir(what);
        let mut c = Config::default();
        c.service.data_dir = Some(dir.clone());
        c.database.url = Some(db_url.to_string());
        for addr in [
            &mut c.api.listen,
            &mut c.api.compute_listen,
            &mut c.api.image_listen,
            &mut c.api.ec2_listen,
            &mut c.api.metadata_listen,
            &mut c.api.network_listen,
            &mut c.identity.listen,
        ] {
            *addr = "127.0.0.1:0".parse().unwrap();
        }
        c.api.plugin_dir = Some(crate::plugins::dist().join("api"));
        c.plugins.cache_dir = Some(dir.join("plugin-cache"));
        c.identity.admin_password = Some("admin-pw".into());
        c.identity.demo_password = Some("demo-pw".into());
        c.validate().unwrap();
        let running = metacloud::start(&c, &[Role::Api])
            .await
            .expect("start the API");
        // The config as running: the catalog names the bound addresses.
        c.identity.listen = running.identity_addr.unwrap();
        Api { running, config: c }
    }

    pub fn keystone(&self) -> String {
        format!("http://{}/v3", self.running.identity_addr.unwrap())
    }

    pub fn glance(&self) -> String {
        format!("http://{}", self.running.image_addr.unwrap())
    }
}

struct Keystone {
    url: String,
    http: reqwest::Client,
    identity: Identity,
    config: Config,
    _api: Api,
}

async fn start(db_url: &str) -> Keystone {
    let api = Api::start(db_url, "identity").await;
    Keystone {
        url: api.keystone(),
        http: reqwest::Client::new(),
        identity: api.running.identity.clone().unwrap(),
        config: api.config.clone(),
        _api: api,
    }
}

fn password_auth(user: &str, pw: &str, project: Option<&str>) -> Value {
    let mut auth = json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": user, "domain": {"name": "Default"}, "password": pw}}}}});
    if let Some(p) = project {
        auth["auth"]["scope"] = json!({"project": {"name": p, "domain": {"id": "default"}}});
    }
    auth
}

impl Keystone {
    /// (status, X-Subject-Token, body)
    async fn login(&self, user: &str, pw: &str, project: Option<&str>) -> (u16, String, Value) {
        let r = self
            .http
            .post(format!("{}/auth/tokens", self.url))
            .json(&password_auth(user, pw, project))
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let token = r
            .headers()
            .get("x-subject-token")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        (status, token, r.json().await.unwrap_or(Value::Null))
    }

    async fn token(&self, user: &str, pw: &str, project: &str) -> String {
        let (status, token, body) = self.login(user, pw, Some(project)).await;
        assert_eq!(status, 201, "{body}");
        token
    }

    async fn call(
        &self,
        token: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.url))
            .header("x-auth-token", token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.unwrap();
        (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
    }

    async fn validate(&self, token: &str, subject: &str) -> u16 {
        self.http
            .get(format!("{}/auth/tokens", self.url))
            .header("x-auth-token", token)
            .header("x-subject-token", subject)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }
}

async fn on_both<F, Fut>(f: F)
where
    F: Fn(Keystone) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    scratch::on_both(|url| {
        let f = &f;
        async move { f(start(&url).await).await }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_tokens_scoped_with_catalog_and_clouds_yaml() {
    on_both(|k| async move {
        let (status, token, body) = k.login("demo", "demo-pw", Some("demo")).await;
        assert_eq!(status, 201, "{body}");
        assert!(!token.is_empty());
        assert!(
            !token.starts_with("sealed:"),
            "the host opens the token it made: {token}"
        );
        let t = &body["token"];
        assert_eq!(t["project"]["name"], "demo");
        let roles: Vec<&str> = t["roles"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|r| r["name"].as_str())
            .collect();
        assert!(
            roles.contains(&"member") && roles.contains(&"reader") && !roles.contains(&"admin"),
            "{roles:?}"
        );
        let types: Vec<&str> = t["catalog"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|s| s["type"].as_str())
            .collect();
        assert_eq!(types, vec!["identity", "compute", "image", "network"]);
        assert!(t["expires_at"].as_str().unwrap().ends_with('Z'));
        // Admin implies member and reader.
        let (_, _, body) = k.login("admin", "admin-pw", Some("admin")).await;
        let n = body["token"]["roles"].as_array().unwrap().len();
        assert_eq!(n, 3, "{body}");
        // Unscoped request: scoped to the default project.
        let (status, _, body) = k.login("demo", "demo-pw", None).await;
        assert_eq!(status, 201);
        assert_eq!(body["token"]["project"]["name"], "demo");
        // Wrong password, unknown user, foreign project: 401 in Keystone's shape.
        let (status, _, body) = k.login("demo", "nope", Some("demo")).await;
        assert_eq!(status, 401);
        assert_eq!(body["error"]["code"], 401);
        assert_eq!(body["error"]["title"], "Unauthorized");
        assert_eq!(k.login("ghost", "x", None).await.0, 401);
        assert_eq!(k.login("demo", "demo-pw", Some("admin")).await.0, 401);
        // clouds.yaml names both clouds and the identity endpoint.
        let yaml = std::fs::read_to_string(k.config.data_dir().join("clouds.yaml")).unwrap();
        for needle in [
            "metacloud:",
            "metacloud-admin:",
            &k.url,
            "\"demo-pw\"",
            "identity_api_version: 3",
        ] {
            assert!(yaml.contains(needle), "{needle} missing from {yaml}");
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_validate_revoke_and_expire() {
    on_both(|k| async move {
        let demo = k.token("demo", "demo-pw", "demo").await;
        let admin = k.token("admin", "admin-pw", "admin").await;
        assert_eq!(k.validate(&demo, &demo).await, 200);
        assert_eq!(
            k.validate(&admin, &demo).await,
            200,
            "admins validate others' tokens"
        );
        assert_eq!(k.validate(&demo, &admin).await, 403, "members do not");
        let r = k
            .http
            .delete(format!("{}/auth/tokens", k.url))
            .header("x-auth-token", &demo)
            .header("x-subject-token", &demo)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 204);
        assert_eq!(k.validate(&admin, &demo).await, 404);
        assert_eq!(
            k.validate(&demo, &demo).await,
            401,
            "a revoked token authenticates nothing"
        );
        // Forged and expired tokens are not tokens.
        assert_eq!(k.validate(&admin, "abc.def").await, 404);
        let secret = k.identity.db().token_signing_secret().await.unwrap();
        let user = k.identity.db().find_user("demo").await.unwrap();
        let expired = Signer::new(secret.as_bytes()).sign(&Payload {
            user_id: user.id,
            project_id: user.default_project_id,
            methods: vec!["password".into()],
            issued_at: now_ms() - 7_200_000,
            expires_at: now_ms() - 3_600_000,
            audit_id: "expired".into(),
        });
        assert_eq!(k.validate(&admin, &expired).await, 404);
        // Token method: a new token that does not outlive the old one.
        let fresh = k.token("demo", "demo-pw", "demo").await;
        let r = k
            .http
            .post(format!("{}/auth/tokens", k.url))
            .json(&json!({"auth": {"identity": {"methods": ["token"], "token": {"id": fresh}}}}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 201);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn administration_and_its_policy() {
    use reqwest::Method;
    on_both(|k| async move {
        let admin = k.token("admin", "admin-pw", "admin").await;
        let demo = k.token("demo", "demo-pw", "demo").await;
        let (s, body) = k.call(&admin, Method::POST, "/projects", Some(json!({"project": {"name": "other", "domain_id": "default"}}))).await;
        assert_eq!(s, 201, "{body}");
        let project = body["project"]["id"].as_str().unwrap().to_string();
        let (s, _) = k.call(&admin, Method::POST, "/projects", Some(json!({"project": {"name": "other"}}))).await;
        assert_eq!(s, 409);
        let (s, body) = k.call(&admin, Method::POST, "/users", Some(json!({"user": {"name": "olga", "password": "pw", "default_project_id": project}}))).await;
        assert_eq!(s, 201, "{body}");
        let user = body["user"]["id"].as_str().unwrap().to_string();
        assert!(body["user"].get("password").is_none());
        // No role yet: cannot log in to the project.
        assert_eq!(k.login("olga", "pw", Some("other")).await.0, 401);
        let (_, roles) = k.call(&admin, Method::GET, "/roles?name=member", None).await;
        let member = roles["roles"][0]["id"].as_str().unwrap().to_string();
        let (s, _) = k.call(&admin, Method::PUT, &format!("/projects/{project}/users/{user}/roles/{member}"), None).await;
        assert_eq!(s, 204);
        let olga = k.token("olga", "pw", "other").await;
        // Lookups the openstack client makes.
        let (s, body) = k.call(&admin, Method::GET, "/projects?name=other", None).await;
        assert_eq!((s, body["projects"].as_array().unwrap().len()), (200, 1));
        let (s, body) = k.call(&admin, Method::GET, "/projects/other", None).await;
        assert_eq!((s, body["error"]["code"].as_u64()), (404, Some(404)));
        // Members administer nothing.
        let (s, _) = k.call(&demo, Method::POST, "/projects", Some(json!({"project": {"name": "mine"}}))).await;
        assert_eq!(s, 403);
        assert_eq!(k.call(&demo, Method::GET, "/users", None).await.0, 403);
        let (s, body) = k.call(&demo, Method::GET, "/projects", None).await;
        assert_eq!(s, 200);
        assert_eq!(body["projects"].as_array().unwrap().len(), 1, "a member sees its own projects");
        // Taking the role away ends the token's validity at once.
        let (s, _) = k.call(&admin, Method::DELETE, &format!("/projects/{project}/users/{user}/roles/{member}"), None).await;
        assert_eq!(s, 204);
        assert_eq!(k.validate(&admin, &olga).await, 404);
        // Disabling a user likewise.
        let demo_user = k.identity.db().find_user("demo").await.unwrap();
        let (s, _) = k.call(&admin, Method::PATCH, &format!("/users/{}", demo_user.id), Some(json!({"user": {"enabled": false}}))).await;
        assert_eq!(s, 200);
        assert_eq!(k.validate(&admin, &demo).await, 404);
        // Bad bodies are 400 in Keystone's shape.
        let (s, body) = k.call(&admin, Method::POST, "/projects", Some(json!({"project": {"name": 7}}))).await;
        assert_eq!((s, body["error"]["code"].as_u64()), (400, Some(400)));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ec2_credentials_belong_to_their_user() {
    use reqwest::Method;
    on_both(|k| async move {
        let admin = k.token("admin", "admin-pw", "admin").await;
        let demo = k.token("demo", "demo-pw", "demo").await;
        let demo_user = k.identity.db().find_user("demo").await.unwrap();
        let path = format!("/users/{}/credentials/OS-EC2", demo_user.id);
        let (s, body) = k
            .call(
                &demo,
                Method::POST,
                &path,
                Some(json!({"tenant_id": demo_user.default_project_id})),
            )
            .await;
        assert_eq!(s, 201, "{body}");
        let access = body["credential"]["access"].as_str().unwrap().to_string();
        let secret = body["credential"]["secret"].as_str().unwrap();
        assert!(
            secret.len() >= 32 && !secret.contains("sealed:"),
            "{secret}"
        );
        let (s, body) = k.call(&demo, Method::GET, &path, None).await;
        assert_eq!((s, body["credentials"].as_array().unwrap().len()), (200, 1));
        let admin_user = k.identity.db().find_user("admin").await.unwrap();
        let theirs = format!("/users/{}/credentials/OS-EC2", admin_user.id);
        assert_eq!(k.call(&demo, Method::GET, &theirs, None).await.0, 403);
        assert_eq!(k.call(&admin, Method::GET, &path, None).await.0, 200);
        let (s, _) = k
            .call(&demo, Method::DELETE, &format!("{path}/{access}"), None)
            .await;
        assert_eq!(s, 204);
        assert_eq!(
            k.call(&demo, Method::GET, &format!("{path}/{access}"), None)
                .await
                .0,
            404
        );
    })
    .await;
}

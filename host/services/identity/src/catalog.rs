//! The service catalog: where compute, image and identity answer.

use metacloud_config::Config;
use serde::Serialize;

/// One service with its endpoints (public, internal and admin share a URL here).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Service {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub name: String,
    pub url: String,
}

/// Every service of the cloud, in the configured region.
#[derive(Debug, Clone, PartialEq)]
pub struct Catalog {
    pub region: String,
    pub services: Vec<Service>,
}

fn base(addr: &std::net::SocketAddr) -> String {
    format!("http://{addr}")
}

impl Catalog {
    pub fn from_config(config: &Config) -> Catalog {
        let id = &config.identity;
        let identity = id
            .public_identity_url
            .clone()
            .unwrap_or_else(|| base(&id.listen));
        let compute = id
            .public_compute_url
            .clone()
            .unwrap_or_else(|| base(&config.api.compute_listen));
        let image = id
            .public_image_url
            .clone()
            .unwrap_or_else(|| base(&config.api.image_listen));
        let trim = |s: String| s.trim_end_matches('/').to_string();
        // The Network API only once a dialect serves it: clients that find a `network`
        // entry send their network commands there instead of to Nova.
        let network = (!config.api.network_dialects.is_empty()).then(|| Service {
            id: "network".into(),
            kind: "network".into(),
            name: "neutron".into(),
            url: trim(
                id.public_network_url
                    .clone()
                    .unwrap_or_else(|| base(&config.api.network_listen)),
            ),
        });
        Catalog {
            region: id.region.clone(),
            services: vec![
                Service {
                    id: "identity".into(),
                    kind: "identity".into(),
                    name: "keystone".into(),
                    url: format!("{}/v3", trim(identity)),
                },
                Service {
                    id: "compute".into(),
                    kind: "compute".into(),
                    name: "nova".into(),
                    url: format!("{}/v2.1", trim(compute)),
                },
                Service {
                    id: "image".into(),
                    kind: "image".into(),
                    name: "glance".into(),
                    url: trim(image),
                },
            ]
            .into_iter()
            .chain(network)
            .collect(),
        }
    }

    /// The URL of the service of type `kind`.
    pub fn url(&self, kind: &str) -> Option<&str> {
        self.services
            .iter()
            .find(|s| s.kind == kind)
            .map(|s| s.url.as_str())
    }
}

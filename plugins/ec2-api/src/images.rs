//! Images: DescribeImages and DeregisterImage.
//!
//! Images are read from the image service's listing (`images::list`), which knows their
//! owner and visibility; where that import is not served, from the compute API's image
//! proxy (`compute::list-images`), which does not (owner empty, `isPublic` false, `Owner.N`
//! not applied).

use crate::bindings::metacloud::api::types::{Caller, Image, OpError};
use crate::bindings::metacloud::api::{compute, images};
use crate::ids::{self, Kind};
use crate::params::{paginate, Filter, Paging, Params};
use crate::xml::{iso8601, Xml};
use crate::{Ctx, Ec2Error, Family};

/// An image as EC2 shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageView {
    pub id: String,
    pub name: String,
    pub status: String,
    /// The owning project, when the listing says.
    pub owner: Option<String>,
    /// Whether it is public, when the listing says.
    pub public: Option<bool>,
    pub created_at: i64,
    pub properties: Vec<(String, String)>,
}

impl From<images::StoredImage> for ImageView {
    fn from(i: images::StoredImage) -> ImageView {
        ImageView {
            public: Some(i.visibility == "public"),
            id: i.id,
            name: i.name,
            status: i.status,
            owner: i.owner,
            created_at: i.created_at,
            properties: i.properties,
        }
    }
}

impl From<Image> for ImageView {
    fn from(i: Image) -> ImageView {
        ImageView {
            id: i.id,
            name: i.name,
            status: i.status,
            owner: None,
            public: None,
            created_at: i.created_at,
            properties: i.metadata,
        }
    }
}

/// The images the caller sees.
pub fn load(c: &Caller) -> Result<Vec<ImageView>, Ec2Error> {
    match images::list(c, None, None) {
        Ok(list) => Ok(list.into_iter().map(ImageView::from).collect()),
        Err(OpError::Unavailable(_)) => Ok(compute::list_images(c)
            .map_err(|e| Ec2Error::from_op(e, Family::Image))?
            .into_iter()
            .map(ImageView::from)
            .collect()),
        Err(e) => Err(Ec2Error::from_op(e, Family::Image)),
    }
}

/// EC2's image state for the image service's status.
pub fn image_state(status: &str) -> &'static str {
    match status {
        "active" => "available",
        "queued" | "saving" | "importing" | "uploading" => "pending",
        "deleted" | "pending_delete" => "deregistered",
        "deactivated" => "disabled",
        _ => "failed",
    }
}

fn property<'a>(i: &'a ImageView, key: &str) -> Option<&'a str> {
    i.properties
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// The architecture (`architecture` or `hw_architecture` property) in EC2's words;
/// `x86_64` when unset.
pub fn architecture(i: &ImageView) -> String {
    let raw = property(i, "architecture")
        .or_else(|| property(i, "hw_architecture"))
        .unwrap_or("x86_64");
    match raw.to_ascii_lowercase().as_str() {
        "" | "x86_64" | "amd64" | "x64" => "x86_64".to_string(),
        "aarch64" | "arm64" => "arm64".to_string(),
        "i386" | "i686" | "x86" => "i386".to_string(),
        other => other.to_string(),
    }
}

pub fn image_id(i: &ImageView) -> String {
    ids::ec2_id(Kind::Image, &i.id)
}

pub const IMAGE_FILTERS: &[&str] = &[
    "architecture",
    "image-id",
    "image-type",
    "is-public",
    "name",
    "owner-id",
    "root-device-type",
    "state",
    "virtualization-type",
];

/// A DescribeImages request.
#[derive(Debug, Clone, PartialEq)]
pub struct DescribeRequest {
    pub ids: Vec<String>,
    pub owners: Vec<String>,
    pub filters: Vec<Filter>,
    pub paging: Paging,
}

impl DescribeRequest {
    pub fn parse(p: &Params) -> Result<DescribeRequest, Ec2Error> {
        let ids = p.list("ImageId")?;
        for id in &ids {
            ids::parse(Kind::Image, id)?;
        }
        let filters = p.filters()?;
        for f in &filters {
            if !IMAGE_FILTERS.contains(&f.name.as_str()) {
                return Err(Ec2Error::invalid(format!(
                    "The filter '{}' is invalid",
                    f.name
                )));
            }
        }
        // Who may launch an image is not modelled: ExecutableBy.N is read and ignored.
        p.list("ExecutableBy")?;
        p.boolean("IncludeDeprecated")?;
        p.boolean("IncludeDisabled")?;
        let paging = p.paging(6, 1000)?;
        if !ids.is_empty() && paging.max_results.is_some() {
            return Err(Ec2Error::client(
                "InvalidParameterCombination",
                "The parameter ImageIds cannot be used with the parameter MaxResults",
            ));
        }
        Ok(DescribeRequest {
            ids: ids.into_iter().map(String::from).collect(),
            owners: p.list("Owner")?.into_iter().map(String::from).collect(),
            filters,
            paging,
        })
    }
}

fn filter_matches(f: &Filter, i: &ImageView) -> bool {
    match f.name.as_str() {
        "architecture" => f.matches(&architecture(i)),
        "image-id" => f.matches(&image_id(i)),
        "image-type" => f.matches("machine"),
        "is-public" => f.matches(if i.public == Some(true) {
            "true"
        } else {
            "false"
        }),
        "name" => f.matches(&i.name),
        "owner-id" => i.owner.as_deref().is_some_and(|o| f.matches(o)),
        "root-device-type" => f.matches("instance-store"),
        "state" => f.matches(image_state(&i.status)),
        "virtualization-type" => f.matches("hvm"),
        _ => false,
    }
}

/// Whether `Owner.N` keeps an image: `self` is the caller's project, an id that project;
/// `amazon` and `aws-marketplace` own nothing here. An image of unknown owner stays.
fn owner_matches(owners: &[String], project: &str, i: &ImageView) -> bool {
    let Some(owner) = i.owner.as_deref() else {
        return true;
    };
    owners.is_empty()
        || owners
            .iter()
            .any(|o| o == owner || (o == "self" && owner == project))
}

/// The page of images a DescribeImages answers.
pub fn select<'a>(
    all: &'a [ImageView],
    req: &DescribeRequest,
    project: &str,
) -> Result<(Vec<&'a ImageView>, Option<String>), Ec2Error> {
    let mut picked: Vec<&ImageView> = if req.ids.is_empty() {
        all.iter().collect()
    } else {
        let names: Vec<&str> = req.ids.iter().map(String::as_str).collect();
        let mut found = ids::resolve_all(Kind::Image, all, |i| i.id.as_str(), &names)?;
        let mut seen = std::collections::HashSet::new();
        found.retain(|i| seen.insert(i.id.as_str()));
        found
    };
    picked.retain(|i| {
        owner_matches(&req.owners, project, i) && req.filters.iter().all(|f| filter_matches(f, i))
    });
    paginate(picked, |i| image_id(i), &req.paging)
}

pub fn write_image(x: &mut Xml, i: &ImageView) {
    let owner = i.owner.as_deref().unwrap_or("");
    x.leaf("imageId", &image_id(i))
        .leaf("imageLocation", &format!("{owner}/{}", i.name))
        .leaf("imageState", image_state(&i.status))
        .leaf("imageOwnerId", owner)
        .leaf("creationDate", &iso8601(i.created_at))
        .boolean("isPublic", i.public == Some(true))
        .leaf("architecture", &architecture(i))
        .leaf("imageType", "machine")
        .leaf("name", &i.name);
    if let Some(d) = property(i, "description") {
        x.leaf("description", d);
    }
    if let Some(src) = property(i, "instance_uuid") {
        x.leaf("sourceInstanceId", &ids::ec2_id(Kind::Instance, src));
    }
    x.leaf("rootDeviceType", "instance-store")
        .leaf("rootDeviceName", "/dev/vda")
        .elem("blockDeviceMapping", |_| {})
        .leaf("virtualizationType", "hvm")
        .elem("tagSet", |_| {})
        .leaf("hypervisor", "kvm");
}

pub fn render_describe(page: &[&ImageView], next: Option<&str>) -> String {
    let mut x = Xml::new();
    x.set("imagesSet", page, |x, i| write_image(x, i));
    if let Some(t) = next {
        x.leaf("nextToken", t);
    }
    x.finish()
}

pub fn describe_images(ctx: &Ctx) -> Result<String, Ec2Error> {
    let req = DescribeRequest::parse(ctx.params)?;
    let all = load(ctx.caller)?;
    let (page, next) = select(&all, &req, &ctx.caller.project_id)?;
    Ok(render_describe(&page, next.as_deref()))
}

/// `ImageId` of DeregisterImage.
pub fn deregister_target(p: &Params) -> Result<String, Ec2Error> {
    let id = p.required("ImageId")?;
    ids::parse(Kind::Image, id)?;
    p.boolean("DeleteAssociatedSnapshots")?;
    Ok(id.to_string())
}

pub fn deregister_image(ctx: &Ctx) -> Result<String, Ec2Error> {
    let id = deregister_target(ctx.params)?;
    let all = load(ctx.caller)?;
    let image = ids::resolve(Kind::Image, &all, |i| i.id.as_str(), &id)?;
    compute::delete_image(ctx.caller, &image.id)
        .map_err(|e| Ec2Error::from_op(e, Family::Image))?;
    let mut x = Xml::new();
    x.boolean("return", true);
    Ok(x.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::params;

    fn image(
        id: &str,
        name: &str,
        status: &str,
        owner: Option<&str>,
        public: Option<bool>,
    ) -> ImageView {
        ImageView {
            id: id.into(),
            name: name.into(),
            status: status.into(),
            owner: owner.map(String::from),
            public,
            created_at: 1_764_594_957_000,
            properties: Vec::new(),
        }
    }

    fn catalogue() -> Vec<ImageView> {
        let mut arm = image(
            "22222222-0000-0000-0000-000000000000",
            "ubuntu-arm",
            "active",
            Some("p2"),
            Some(true),
        );
        arm.properties = vec![("hw_architecture".into(), "aarch64".into())];
        vec![
            image(
                "11111111-0000-0000-0000-000000000000",
                "cirros",
                "active",
                Some("p1"),
                Some(false),
            ),
            arm,
            image(
                "33333333-0000-0000-0000-000000000000",
                "snap",
                "queued",
                Some("p1"),
                Some(false),
            ),
        ]
    }

    fn pick(list: &[(&str, &str)]) -> Result<Vec<String>, Ec2Error> {
        let all = catalogue();
        let req = DescribeRequest::parse(&params(list))?;
        Ok(select(&all, &req, "p1")?
            .0
            .iter()
            .map(|i| i.name.clone())
            .collect())
    }

    #[test]
    fn states_and_architectures() {
        assert_eq!(image_state("active"), "available");
        assert_eq!(image_state("queued"), "pending");
        assert_eq!(image_state("saving"), "pending");
        assert_eq!(image_state("killed"), "failed");
        assert_eq!(image_state("deleted"), "deregistered");
        assert_eq!(image_state("<x>"), "failed");
        let all = catalogue();
        assert_eq!(architecture(&all[0]), "x86_64");
        assert_eq!(architecture(&all[1]), "arm64");
    }

    #[test]
    fn selection() {
        assert_eq!(pick(&[]).unwrap(), vec!["cirros", "ubuntu-arm", "snap"]);
        assert_eq!(
            pick(&[("ImageId.1", "ami-22222222")]).unwrap(),
            vec!["ubuntu-arm"]
        );
        assert_eq!(
            pick(&[("ImageId.1", "ami-44444444")]).unwrap_err().code,
            "InvalidAMIID.NotFound"
        );
        assert_eq!(
            pick(&[("ImageId.1", "ami-4")]).unwrap_err().code,
            "InvalidAMIID.Malformed"
        );
        assert_eq!(
            pick(&[("Owner.1", "self")]).unwrap(),
            vec!["cirros", "snap"]
        );
        assert_eq!(pick(&[("Owner.1", "p2")]).unwrap(), vec!["ubuntu-arm"]);
        assert_eq!(
            pick(&[("Owner.1", "amazon")]).unwrap(),
            Vec::<String>::new()
        );
        assert_eq!(
            pick(&[("Filter.1.Name", "name"), ("Filter.1.Value.1", "cir*")]).unwrap(),
            vec!["cirros"]
        );
        assert_eq!(
            pick(&[
                ("Filter.1.Name", "image-id"),
                ("Filter.1.Value.1", "ami-33333333000000000")
            ])
            .unwrap(),
            vec!["snap"]
        );
        assert_eq!(
            pick(&[("Filter.1.Name", "state"), ("Filter.1.Value.1", "pending")]).unwrap(),
            vec!["snap"]
        );
        assert_eq!(
            pick(&[("Filter.1.Name", "is-public"), ("Filter.1.Value.1", "true")]).unwrap(),
            vec!["ubuntu-arm"]
        );
        assert_eq!(
            pick(&[
                ("Filter.1.Name", "architecture"),
                ("Filter.1.Value.1", "arm64")
            ])
            .unwrap(),
            vec!["ubuntu-arm"]
        );
        assert_eq!(
            pick(&[("Filter.1.Name", "kernel-id"), ("Filter.1.Value.1", "x")])
                .unwrap_err()
                .code,
            "InvalidParameterValue"
        );
        // Unknown owners (the compute proxy's listing) are not filtered away.
        let mut all = catalogue();
        all[0].owner = None;
        let req = DescribeRequest::parse(&params(&[("Owner.1", "p2")])).unwrap();
        assert_eq!(select(&all, &req, "p1").unwrap().0.len(), 2);
    }

    #[test]
    fn image_xml() {
        let mut i = image(
            "11111111-0000-0000-0000-000000000000",
            "a <b> & \"c\"",
            "active",
            Some("p1"),
            Some(true),
        );
        i.properties = vec![(
            "instance_uuid".into(),
            "0a000000-0000-0000-0000-000000000001".into(),
        )];
        let body = render_describe(&[&i], None);
        assert_eq!(
            body,
            "<imagesSet><item><imageId>ami-11111111000000000</imageId>\
             <imageLocation>p1/a &lt;b&gt; &amp; &quot;c&quot;</imageLocation><imageState>available</imageState>\
             <imageOwnerId>p1</imageOwnerId><creationDate>2025-12-01T13:15:57.000Z</creationDate>\
             <isPublic>true</isPublic><architecture>x86_64</architecture><imageType>machine</imageType>\
             <name>a &lt;b&gt; &amp; &quot;c&quot;</name><sourceInstanceId>i-0a000000000000000</sourceInstanceId>\
             <rootDeviceType>instance-store</rootDeviceType><rootDeviceName>/dev/vda</rootDeviceName>\
             <blockDeviceMapping></blockDeviceMapping><virtualizationType>hvm</virtualizationType>\
             <tagSet></tagSet><hypervisor>kvm</hypervisor></item></imagesSet>"
        );
    }

    #[test]
    fn deregistering_needs_an_ami() {
        assert_eq!(
            deregister_target(&params(&[("ImageId", "ami-11111111")])).unwrap(),
            "ami-11111111"
        );
        assert_eq!(
            deregister_target(&params(&[])).unwrap_err().code,
            "MissingParameter"
        );
        assert_eq!(
            deregister_target(&params(&[("ImageId", "i-11111111")]))
                .unwrap_err()
                .code,
            "InvalidAMIID.Malformed"
        );
    }
}

//! DescribeRegions (the one region of the catalog), DescribeAvailabilityZones and
//! DescribeInstanceTypes (flavors).

use crate::bindings::metacloud::api::compute;
use crate::bindings::metacloud::api::identity;
use crate::bindings::metacloud::api::types::{AvailabilityZone, Flavor};
use crate::params::{paginate, Filter, Paging, Params};
use crate::xml::Xml;
use crate::{Ctx, Ec2Error, Family};

fn check_filters(filters: &[Filter], known: &[&str]) -> Result<(), Ec2Error> {
    for f in filters {
        if !known.contains(&f.name.as_str()) {
            return Err(Ec2Error::invalid(format!(
                "The filter '{}' is invalid",
                f.name
            )));
        }
    }
    Ok(())
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .rev()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim())
}

/// The endpoint the client reached: `http://<host>/` (`https` behind a proxy that says so).
pub fn endpoint(headers: &[(String, String)]) -> String {
    let host = header(headers, "host").unwrap_or("localhost");
    let scheme = match header(headers, "x-forwarded-proto") {
        Some(p) if p.eq_ignore_ascii_case("https") => "https",
        _ => "http",
    };
    format!("{scheme}://{host}/")
}

// --- DescribeRegions ----------------------------------------------------------------------

pub const REGION_FILTERS: &[&str] = &["endpoint", "opt-in-status", "region-name"];

#[derive(Debug, Clone, PartialEq)]
pub struct RegionsRequest {
    pub names: Vec<String>,
    pub filters: Vec<Filter>,
}

impl RegionsRequest {
    pub fn parse(p: &Params) -> Result<RegionsRequest, Ec2Error> {
        let filters = p.filters()?;
        check_filters(&filters, REGION_FILTERS)?;
        p.boolean("AllRegions")?;
        Ok(RegionsRequest {
            names: p
                .list("RegionName")?
                .into_iter()
                .map(String::from)
                .collect(),
            filters,
        })
    }
}

/// The regions answered (there is one): a named region that is not it is an error.
pub fn select_regions(
    region: &str,
    endpoint: &str,
    req: &RegionsRequest,
) -> Result<bool, Ec2Error> {
    if let Some(other) = req.names.iter().find(|n| *n != region) {
        return Err(Ec2Error::invalid(format!("Invalid region: {other}")));
    }
    Ok(req.filters.iter().all(|f| match f.name.as_str() {
        "endpoint" => f.matches(endpoint),
        "opt-in-status" => f.matches("opt-in-not-required"),
        "region-name" => f.matches(region),
        _ => false,
    }))
}

pub fn render_regions(region: &str, endpoint: &str, shown: bool) -> String {
    let mut x = Xml::new();
    x.set("regionInfo", shown.then_some(()), |x, ()| {
        x.leaf("regionName", region)
            .leaf("regionEndpoint", endpoint)
            .leaf("optInStatus", "opt-in-not-required");
    });
    x.finish()
}

pub fn describe_regions(ctx: &Ctx) -> Result<String, Ec2Error> {
    let req = RegionsRequest::parse(ctx.params)?;
    let region = identity::get_catalog().region;
    let endpoint = endpoint(ctx.headers);
    let shown = select_regions(&region, &endpoint, &req)?;
    Ok(render_regions(&region, &endpoint, shown))
}

// --- DescribeAvailabilityZones ------------------------------------------------------------

pub const ZONE_FILTERS: &[&str] = &["region-name", "state", "zone-name", "zone-type"];

#[derive(Debug, Clone, PartialEq)]
pub struct ZonesRequest {
    pub names: Vec<String>,
    pub filters: Vec<Filter>,
}

impl ZonesRequest {
    pub fn parse(p: &Params) -> Result<ZonesRequest, Ec2Error> {
        let filters = p.filters()?;
        check_filters(&filters, ZONE_FILTERS)?;
        p.boolean("AllAvailabilityZones")?;
        if !p.list("ZoneId")?.is_empty() {
            return Err(Ec2Error::invalid(
                "Zone ids are not supported here: name zones with ZoneName.N.",
            ));
        }
        Ok(ZonesRequest {
            names: p.list("ZoneName")?.into_iter().map(String::from).collect(),
            filters,
        })
    }
}

pub fn zone_state(z: &AvailabilityZone) -> &'static str {
    if z.available {
        "available"
    } else {
        "unavailable"
    }
}

pub fn select_zones<'a>(
    zones: &'a [AvailabilityZone],
    region: &str,
    req: &ZonesRequest,
) -> Result<Vec<&'a AvailabilityZone>, Ec2Error> {
    for n in &req.names {
        if !zones.iter().any(|z| &z.name == n) {
            return Err(Ec2Error::invalid(format!("The zone '{n}' does not exist.")));
        }
    }
    Ok(zones
        .iter()
        .filter(|z| {
            (req.names.is_empty() || req.names.contains(&z.name))
                && req.filters.iter().all(|f| match f.name.as_str() {
                    "region-name" => f.matches(region),
                    "state" => f.matches(zone_state(z)),
                    "zone-name" => f.matches(&z.name),
                    "zone-type" => f.matches("availability-zone"),
                    _ => false,
                })
        })
        .collect())
}

pub fn render_zones(zones: &[&AvailabilityZone], region: &str) -> String {
    let mut x = Xml::new();
    x.set("availabilityZoneInfo", zones, |x, z| {
        x.leaf("zoneName", &z.name)
            .leaf("zoneState", zone_state(z))
            .leaf("regionName", region)
            .elem("messageSet", |_| {})
            .leaf("zoneType", "availability-zone")
            .leaf("optInStatus", "opt-in-not-required")
            .leaf("groupName", region)
            .leaf("networkBorderGroup", region);
    });
    x.finish()
}

pub fn describe_availability_zones(ctx: &Ctx) -> Result<String, Ec2Error> {
    let req = ZonesRequest::parse(ctx.params)?;
    let region = identity::get_catalog().region;
    let zones = compute::list_availability_zones(ctx.caller)
        .map_err(|e| Ec2Error::from_op(e, Family::Other))?;
    let picked = select_zones(&zones, &region, &req)?;
    Ok(render_zones(&picked, &region))
}

// --- DescribeInstanceTypes ----------------------------------------------------------------

pub const TYPE_FILTERS: &[&str] = &[
    "current-generation",
    "instance-storage-info.total-size-in-gb",
    "instance-storage-supported",
    "instance-type",
    "memory-info.size-in-mib",
    "vcpu-info.default-vcpus",
];

#[derive(Debug, Clone, PartialEq)]
pub struct TypesRequest {
    pub names: Vec<String>,
    pub filters: Vec<Filter>,
    pub paging: Paging,
}

impl TypesRequest {
    pub fn parse(p: &Params) -> Result<TypesRequest, Ec2Error> {
        let filters = p.filters()?;
        check_filters(&filters, TYPE_FILTERS)?;
        Ok(TypesRequest {
            names: p
                .list("InstanceType")?
                .into_iter()
                .map(String::from)
                .collect(),
            filters,
            paging: p.paging(5, 100)?,
        })
    }
}

pub fn select_types<'a>(
    flavors: &'a [Flavor],
    req: &TypesRequest,
) -> Result<(Vec<&'a Flavor>, Option<String>), Ec2Error> {
    let missing: Vec<&str> = req
        .names
        .iter()
        .filter(|n| !flavors.iter().any(|f| &&f.name == n))
        .map(String::as_str)
        .collect();
    if !missing.is_empty() {
        return Err(Ec2Error::client(
            "InvalidInstanceType",
            format!(
                "The following supplied instance types do not exist: [{}]",
                missing.join(", ")
            ),
        ));
    }
    let mut picked: Vec<&Flavor> = flavors
        .iter()
        .filter(|fl| {
            (req.names.is_empty() || req.names.contains(&fl.name))
                && req.filters.iter().all(|f| match f.name.as_str() {
                    "current-generation" => f.matches("true"),
                    "instance-storage-info.total-size-in-gb" => f.matches(&fl.disk_gb.to_string()),
                    "instance-storage-supported" => {
                        f.matches(if fl.disk_gb > 0 { "true" } else { "false" })
                    }
                    "instance-type" => f.matches(&fl.name),
                    "memory-info.size-in-mib" => f.matches(&fl.ram_mb.to_string()),
                    "vcpu-info.default-vcpus" => f.matches(&fl.vcpus.to_string()),
                    _ => false,
                })
        })
        .collect();
    picked.sort_by(|a, b| a.name.cmp(&b.name));
    paginate(picked, |f| f.name.clone(), &req.paging)
}

pub fn render_types(flavors: &[&Flavor], next: Option<&str>) -> String {
    let mut x = Xml::new();
    x.set("instanceTypeSet", flavors, |x, f| {
        let item = |x: &mut Xml, tag: &str, value: &str| {
            x.elem(tag, |x| {
                x.open("item").text(value).close("item");
            });
        };
        x.leaf("instanceType", &f.name)
            .boolean("currentGeneration", true)
            .boolean("freeTierEligible", false);
        item(x, "supportedUsageClasses", "on-demand");
        item(x, "supportedRootDeviceTypes", "instance-store");
        item(x, "supportedVirtualizationTypes", "hvm");
        x.boolean("bareMetal", false)
            .leaf("hypervisor", "kvm")
            .elem("processorInfo", |x| {
                item(x, "supportedArchitectures", "x86_64")
            })
            .elem("vCpuInfo", |x| {
                x.num("defaultVCpus", f.vcpus);
            })
            .elem("memoryInfo", |x| {
                x.num("sizeInMiB", f.ram_mb);
            })
            .boolean("instanceStorageSupported", f.disk_gb > 0);
        if f.disk_gb > 0 {
            x.elem("instanceStorageInfo", |x| {
                x.num("totalSizeInGB", f.disk_gb);
            });
        }
    });
    if let Some(t) = next {
        x.leaf("nextToken", t);
    }
    x.finish()
}

pub fn describe_instance_types(ctx: &Ctx) -> Result<String, Ec2Error> {
    let req = TypesRequest::parse(ctx.params)?;
    let flavors =
        compute::list_flavors(ctx.caller).map_err(|e| Ec2Error::from_op(e, Family::Other))?;
    let (page, next) = select_types(&flavors, &req)?;
    Ok(render_types(&page, next.as_deref()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{flavor, params};

    fn h(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn regions() {
        assert_eq!(
            endpoint(&h(&[("host", "ec2.example.test:8788")])),
            "http://ec2.example.test:8788/"
        );
        assert_eq!(
            endpoint(&h(&[("host", "e"), ("x-forwarded-proto", "HTTPS")])),
            "https://e/"
        );
        assert_eq!(endpoint(&[]), "http://localhost/");
        let req = |list: &[(&str, &str)]| RegionsRequest::parse(&params(list)).unwrap();
        assert_eq!(
            select_regions("RegionOne", "http://e/", &req(&[])),
            Ok(true)
        );
        assert_eq!(
            select_regions(
                "RegionOne",
                "http://e/",
                &req(&[("RegionName.1", "RegionOne")])
            ),
            Ok(true)
        );
        assert_eq!(
            select_regions(
                "RegionOne",
                "http://e/",
                &req(&[("RegionName.1", "us-east-1")])
            )
            .unwrap_err()
            .code,
            "InvalidParameterValue"
        );
        assert_eq!(
            select_regions(
                "RegionOne",
                "http://e/",
                &req(&[("Filter.1.Name", "region-name"), ("Filter.1.Value.1", "x")])
            ),
            Ok(false)
        );
        assert_eq!(
            render_regions("Region<1>", "http://e/", true),
            "<regionInfo><item><regionName>Region&lt;1&gt;</regionName><regionEndpoint>http://e/</regionEndpoint>\
             <optInStatus>opt-in-not-required</optInStatus></item></regionInfo>"
        );
        assert_eq!(render_regions("r", "e", false), "<regionInfo></regionInfo>");
        assert!(RegionsRequest::parse(&params(&[
            ("Filter.1.Name", "x"),
            ("Filter.1.Value.1", "y")
        ]))
        .is_err());
    }

    #[test]
    fn zones() {
        let zones = vec![
            AvailabilityZone {
                name: "nova".into(),
                available: true,
                hosts: vec![],
            },
            AvailabilityZone {
                name: "az2".into(),
                available: false,
                hosts: vec![],
            },
        ];
        let pick = |list: &[(&str, &str)]| {
            select_zones(&zones, "R", &ZonesRequest::parse(&params(list)).unwrap())
                .map(|v| v.iter().map(|z| z.name.clone()).collect::<Vec<_>>())
        };
        assert_eq!(pick(&[]).unwrap(), vec!["nova", "az2"]);
        assert_eq!(pick(&[("ZoneName.1", "az2")]).unwrap(), vec!["az2"]);
        assert_eq!(
            pick(&[("ZoneName.1", "nope")]).unwrap_err().code,
            "InvalidParameterValue"
        );
        assert_eq!(
            pick(&[
                ("Filter.1.Name", "state"),
                ("Filter.1.Value.1", "available")
            ])
            .unwrap(),
            vec!["nova"]
        );
        let all: Vec<&AvailabilityZone> = zones.iter().collect();
        assert_eq!(
            render_zones(&all[1..], "R"),
            "<availabilityZoneInfo><item><zoneName>az2</zoneName><zoneState>unavailable</zoneState>\
             <regionName>R</regionName><messageSet></messageSet><zoneType>availability-zone</zoneType>\
             <optInStatus>opt-in-not-required</optInStatus><groupName>R</groupName>\
             <networkBorderGroup>R</networkBorderGroup></item></availabilityZoneInfo>"
        );
    }

    #[test]
    fn instance_types() {
        let flavors = vec![
            flavor("1", "m1.small", 1, 2048, 20),
            flavor("2", "m1.big", 8, 16384, 0),
        ];
        let pick = |list: &[(&str, &str)]| {
            select_types(&flavors, &TypesRequest::parse(&params(list)).unwrap())
                .map(|(v, _)| v.iter().map(|f| f.name.clone()).collect::<Vec<_>>())
        };
        assert_eq!(pick(&[]).unwrap(), vec!["m1.big", "m1.small"]);
        assert_eq!(
            pick(&[("InstanceType.1", "m1.small")]).unwrap(),
            vec!["m1.small"]
        );
        let e = pick(&[
            ("InstanceType.1", "t2.micro"),
            ("InstanceType.2", "m1.small"),
        ])
        .unwrap_err();
        assert_eq!(
            (e.code, e.message.as_str()),
            (
                "InvalidInstanceType",
                "The following supplied instance types do not exist: [t2.micro]"
            )
        );
        assert_eq!(
            pick(&[
                ("Filter.1.Name", "vcpu-info.default-vcpus"),
                ("Filter.1.Value.1", "8")
            ])
            .unwrap(),
            vec!["m1.big"]
        );
        assert_eq!(
            pick(&[
                ("Filter.1.Name", "instance-storage-supported"),
                ("Filter.1.Value.1", "true")
            ])
            .unwrap(),
            vec!["m1.small"]
        );
        let body = render_types(&[&flavors[0]], None);
        assert_eq!(
            body,
            "<instanceTypeSet><item><instanceType>m1.small</instanceType><currentGeneration>true</currentGeneration>\
             <freeTierEligible>false</freeTierEligible><supportedUsageClasses><item>on-demand</item></supportedUsageClasses>\
             <supportedRootDeviceTypes><item>instance-store</item></supportedRootDeviceTypes>\
             <supportedVirtualizationTypes><item>hvm</item></supportedVirtualizationTypes><bareMetal>false</bareMetal>\
             <hypervisor>kvm</hypervisor><processorInfo><supportedArchitectures><item>x86_64</item></supportedArchitectures></processorInfo>\
             <vCpuInfo><defaultVCpus>1</defaultVCpus></vCpuInfo><memoryInfo><sizeInMiB>2048</sizeInMiB></memoryInfo>\
             <instanceStorageSupported>true</instanceStorageSupported><instanceStorageInfo><totalSizeInGB>20</totalSizeInGB></instanceStorageInfo>\
             </item></instanceTypeSet>"
        );
        assert!(!render_types(&[&flavors[1]], None).contains("instanceStorageInfo"));
        assert!(TypesRequest::parse(&params(&[("MaxResults", "101")])).is_err());
    }
}

//! Thin handlers: ask the host for the calling instance (and, for IMDSv2, for session
//! tokens), then hand over to the shaping functions. Without a calling instance every
//! route but the version listings is a 404.

use crate::reply::{Body, Error, Reply};
use crate::{ec2, imds, openstack, tree, versions, Host, Request};

type Answer = Result<Reply, Error>;

/// The calling instance, or a 404.
fn instance(host: &dyn Host) -> Result<crate::InstanceData, Error> {
    host.current_instance().ok_or_else(Error::not_found)
}

/// IMDSv2: a token on the request must be live.
fn session(req: &Request, host: &dyn Host) -> Result<(), Error> {
    imds::check_tokens(
        &req.header_all(imds::TOKEN_HEADER).collect::<Vec<_>>(),
        |t| host.check_session_token(t),
    )
}

/// `GET /`: the EC2 versions.
pub fn ec2_versions(req: &Request, host: &dyn Host) -> Answer {
    session(req, host)?;
    Ok(Reply::text(versions::ec2_listing()))
}

/// The node at `path` below `/{version}/`.
fn ec2_at(req: &Request, host: &dyn Host, path: &str) -> Answer {
    let i = instance(host)?;
    session(req, host)?;
    if !versions::is_ec2_version(req.param("version")) {
        return Err(Error::not_found());
    }
    ec2::resolve(&i, path, || host.region())
        .map(Reply::new)
        .ok_or_else(Error::not_found)
}

/// `GET /{version}` and `/{version}/`.
pub fn ec2_root(req: &Request, host: &dyn Host) -> Answer {
    ec2_at(req, host, "")
}

/// `GET /{version}/meta-data` and `/{version}/meta-data/`.
pub fn ec2_meta_data(req: &Request, host: &dyn Host) -> Answer {
    ec2_at(req, host, "meta-data")
}

/// `GET /{version}/meta-data/{*rest}`.
pub fn ec2_meta_data_at(req: &Request, host: &dyn Host) -> Answer {
    ec2_at(req, host, &tree::join("meta-data", req.param("rest")))
}

/// `GET /{version}/user-data`.
pub fn ec2_user_data(req: &Request, host: &dyn Host) -> Answer {
    ec2_at(req, host, "user-data")
}

/// `GET /{version}/dynamic` and `/{version}/dynamic/`.
pub fn ec2_dynamic(req: &Request, host: &dyn Host) -> Answer {
    ec2_at(req, host, "dynamic")
}

/// `GET /{version}/dynamic/{*rest}`.
pub fn ec2_dynamic_at(req: &Request, host: &dyn Host) -> Answer {
    ec2_at(req, host, &tree::join("dynamic", req.param("rest")))
}

/// `PUT /latest/api/token`: a session token for the calling instance. The body is the
/// host's sealed reference, which the host opens on the way out.
pub fn session_token(req: &Request, host: &dyn Host) -> Answer {
    instance(host)?;
    let ttl = imds::parse_ttl(&req.header_all(imds::TTL_HEADER).collect::<Vec<_>>())?;
    let token = host.issue_session_token(ttl).ok_or_else(Error::not_found)?;
    Ok(Reply::text(token).header(imds::TTL_HEADER, ttl.to_string()))
}

/// `GET /openstack` and `/openstack/`: the OpenStack versions.
pub fn openstack_versions(_req: &Request, _host: &dyn Host) -> Answer {
    Ok(Reply::text(versions::openstack_listing()))
}

/// The calling instance, for a served OpenStack version.
fn openstack_instance(req: &Request, host: &dyn Host) -> Result<crate::InstanceData, Error> {
    let i = instance(host)?;
    if versions::is_openstack_version(req.param("version")) {
        Ok(i)
    } else {
        Err(Error::not_found())
    }
}

/// `GET /openstack/{version}` and `/openstack/{version}/`.
pub fn openstack_files(req: &Request, host: &dyn Host) -> Answer {
    let i = openstack_instance(req, host)?;
    Ok(Reply::new(Body::Text(openstack::listing(&i))))
}

fn openstack_file(req: &Request, host: &dyn Host, name: &str) -> Answer {
    let i = openstack_instance(req, host)?;
    openstack::file(&i, name)
        .map(Reply::new)
        .ok_or_else(Error::not_found)
}

pub fn openstack_meta_data(req: &Request, host: &dyn Host) -> Answer {
    openstack_file(req, host, openstack::META_DATA)
}

pub fn openstack_user_data(req: &Request, host: &dyn Host) -> Answer {
    openstack_file(req, host, openstack::USER_DATA)
}

pub fn openstack_vendor_data(req: &Request, host: &dyn Host) -> Answer {
    openstack_file(req, host, openstack::VENDOR_DATA)
}

pub fn openstack_vendor_data2(req: &Request, host: &dyn Host) -> Answer {
    openstack_file(req, host, openstack::VENDOR_DATA2)
}

pub fn openstack_network_data(req: &Request, host: &dyn Host) -> Answer {
    openstack_file(req, host, openstack::NETWORK_DATA)
}

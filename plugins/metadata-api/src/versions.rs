//! Metadata API versions: the EC2 tree's (`/`) and the OpenStack tree's (`/openstack`).

/// What `/` lists: Nova's EC2 versions, the ones cloud-init probes for extended
/// metadata (2016-09-02, 2018-09-24, 2021-03-23), and `latest`.
pub const EC2_VERSIONS: &[&str] = &[
    "1.0",
    "2007-01-19",
    "2007-03-01",
    "2007-08-29",
    "2007-10-10",
    "2007-12-15",
    "2008-02-01",
    "2008-09-01",
    "2009-04-04",
    "2016-09-02",
    "2018-09-24",
    "2021-03-23",
    "latest",
];

/// What `/openstack` lists (Nova's, to Rocky), oldest first, then `latest`.
pub const OPENSTACK_VERSIONS: &[&str] = &[
    "2012-08-10",
    "2013-04-04",
    "2013-10-17",
    "2015-10-15",
    "2016-06-30",
    "2016-10-06",
    "2017-02-22",
    "2018-08-27",
    "latest",
];

/// The `/` listing.
pub fn ec2_listing() -> String {
    EC2_VERSIONS.join("\n")
}

/// The `/openstack` listing.
pub fn openstack_listing() -> String {
    OPENSTACK_VERSIONS.join("\n")
}

/// Whether an EC2 tree is served under `version`: `latest`, the listed `1.0`, or any
/// date `YYYY-MM-DD` (AWS adds versions; a client asking for a newer one gets the same
/// tree rather than nothing).
pub fn is_ec2_version(version: &str) -> bool {
    version == "latest" || version == "1.0" || is_date(version)
}

/// Whether an OpenStack tree is served under `version`: the listed ones only, as Nova.
pub fn is_openstack_version(version: &str) -> bool {
    OPENSTACK_VERSIONS.contains(&version)
}

/// `YYYY-MM-DD` with a month 01–12 and a day 01–31.
pub fn is_date(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return false;
    }
    let digits = |r: std::ops::Range<usize>| -> Option<u32> {
        let part = &b[r];
        if part.iter().all(u8::is_ascii_digit) {
            part.iter()
                .try_fold(0u32, |n, d| Some(n * 10 + u32::from(d - b'0')))
        } else {
            None
        }
    };
    match (digits(0..4), digits(5..7), digits(8..10)) {
        (Some(_), Some(month), Some(day)) => (1..=12).contains(&month) && (1..=31).contains(&day),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_version_listings() {
        let ec2 = ec2_listing();
        let lines: Vec<&str> = ec2.lines().collect();
        assert_eq!(lines.first(), Some(&"1.0"));
        assert_eq!(lines.last(), Some(&"latest"));
        for v in [
            "2007-01-19",
            "2009-04-04",
            "2016-09-02",
            "2018-09-24",
            "2021-03-23",
        ] {
            assert!(lines.contains(&v), "{v}");
        }
        assert!(!ec2.ends_with('\n'));
        assert_eq!(
            openstack_listing(),
            "2012-08-10\n2013-04-04\n2013-10-17\n2015-10-15\n2016-06-30\n2016-10-06\n\
             2017-02-22\n2018-08-27\nlatest"
        );
    }

    #[test]
    fn every_listed_version_is_served() {
        assert!(EC2_VERSIONS.iter().all(|v| is_ec2_version(v)));
        assert!(OPENSTACK_VERSIONS.iter().all(|v| is_openstack_version(v)));
    }

    #[test]
    fn ec2_versions_are_latest_or_dates() {
        for good in [
            "latest",
            "1.0",
            "2009-04-04",
            "2021-03-23",
            "2030-12-31",
            "1999-01-01",
        ] {
            assert!(is_ec2_version(good), "{good}");
        }
        for bad in [
            "",
            "Latest",
            "latest/",
            "2.0",
            "2009-4-04",
            "2009-04-4",
            "2009-13-01",
            "2009-00-10",
            "2009-01-00",
            "2009-01-32",
            "2009_01_01",
            "+009-01-01",
            "2009-+1-01",
            "2009-01-01x",
            " 2009-01-01",
            "２００９-01-01",
            "..",
            "openstack",
            "meta-data",
            "0000-00-00",
        ] {
            assert!(!is_ec2_version(bad), "{bad:?}");
        }
    }

    #[test]
    fn openstack_versions_are_the_listed_ones() {
        assert!(is_openstack_version("2018-08-27"));
        assert!(is_openstack_version("latest"));
        for bad in ["2009-04-04", "2020-10-14", "", "LATEST", "1.0", "../latest"] {
            assert!(!is_openstack_version(bad), "{bad:?}");
        }
    }
}

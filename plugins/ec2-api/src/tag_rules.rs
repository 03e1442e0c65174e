//! What a tag may be: EC2's rules for keys and values, and how many a resource may carry.
//! Used wherever tags are written (CreateTags, RunInstances' tag specifications).

use crate::Ec2Error;

/// EC2's limits on tags.
pub const MAX_KEY: usize = 127;
pub const MAX_VALUE: usize = 255;
pub const MAX_TAGS: usize = 50;

/// A tag key and value within EC2's rules (`aws:` keys are reserved).
pub fn validate_tag(key: &str, value: &str) -> Result<(), Ec2Error> {
    if key.is_empty() {
        return Err(Ec2Error::invalid("Tag keys cannot be empty."));
    }
    if key.chars().count() > MAX_KEY {
        return Err(Ec2Error::invalid(format!(
            "Tag key exceeds the maximum length of {MAX_KEY} characters"
        )));
    }
    if value.chars().count() > MAX_VALUE {
        return Err(Ec2Error::invalid(format!(
            "Tag value exceeds the maximum length of {MAX_VALUE} characters"
        )));
    }
    if key.len() >= 4 && key[..4].eq_ignore_ascii_case("aws:") {
        return Err(Ec2Error::invalid(
            "Tag keys starting with 'aws:' are reserved for internal use",
        ));
    }
    Ok(())
}

pub fn check_tag_count(n: usize) -> Result<(), Ec2Error> {
    if n > MAX_TAGS {
        return Err(Ec2Error::client(
            "TagLimitExceeded",
            format!("The maximum number of tags per resource is {MAX_TAGS}."),
        ));
    }
    Ok(())
}

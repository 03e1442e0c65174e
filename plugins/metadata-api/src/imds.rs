//! IMDSv2 sessions: `PUT /latest/api/token` with a TTL header gives a token; a GET that
//! carries the token header must carry a live one of this instance (the host seals it
//! before the plugin sees it and checks it); a GET without it is IMDSv1 and allowed.

use crate::reply::Error;

/// The TTL of a requested session, in seconds (request and response).
pub const TTL_HEADER: &str = "x-aws-ec2-metadata-token-ttl-seconds";
/// The session token on a GET.
pub const TOKEN_HEADER: &str = "x-aws-ec2-metadata-token";
/// The longest session (AWS's limit, six hours).
pub const MAX_TTL: u32 = 21_600;

/// The TTL a token request asks for: one header, a whole number of seconds from 1 to
/// 21600, else a 400.
pub fn parse_ttl(values: &[&str]) -> Result<u32, Error> {
    let value = match values {
        [] => {
            return Err(Error::bad_request(format!(
                "The {TTL_HEADER} header is required."
            )))
        }
        [one] => one.trim_matches([' ', '\t']),
        _ => {
            return Err(Error::bad_request(format!(
                "The {TTL_HEADER} header is given more than once."
            )))
        }
    };
    let ttl = (!value.is_empty() && value.len() <= 10 && value.bytes().all(|b| b.is_ascii_digit()))
        .then(|| value.parse::<u64>().ok())
        .flatten();
    match ttl {
        Some(t) if (1..=u64::from(MAX_TTL)).contains(&t) => Ok(t as u32),
        _ => Err(Error::bad_request(format!(
            "The {TTL_HEADER} header must be a whole number of seconds from 1 to {MAX_TTL}."
        ))),
    }
}

/// Whether a request may proceed: no token (IMDSv1), or every token it carries is a live
/// one (`check` asks the host). Otherwise a 401.
pub fn check_tokens(values: &[&str], check: impl Fn(&str) -> bool) -> Result<(), Error> {
    if values.iter().all(|v| check(v)) {
        Ok(())
    } else {
        Err(Error::unauthorized())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttls_from_1_to_21600() {
        assert_eq!(parse_ttl(&["21600"]), Ok(21600));
        assert_eq!(parse_ttl(&["1"]), Ok(1));
        assert_eq!(parse_ttl(&[" 60\t"]), Ok(60));
        assert_eq!(parse_ttl(&["0060"]), Ok(60));
        for bad in [
            "",
            " ",
            "0",
            "21601",
            "-1",
            "+60",
            "60s",
            "6 0",
            "1e3",
            "0x10",
            "4294967356",
            "99999999999999999999999",
            "６０",
        ] {
            let e = parse_ttl(&[bad]).unwrap_err();
            assert_eq!(e.status, 400, "{bad:?}");
        }
        assert_eq!(parse_ttl(&[]).unwrap_err().status, 400);
        assert_eq!(parse_ttl(&["60", "60"]).unwrap_err().status, 400);
    }

    #[test]
    fn tokens_are_optional_but_must_be_live() {
        let live = |t: &str| t == "sealed:n:0";
        assert_eq!(check_tokens(&[], live), Ok(()));
        assert_eq!(check_tokens(&["sealed:n:0"], live), Ok(()));
        assert_eq!(check_tokens(&["sealed:n:1"], live).unwrap_err().status, 401);
        assert_eq!(check_tokens(&[""], live).unwrap_err().status, 401);
        assert_eq!(
            check_tokens(&["sealed:n:0", "forged"], live)
                .unwrap_err()
                .status,
            401
        );
    }
}

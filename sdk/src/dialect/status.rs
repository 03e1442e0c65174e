//! Status titles: the reason phrase an error document names beside its code.

/// The title of an error status as the OpenStack APIs (Keystone, the admin API) put it in
/// their error documents; `Internal Server Error` for any status not listed.
pub fn error_title(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        413 => "Request Entity Too Large",
        503 => "Service Unavailable",
        _ => "Internal Server Error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unlisted_statuses_are_internal_errors() {
        assert_eq!(error_title(409), "Conflict");
        assert_eq!(error_title(413), "Request Entity Too Large");
        assert_eq!(error_title(502), "Internal Server Error");
        assert_eq!(error_title(418), "Internal Server Error");
    }
}

//! Sluice's operator dashboard: one page and its assets, embedded in the
//! binary at build time, and the headers that guard them.
//!
//! The page is a client of the admin API and nothing more: it holds the admin
//! token the operator types in (in the tab's `sessionStorage`, never in a URL
//! or a cookie), and every action it offers is an admin API call that works
//! without it. So a request without the token gets the sign-in page and static
//! assets, and nothing else; nothing is loaded from any other host.
//!
//! Every answer carries a strict Content-Security-Policy (scripts and styles
//! only from the page's own origin, no inline script or style, no framing),
//! `nosniff`, no referrer, and an `ETag` so that a reload costs a `304`.
//!
//! ```
//! let page = sluice_dashboard::serve("GET", "/", None);
//! assert_eq!(page.status, 200);
//! assert!(page.header("content-security-policy").unwrap().contains("script-src 'self'"));
//! let again = sluice_dashboard::serve("GET", "/", page.header("etag"));
//! assert_eq!(again.status, 304);
//! ```

/// The Content-Security-Policy of every answer: the page's own scripts,
/// styles, images and API, nothing inline, nothing from elsewhere, not framed.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; \
     frame-ancestors 'none'; base-uri 'none'";

/// One embedded file.
struct Asset {
    path: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

const PAGE: Asset = Asset {
    path: "/",
    content_type: "text/html; charset=utf-8",
    body: include_bytes!("../assets/index.html"),
};

const ASSETS: [Asset; 3] = [
    Asset {
        path: "/assets/app.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../assets/app.js"),
    },
    Asset {
        path: "/assets/app.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("../assets/app.css"),
    },
    Asset {
        path: "/assets/icon.svg",
        content_type: "image/svg+xml",
        body: include_bytes!("../assets/icon.svg"),
    },
];

/// An answer: status, headers and a body borrowed from the binary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: &'static [u8],
}

impl Reply {
    /// The first value of header `name` (lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Answers a request for `path` (without its query). `if_none_match` is the
/// request's `If-None-Match` header, if any.
pub fn serve(method: &str, path: &str, if_none_match: Option<&str>) -> Reply {
    let asset = match path {
        "/" | "/index.html" => Some(&PAGE),
        _ => ASSETS.iter().find(|a| a.path == path),
    };
    let Some(asset) = asset else {
        return text(404, "not found: the dashboard is at /\n");
    };
    let head = match method {
        "GET" => false,
        "HEAD" => true,
        _ => {
            let mut reply = text(405, "the dashboard only reads: use GET\n");
            reply.headers.push(("allow", "GET, HEAD".into()));
            return reply;
        }
    };
    let etag = format!("\"{:016x}\"", fnv1a(asset.body));
    let mut headers = guarded(asset.content_type);
    // Revalidate every time: a new Sluice must never run with an old script.
    headers.push(("cache-control", "no-cache".into()));
    headers.push(("etag", etag.clone()));
    if if_none_match
        .is_some_and(|tags| tags.split(',').any(|t| t.trim() == etag || t.trim() == "*"))
    {
        return Reply {
            status: 304,
            headers,
            body: b"",
        };
    }
    Reply {
        status: 200,
        headers,
        body: if head { b"" } else { asset.body },
    }
}

fn text(status: u16, body: &'static str) -> Reply {
    let mut headers = guarded("text/plain; charset=utf-8");
    headers.push(("cache-control", "no-store".into()));
    Reply {
        status,
        headers,
        body: body.as_bytes(),
    }
}

/// The headers every answer carries.
fn guarded(content_type: &str) -> Vec<(&'static str, String)> {
    vec![
        ("content-type", content_type.into()),
        ("content-security-policy", CONTENT_SECURITY_POLICY.into()),
        ("x-content-type-options", "nosniff".into()),
        ("referrer-policy", "no-referrer".into()),
        ("x-frame-options", "DENY".into()),
        ("cross-origin-opener-policy", "same-origin".into()),
        ("cross-origin-resource-policy", "same-origin".into()),
    ]
}

/// FNV-1a, 64 bits: enough to tell one build's asset from another's.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_and_every_asset_are_served_with_their_type_and_guard() {
        for (path, kind) in [
            ("/", "text/html"),
            ("/index.html", "text/html"),
            ("/assets/app.js", "text/javascript"),
            ("/assets/app.css", "text/css"),
            ("/assets/icon.svg", "image/svg+xml"),
        ] {
            let reply = serve("GET", path, None);
            assert_eq!(reply.status, 200, "{path}");
            assert!(
                reply.header("content-type").unwrap().starts_with(kind),
                "{path}"
            );
            assert_eq!(
                reply.header("content-security-policy"),
                Some(CONTENT_SECURITY_POLICY)
            );
            assert_eq!(reply.header("x-content-type-options"), Some("nosniff"));
            assert!(!reply.body.is_empty());
        }
    }

    #[test]
    fn the_policy_allows_nothing_inline_and_nothing_from_elsewhere() {
        for directive in CONTENT_SECURITY_POLICY.split(';') {
            assert!(!directive.contains("unsafe"), "{directive}");
            assert!(!directive.contains('*'), "{directive}");
            assert!(!directive.contains("http"), "{directive}");
        }
        assert!(CONTENT_SECURITY_POLICY.contains("frame-ancestors 'none'"));
    }

    #[test]
    fn the_page_has_no_inline_script_or_style_and_names_no_other_host() {
        let page = std::str::from_utf8(PAGE.body).unwrap();
        assert!(!page.contains("<script>"), "inline script");
        assert!(!page.contains("style="), "inline style");
        assert!(!page.contains("<style"), "inline style sheet");
        for asset in std::iter::once(&PAGE).chain(&ASSETS) {
            let text = std::str::from_utf8(asset.body).unwrap();
            for scheme in ["http://", "https://", "//cdn"] {
                let foreign = text
                    .match_indices(scheme)
                    .map(|(i, _)| &text[i..(i + 40).min(text.len())])
                    .filter(|url| !url.starts_with("http://www.w3.org/"))
                    .collect::<Vec<_>>();
                assert!(foreign.is_empty(), "{}: {foreign:?}", asset.path);
            }
        }
    }

    #[test]
    fn an_unchanged_asset_is_not_sent_again() {
        let first = serve("GET", "/assets/app.js", None);
        let etag = first.header("etag").unwrap().to_owned();
        let again = serve("GET", "/assets/app.js", Some(&format!("\"x\", {etag}")));
        assert_eq!((again.status, again.body.len()), (304, 0));
        assert_eq!(
            serve("GET", "/assets/app.js", Some("\"other\"")).status,
            200
        );
    }

    #[test]
    fn unknown_paths_and_writes_are_refused() {
        assert_eq!(serve("GET", "/v1/secret", None).status, 404);
        assert_eq!(serve("GET", "/assets/../index.html", None).status, 404);
        let post = serve("POST", "/", None);
        assert_eq!(
            (post.status, post.header("allow")),
            (405, Some("GET, HEAD"))
        );
        let head = serve("HEAD", "/", None);
        assert_eq!((head.status, head.body.len()), (200, 0));
    }
}

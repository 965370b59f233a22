//! HTTP routing as Spin does it: exact routes and `/...` wildcards, `:name`
//! segments, the most specific route wins, and the `spin-*` request headers that
//! components (and spin-sdk's router) rely on.

use std::cmp::Ordering;

use anyhow::{Result, bail};

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Param(String),
}

/// One route of the application.
#[derive(Debug, Clone)]
pub struct Route {
    /// As written in `spin.toml`.
    pub raw: String,
    pub component: String,
    segments: Vec<Segment>,
    wildcard: bool,
}

/// What a request matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteMatch {
    pub component: String,
    /// `spin-raw-component-route`.
    pub raw_route: String,
    /// `spin-path-info`: the part of the path the wildcard matched.
    pub path_info: String,
    /// `spin-path-match-<name>` values.
    pub params: Vec<(String, String)>,
}

impl RouteMatch {
    /// The `spin-*` headers for this match.
    pub fn headers(&self, full_url: &str, client_addr: &str) -> Vec<(String, String)> {
        let component_route = self
            .raw_route
            .strip_suffix("/...")
            .unwrap_or(&self.raw_route)
            .to_owned();
        let matched = self.raw_route.trim_end_matches('/').to_owned();
        let mut headers = vec![
            ("spin-full-url".to_owned(), full_url.to_owned()),
            ("spin-path-info".to_owned(), self.path_info.clone()),
            ("spin-matched-route".to_owned(), matched),
            ("spin-base-path".to_owned(), "/".to_owned()),
            (
                "spin-raw-component-route".to_owned(),
                self.raw_route.clone(),
            ),
            ("spin-component-route".to_owned(), component_route),
            ("spin-client-addr".to_owned(), client_addr.to_owned()),
        ];
        for (name, value) in &self.params {
            headers.push((
                format!("spin-path-match-{}", name.to_ascii_lowercase()),
                value.clone(),
            ));
        }
        headers
    }
}

impl Route {
    /// Parses a route such as `/v1/checkin`, `/v1/chunks/...` or `/users/:id`.
    pub fn parse(raw: &str, component: &str) -> Result<Route> {
        let absolute = if raw.starts_with('/') {
            raw.to_owned()
        } else {
            format!("/{raw}")
        };
        let trimmed = absolute.strip_suffix('/').unwrap_or(&absolute);
        let (body, wildcard) = match trimmed
            .strip_suffix("/...")
            .or_else(|| trimmed.strip_suffix("/*"))
        {
            Some(prefix) => (prefix, true),
            None if trimmed == "/..." || trimmed == "..." => ("", true),
            None => (trimmed, false),
        };
        let mut segments = Vec::new();
        for part in body.split('/').filter(|p| !p.is_empty()) {
            if part == "..." || part == "*" {
                bail!("route {raw:?}: a wildcard may only end a route");
            }
            segments.push(match part.strip_prefix(':') {
                Some(name) if !name.is_empty() => Segment::Param(name.to_owned()),
                Some(_) => bail!("route {raw:?}: empty parameter name"),
                None => Segment::Literal(part.to_owned()),
            });
        }
        Ok(Route {
            raw: raw.to_owned(),
            component: component.to_owned(),
            segments,
            wildcard,
        })
    }

    fn matches(&self, path: &str) -> Option<RouteMatch> {
        let parts: Vec<&str> = path
            .trim_matches('/')
            .split('/')
            .filter(|p| !p.is_empty())
            .collect();
        if parts.len() < self.segments.len()
            || (!self.wildcard && parts.len() != self.segments.len())
        {
            return None;
        }
        let mut params = Vec::new();
        for (segment, part) in self.segments.iter().zip(&parts) {
            match segment {
                Segment::Literal(l) if l == part => {}
                Segment::Literal(_) => return None,
                Segment::Param(name) => params.push((name.clone(), (*part).to_owned())),
            }
        }
        let path_info = if self.wildcard {
            suffix_after_segments(path, self.segments.len())
        } else {
            String::new()
        };
        Some(RouteMatch {
            component: self.component.clone(),
            raw_route: self.raw.clone(),
            path_info,
            params,
        })
    }

    /// Spin's order: segment by segment, literal before parameter before wildcard;
    /// then the route with more segments.
    fn specificity(&self, other: &Route) -> Ordering {
        let rank = |r: &Route, i: usize| match r.segments.get(i) {
            Some(Segment::Literal(_)) => 0,
            Some(Segment::Param(_)) => 1,
            None if r.wildcard => 2,
            None => 3,
        };
        let n = self.segments.len().max(other.segments.len()) + 1;
        for i in 0..n {
            match rank(self, i).cmp(&rank(other, i)) {
                Ordering::Equal => continue,
                unequal => return unequal,
            }
        }
        other.segments.len().cmp(&self.segments.len())
    }
}

/// The raw path after its first `n` segments, keeping the leading `/` and any
/// trailing one (`/foo/bar/` after one segment is `/bar/`).
fn suffix_after_segments(path: &str, n: usize) -> String {
    let mut rest = path;
    for _ in 0..n {
        rest = rest.trim_start_matches('/');
        rest = rest.find('/').map_or("", |i| &rest[i..]);
    }
    rest.to_owned()
}

/// Every route of the application, most specific first.
#[derive(Debug, Clone, Default)]
pub struct Router {
    routes: Vec<Route>,
}

impl Router {
    /// Builds the router; a later duplicate of a route replaces the earlier one, as in Spin.
    pub fn new(mut routes: Vec<Route>) -> Router {
        let mut unique: Vec<Route> = Vec::new();
        for route in routes.drain(..) {
            unique.retain(|r| r.segments != route.segments || r.wildcard != route.wildcard);
            unique.push(route);
        }
        unique.sort_by(|a, b| a.specificity(b));
        Router { routes: unique }
    }

    /// The route serving `path`, if any.
    pub fn route(&self, path: &str) -> Option<RouteMatch> {
        self.routes.iter().find_map(|r| r.matches(path))
    }

    pub fn routes(&self) -> &[Route] {
        &self.routes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn router(routes: &[(&str, &str)]) -> Router {
        Router::new(
            routes
                .iter()
                .map(|(r, c)| Route::parse(r, c).unwrap())
                .collect(),
        )
    }

    #[test]
    fn exact_beats_wildcard_and_longest_prefix_wins() {
        let r = router(&[
            ("/...", "root"),
            ("/one/two/...", "two"),
            ("/one/two/three/...", "three"),
            ("/one", "exact"),
        ]);
        assert_eq!(r.route("/one").unwrap().component, "exact");
        assert_eq!(
            r.route("/one/").unwrap().component,
            "exact",
            "trailing slash"
        );
        assert_eq!(r.route("/one/two/x").unwrap().component, "two");
        assert_eq!(r.route("/one/two/three/x").unwrap().component, "three");
        assert_eq!(r.route("/elsewhere").unwrap().component, "root");
    }

    #[test]
    fn path_info_as_spin_computes_it() {
        let r = router(&[("/foo/...", "f")]);
        assert_eq!(r.route("/foo").unwrap().path_info, "");
        assert_eq!(r.route("/foo/").unwrap().path_info, "/");
        assert_eq!(r.route("/foo/bar").unwrap().path_info, "/bar");
        assert_eq!(r.route("/foo/bar/").unwrap().path_info, "/bar/");
        assert!(r.route("/food").is_none());
        let root = router(&[("/...", "all")]);
        assert_eq!(root.route("/1/2/3").unwrap().path_info, "/1/2/3");
    }

    #[test]
    fn exact_routes_do_not_match_longer_paths() {
        let r = router(&[("/v1/checkin", "c")]);
        assert!(r.route("/v1/checkin/x").is_none());
        assert!(r.route("/v1").is_none());
    }

    #[test]
    fn parameters_are_captured_and_rank_below_literals() {
        let r = router(&[("/users/:id", "param"), ("/users/me", "me")]);
        assert_eq!(r.route("/users/me").unwrap().component, "me");
        let m = r.route("/users/42").unwrap();
        assert_eq!(m.component, "param");
        assert_eq!(m.params, vec![("id".to_string(), "42".to_string())]);
        let headers = m.headers("http://h/users/42", "127.0.0.1:1");
        assert!(headers.contains(&("spin-path-match-id".into(), "42".into())));
    }

    #[test]
    fn headers() {
        let m = router(&[("/v1/chunks/...", "chunks")])
            .route("/v1/chunks/abc")
            .unwrap();
        let h = m.headers("http://localhost:3000/v1/chunks/abc", "127.0.0.1:5555");
        let get = |n: &str| h.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str());
        assert_eq!(get("spin-path-info"), Some("/abc"));
        assert_eq!(get("spin-matched-route"), Some("/v1/chunks/..."));
        assert_eq!(get("spin-component-route"), Some("/v1/chunks"));
        assert_eq!(get("spin-raw-component-route"), Some("/v1/chunks/..."));
        assert_eq!(get("spin-base-path"), Some("/"));
        assert_eq!(get("spin-client-addr"), Some("127.0.0.1:5555"));
    }

    #[test]
    fn later_duplicates_replace_earlier_ones() {
        let r = router(&[("/a", "first"), ("/a", "second")]);
        assert_eq!(r.route("/a").unwrap().component, "second");
        assert_eq!(r.routes().len(), 1);
    }
}

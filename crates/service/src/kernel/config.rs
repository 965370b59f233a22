//! Deployment configuration: what an operator sets through Spin variables
//! (tokens, the trust root, poll interval, the DDI tenant, the webhook, check-in
//! sampling), read once per request and checked before anything is served.

use sluice_protocol::TrustRoot;

/// Default seconds between polls when nothing is happening (before jitter).
pub const DEFAULT_POLL_SECONDS: u32 = 900;

/// By default one check-in in this many is counted for `/metrics`, as this
/// many: the counter's increment is a store write, and one on every check-in
/// cost about 16% of check-in throughput (`sluice bench`: 9,020 against 7,600
/// check-ins/s).
pub const DEFAULT_CHECKIN_SAMPLING: u32 = 16;

/// Where campaign events go (see [`crate::ops::webhooks`]), and the secret they are
/// signed with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Webhook {
    pub url: String,
    pub secret: String,
}

/// Deployment configuration, from Spin variables.
#[derive(Clone, Debug, Default)]
pub struct Config {
    /// The owner token (break-glass, every scope); without one, only operator
    /// tokens open the admin API.
    pub admin_token: Option<String>,
    /// The trust root releases must verify against; publishing is refused without one.
    pub trust_root: Option<TrustRoot>,
    /// Seconds between polls when nothing is happening.
    pub poll_seconds: u32,
    /// The hawkBit DDI tenant served (`DEFAULT` when unset), case-insensitive.
    pub ddi_tenant: Option<String>,
    /// A DDI `GatewayToken` that opens every enrolled controller; none when unset.
    pub ddi_gateway_token: Option<String>,
    /// Where campaign events go (`webhook_url`, `webhook_secret`); none when unset.
    pub webhook: Option<Webhook>,
    /// Check-ins are counted one in this many, at random, as this many
    /// (`checkin_sampling`; 0 or 1 counts every one).
    pub checkin_sampling: u32,
}

impl Config {
    /// Reads configuration through `variable` (a Spin variable lookup): `admin_token`,
    /// `trust_root` (the JSON of `trust.json`), `poll_seconds`, `ddi_tenant`,
    /// `ddi_gateway_token`, `webhook_url`, `webhook_secret` and `checkin_sampling`.
    pub fn from_variables(variable: impl Fn(&str) -> Option<String>) -> Result<Config, String> {
        let non_empty = |name: &str| variable(name).filter(|v| !v.trim().is_empty());
        let trust_root = non_empty("trust_root")
            .map(|json| TrustRoot::from_json(json.as_bytes()))
            .transpose()
            .map_err(|e| format!("variable trust_root: {e}"))?;
        let positive = |name: &str, default: u32| -> Result<u32, String> {
            match non_empty(name) {
                Some(text) => text
                    .trim()
                    .parse::<u32>()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| format!("variable {name}: {text:?} is not a positive number")),
                None => Ok(default),
            }
        };
        let poll_seconds = positive("poll_seconds", DEFAULT_POLL_SECONDS)?;
        let checkin_sampling = positive("checkin_sampling", DEFAULT_CHECKIN_SAMPLING)?;
        let webhook = match (non_empty("webhook_url"), non_empty("webhook_secret")) {
            (None, None) => None,
            (Some(url), Some(secret)) => {
                let url = url.trim().to_owned();
                if !(url.starts_with("https://") || url.starts_with("http://")) {
                    return Err(format!(
                        "variable webhook_url: {url:?} is not an http(s) URL"
                    ));
                }
                if secret.len() < 16 {
                    return Err("variable webhook_secret: use at least 16 characters".into());
                }
                Some(Webhook { url, secret })
            }
            _ => return Err("variables webhook_url and webhook_secret go together".into()),
        };
        Ok(Config {
            webhook,
            checkin_sampling,
            admin_token: non_empty("admin_token"),
            trust_root,
            poll_seconds,
            ddi_tenant: non_empty("ddi_tenant").map(|t| t.trim().to_owned()),
            ddi_gateway_token: non_empty("ddi_gateway_token"),
        })
    }

    /// The DDI tenant in URLs: `/{tenant}/controller/v1/...`.
    pub fn ddi_tenant(&self) -> &str {
        self.ddi_tenant.as_deref().unwrap_or("DEFAULT")
    }
}

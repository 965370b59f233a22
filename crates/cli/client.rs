//! Talking to a Sluice server's admin API.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sluice_api::error::ErrorAnswer;

use crate::output::Format;
use crate::up::ADMIN_TOKEN_FILE;

/// Where the server is and how to authenticate, shared by every command that
/// talks to one.
#[derive(clap::Args, Debug, Clone)]
pub struct ServerArgs {
    /// The Sluice server.
    #[arg(long, env = "SLUICE_SERVER", default_value = "http://127.0.0.1:3000")]
    pub server: String,
    /// File holding your token: your own operator token (`sluice operator
    /// add`), or the owner token (default: SLUICE_TOKEN, else the owner token
    /// `sluice up` wrote to .spin/admin-token). The server's audit log names
    /// whoever the token belongs to.
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// For an https server: trust only the certificate authorities in FILE (PEM).
    #[arg(long, env = "SLUICE_CA", value_name = "FILE")]
    pub ca: Option<PathBuf>,
}

/// The body of a request that has none, for [`Client::answer`].
pub const NO_BODY: Option<&()> = None;

/// An admin API client.
pub struct Client {
    base: String,
    token: String,
    agent: ureq::Agent,
}

/// A response: status and body.
pub struct Reply {
    pub status: u16,
    pub body: Vec<u8>,
}

impl Reply {
    /// The body of a successful reply to `method path` as a `T`.
    fn answer_to<T: DeserializeOwned>(&self, method: &str, path: &str) -> Result<T> {
        serde_json::from_slice(&self.body).with_context(|| {
            format!("the answer to {method} {path} is not what this sluice expects")
        })
    }

    /// Prints the body on stdout as the server sent it (the `--json` result).
    pub fn print(&self) {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(&self.body);
        if !self.body.ends_with(b"\n") {
            let _ = out.write_all(b"\n");
        }
    }

    /// The body as a `T`; a non-2xx reply becomes an error with the server's message.
    pub fn typed<T: DeserializeOwned>(self) -> Result<T> {
        let reply = self.ok()?;
        serde_json::from_slice(&reply.body)
            .context("the server's answer is not what this sluice expects")
    }

    /// The reply itself when it is a success (2xx); otherwise an error with the
    /// server's message.
    pub fn ok(self) -> Result<Reply> {
        if !(200..300).contains(&self.status) {
            let refused: ErrorAnswer =
                serde_json::from_slice(&self.body).unwrap_or_else(|_| ErrorAnswer {
                    error: "error".into(),
                    message: String::new(),
                });
            bail!(
                "server answered {} {}: {}",
                self.status,
                refused.error,
                refused.message
            );
        }
        Ok(self)
    }
}

fn read_token(args: &ServerArgs) -> Result<String> {
    if let Some(path) = &args.token_file {
        return Ok(std::fs::read_to_string(path)
            .with_context(|| format!("reading {}", path.display()))?
            .trim()
            .to_owned());
    }
    if let Ok(token) = std::env::var("SLUICE_TOKEN")
        && !token.trim().is_empty()
    {
        return Ok(token.trim().to_owned());
    }
    let local = Path::new(".spin").join(ADMIN_TOKEN_FILE);
    std::fs::read_to_string(&local)
        .map(|t| t.trim().to_owned())
        .with_context(|| {
            format!(
                "no token: set SLUICE_TOKEN, pass --token-file, or run from the directory where `sluice up` wrote {}",
                local.display()
            )
        })
}

impl Client {
    pub fn new(args: &ServerArgs) -> Result<Client> {
        let mut client = Client::with_token(&args.server, read_token(args)?);
        if let Some(ca) = &args.ca {
            let pem = std::fs::read(ca).with_context(|| format!("reading {}", ca.display()))?;
            let roots = sluice_device::ca_roots(&pem)
                .map_err(|e| anyhow::anyhow!("{}: {e}", ca.display()))?;
            client.agent = ureq::Agent::config_builder()
                .http_status_as_error(false)
                .tls_config(ureq::tls::TlsConfig::builder().root_certs(roots).build())
                .build()
                .into();
        }
        Ok(client)
    }

    /// A client for `server` that authenticates with `token`.
    pub fn with_token(server: &str, token: String) -> Client {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        Client {
            base: server.trim_end_matches('/').to_owned(),
            token,
            agent,
        }
    }

    /// Sends one admin request.
    pub fn send(&self, method: &str, path: &str, body: Option<&[u8]>) -> Result<Reply> {
        let url = format!("{}{path}", self.base);
        let auth = format!("Bearer {}", self.token);
        let result = match (method, body) {
            ("GET", _) => self.agent.get(&url).header("authorization", &auth).call(),
            ("HEAD", _) => self.agent.head(&url).header("authorization", &auth).call(),
            ("DELETE", _) => self
                .agent
                .delete(&url)
                .header("authorization", &auth)
                .call(),
            ("POST", body) => self
                .agent
                .post(&url)
                .header("authorization", &auth)
                .send(body.unwrap_or_default()),
            ("PUT", body) => self
                .agent
                .put(&url)
                .header("authorization", &auth)
                .send(body.unwrap_or_default()),
            _ => bail!("unsupported method {method}"),
        };
        let mut response = result.with_context(|| format!("{method} {url}"))?;
        let status = response.status().as_u16();
        let body = if method == "HEAD" {
            Vec::new()
        } else {
            response
                .body_mut()
                .with_config()
                .limit(64 << 20)
                .read_to_vec()
                .with_context(|| format!("reading the answer to {method} {url}"))?
        };
        Ok(Reply { status, body })
    }

    /// Sends `body` as JSON (or nothing) and reads the answer as a `T`: a
    /// field this sluice expects and the server does not send is an error,
    /// never a `?` on the screen.
    pub fn request<T: DeserializeOwned>(
        &self,
        method: &str,
        path: &str,
        body: Option<&impl Serialize>,
    ) -> Result<T> {
        let reply = self.send(method, path, encode(body)?.as_deref())?.ok()?;
        reply.answer_to(method, path)
    }

    /// `GET path`, answered as a `T`.
    pub fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        self.request("GET", path, None::<&()>)
    }

    /// `POST path` with `body` as JSON, answered as a `T`.
    pub fn post<T: DeserializeOwned>(&self, path: &str, body: &impl Serialize) -> Result<T> {
        self.request("POST", path, Some(body))
    }

    /// `POST path` without a body, answered as a `T`.
    pub fn post_empty<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        self.request("POST", path, None::<&()>)
    }

    /// A request whose answer is the command's result. Under `--json` the
    /// answer is printed as the server sent it (every field, in its order,
    /// whether or not this sluice knows it) and `None` comes back; otherwise
    /// the answer as a `T`, for the command to put into words.
    pub fn answer<T: DeserializeOwned>(
        &self,
        format: Format,
        method: &str,
        path: &str,
        body: Option<&impl Serialize>,
    ) -> Result<Option<T>> {
        self.answer_bytes(format, method, path, encode(body)?.as_deref())
    }

    /// [`Client::answer`] for a request whose body is not JSON (a key
    /// statement file).
    pub fn answer_bytes<T: DeserializeOwned>(
        &self,
        format: Format,
        method: &str,
        path: &str,
        body: Option<&[u8]>,
    ) -> Result<Option<T>> {
        let reply = self.send(method, path, body)?.ok()?;
        if format.json {
            reply.print();
            return Ok(None);
        }
        reply.answer_to(method, path).map(Some)
    }
}

/// A request body as JSON.
fn encode(body: Option<&impl Serialize>) -> Result<Option<Vec<u8>>> {
    body.map(serde_json::to_vec)
        .transpose()
        .context("encoding the request")
}

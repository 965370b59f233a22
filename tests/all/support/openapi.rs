//! The OpenAPI document a host serves, used to check what crosses the wire:
//! each answer against the schema the document gives its operation and
//! status, each request body against the operation's request schema.

use serde_json::{Value, json};

use crate::support::host::{Answer, Host, http};

/// The document as `host` serves it.
pub struct Described {
    document: Value,
}

impl Described {
    /// Reads `GET /v1/openapi.json` (no token), checking that it is the
    /// document this build of `sluice-api` commits.
    pub fn fetch(host: &Host) -> Described {
        let answer = http(
            "GET",
            &format!("{}{}", host.url, sluice_api::openapi::PATH),
            &[],
            None,
        );
        assert_eq!(answer.status, 200, "{}", answer.text());
        assert_eq!(answer.header("content-type"), Some("application/json"));
        let document = answer.json();
        let committed: Value = serde_json::from_str(sluice_api::openapi::JSON).unwrap();
        assert_eq!(document, committed, "the host serves another document");
        Described { document }
    }

    /// The operation `method` `path` matches (`/v1/admin/campaigns/c1` is
    /// `/v1/admin/campaigns/{id}`), as a JSON pointer into the document.
    fn operation(&self, method: &str, path: &str) -> String {
        let path = path.split('?').next().unwrap_or_default();
        let segments: Vec<&str> = path.split('/').collect();
        let template = self.document["paths"]
            .as_object()
            .unwrap()
            .keys()
            .find(|template| {
                let pattern: Vec<&str> = template.split('/').collect();
                pattern.len() == segments.len()
                    && pattern
                        .iter()
                        .zip(&segments)
                        .all(|(p, s)| p.starts_with('{') || p == s)
            })
            .unwrap_or_else(|| panic!("the document has no path for {path}"));
        let pointer = format!(
            "/paths/{}/{}",
            template.replace('~', "~0").replace('/', "~1"),
            method.to_ascii_lowercase()
        );
        assert!(
            self.document.pointer(&pointer).is_some(),
            "the document has no {method} {template}"
        );
        pointer
    }

    /// Checks `answer` to `method` `path` against the schema of its status
    /// (or the document's `default`, for a refusal).
    #[track_caller]
    pub fn check_answer(&self, method: &str, path: &str, answer: &Answer) {
        let json = answer.header("content-type") == Some("application/json");
        self.check_json(
            method,
            path,
            answer.status,
            json.then(|| answer.json()).as_ref(),
        );
    }

    /// Checks an answer of `status` to `method` `path` whose body (when it
    /// is JSON) is `body`.
    #[track_caller]
    pub fn check_json(&self, method: &str, path: &str, status: u16, body: Option<&Value>) {
        let operation = self.operation(method, path);
        let responses = &self.document.pointer(&operation).unwrap()["responses"];
        let code = status;
        let status = status.to_string();
        let response = if responses.get(&status).is_some() {
            &responses[&status]
        } else {
            assert!(
                code >= 400,
                "{method} {path} answered {status}, which the document does not list"
            );
            &responses["default"]
        };
        match (response.pointer("/content/application~1json/schema"), body) {
            (Some(schema), Some(body)) => {
                self.validate(schema, body, &format!("{status} to {method} {path}"))
            }
            (Some(_), None) => panic!("{status} to {method} {path} is not JSON"),
            (None, _) => {}
        }
    }

    /// Checks a JSON `body` sent to `method` `path` against its request schema.
    #[track_caller]
    pub fn check_request(&self, method: &str, path: &str, body: &Value) {
        let operation = self.operation(method, path);
        let pointer = format!("{operation}/requestBody/content/application~1json/schema");
        let schema = self
            .document
            .pointer(&pointer)
            .unwrap_or_else(|| panic!("the document gives {method} {path} no JSON body"));
        self.validate(schema, body, &format!("the body of {method} {path}"));
    }

    #[track_caller]
    fn validate(&self, schema: &Value, instance: &Value, what: &str) {
        // The operation's schema, with the document's components beside it
        // so that its `#/components/schemas/...` references resolve.
        let mut root = json!({"components": self.document["components"]});
        root.as_object_mut()
            .unwrap()
            .extend(schema.as_object().unwrap().clone());
        let validator = jsonschema::validator_for(&root)
            .unwrap_or_else(|e| panic!("the schema for {what} does not compile: {e}"));
        let errors: Vec<String> = validator
            .iter_errors(instance)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(
            errors.is_empty(),
            "{what} does not match the OpenAPI document:\n{}\n{instance:#}",
            errors.join("\n")
        );
    }
}

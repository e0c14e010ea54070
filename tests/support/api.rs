//! The application driven through the JSON API with bearer tokens, as scripts use it.

use std::ops::Deref;

use serde_json::{Value, json};

use super::app::{TestApp, spawn as spawn_app};
use super::db::Backend;
use super::{pdf, png};

/// A [`TestApp`] with an API client; everything else of the app is reached through it.
pub struct ApiApp {
    pub app: TestApp,
    pub http: reqwest::Client,
}

impl Deref for ApiApp {
    type Target = TestApp;
    fn deref(&self) -> &TestApp {
        &self.app
    }
}

pub async fn spawn(backend: Backend) -> ApiApp {
    ApiApp { app: spawn_app(backend).await, http: reqwest::Client::new() }
}

impl ApiApp {
    /// A user with an API token; returns the token.
    pub async fn user(&self, email: &str, role: &str, org: &str) -> String {
        let user = self.app.user(email, role, org).await;
        self.app.token(&user).await
    }

    pub async fn get(&self, token: &str, path: &str) -> (u16, Value) {
        let r = self.http.get(self.url(path)).bearer_auth(token).send().await.expect("request");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn post(&self, token: &str, path: &str, body: Value) -> (u16, Value) {
        let r = self.http.post(self.url(path)).bearer_auth(token).json(&body).send().await.expect("request");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn upload(
        &self,
        token: &str,
        reference: &str,
        kind: &str,
        filename: &str,
        bytes: Vec<u8>,
    ) -> (u16, Value) {
        let form = reqwest::multipart::Form::new()
            .text("kind", kind.to_string())
            .part("file", reqwest::multipart::Part::bytes(bytes).file_name(filename.to_string()));
        let r = self
            .http
            .post(self.url(&format!("/api/v1/applications/{reference}/documents")))
            .bearer_auth(token)
            .multipart(form)
            .send()
            .await
            .expect("request");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// Every field of the workflow filled with its published example, as the API gives it.
    pub async fn example_fields(&self, token: &str, workflow: &str) -> Value {
        let (status, wf) = self.get(token, &format!("/api/v1/workflows/{workflow}")).await;
        assert_eq!(status, 200, "{wf}");
        let mut fields = serde_json::Map::new();
        for f in wf["fields"].as_array().expect("fields") {
            fields.insert(f["name"].as_str().expect("name").into(), f["example"].clone());
        }
        Value::Object(fields)
    }

    /// A draft with every field and document, ready to submit. Returns its reference.
    pub async fn complete_draft(&self, token: &str, workflow: &str) -> String {
        let fields = self.example_fields(token, workflow).await;
        let (status, app) =
            self.post(token, "/api/v1/applications", json!({"workflow": workflow, "fields": fields})).await;
        assert_eq!(status, 201, "{app}");
        let reference = app["reference"].as_str().expect("reference").to_string();
        let (_, wf) = self.get(token, &format!("/api/v1/workflows/{workflow}")).await;
        for d in wf["documents"].as_array().expect("documents") {
            let accept: Vec<&str> = d["accept"].as_array().expect("accept").iter().filter_map(Value::as_str).collect();
            let (name, bytes) =
                if accept.contains(&"application/pdf") { ("doc.pdf", pdf()) } else { ("photo.png", png()) };
            let (status, body) =
                self.upload(token, &reference, d["name"].as_str().expect("doc name"), name, bytes).await;
            assert_eq!(status, 201, "{body}");
        }
        reference
    }

    pub async fn version(&self, token: &str, reference: &str) -> i64 {
        let (status, app) = self.get(token, &format!("/api/v1/applications/{reference}")).await;
        assert_eq!(status, 200, "{app}");
        app["version"].as_i64().expect("version")
    }

    /// Take an action at the application's current version.
    pub async fn act(&self, token: &str, reference: &str, action: &str, extra: Value) -> (u16, Value) {
        let version = self.version(token, reference).await;
        let mut body = json!({"action": action, "expected_version": version});
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            b.extend(e.clone());
        }
        self.post(token, &format!("/api/v1/applications/{reference}/transitions"), body).await
    }

    pub async fn history_len(&self, token: &str, reference: &str) -> usize {
        let (status, h) = self.get(token, &format!("/api/v1/applications/{reference}/history")).await;
        assert_eq!(status, 200, "{h}");
        h["events"].as_array().expect("events").len()
    }
}

/// The people of one application's journey through the API, each by the bearer token the
/// harness made for them.
pub struct Cast {
    pub firm: String,
    pub reviewer: String,
    pub reviewer2: String,
    pub security: String,
    pub embassy: String,
}

pub async fn cast(app: &ApiApp) -> Cast {
    Cast {
        firm: app.user("hr@indus.example", "applicant", "Indus Software House").await,
        reviewer: app.user("r1@moci.example", "ministry_reviewer", "Ministry of Commerce and Industry").await,
        reviewer2: app.user("r2@moci.example", "ministry_reviewer", "Ministry of Commerce and Industry").await,
        security: app.user("so@security.example", "security_officer", "Security Clearance Office").await,
        embassy: app.user("consul@embassy.example", "embassy_officer", "Embassy of Qatar, Islamabad").await,
    }
}

/// The body of a 200 answer; any other status fails the step, naming it.
pub fn ok(step: &str, (status, body): (u16, Value)) -> Value {
    assert_eq!(status, 200, "{step}: {body}");
    body
}

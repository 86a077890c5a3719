//! A GraphQL client for the platform API over HTTP, as console and automation use it.

use serde_json::{Value, json};

/// The platform's `/graphql` endpoint at a base URL (`http://127.0.0.1:<port>`).
#[derive(Clone, Debug)]
pub struct Gql {
    base: String,
    http: reqwest::Client,
}

impl Gql {
    /// A client for the platform at `base` (installs the crypto provider reqwest needs).
    pub fn new(base: &str) -> Gql {
        crate::install_crypto_provider();
        Gql {
            base: base.trim_end_matches('/').to_owned(),
            http: reqwest::Client::new(),
        }
    }

    /// The base URL.
    pub fn url(&self) -> &str {
        &self.base
    }

    /// The underlying HTTP client, for the platform's other endpoints.
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// Sends a request with an optional bearer token and request id; returns the whole answer
    /// and the `X-Request-Id` the server echoed. Asserts HTTP 200.
    pub async fn call(
        &self,
        token: Option<&str>,
        request_id: Option<&str>,
        query: &str,
        vars: Value,
    ) -> (Value, String) {
        let mut req = self
            .http
            .post(format!("{}/graphql", self.base))
            .json(&json!({"query": query, "variables": vars}));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(id) = request_id {
            req = req.header("x-request-id", id);
        }
        let resp = req.send().await.expect("the platform answers");
        assert_eq!(resp.status(), 200, "POST /graphql");
        let id = resp
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        (resp.json().await.expect("a JSON answer"), id)
    }

    /// Sends a request that must succeed; returns its `data`.
    pub async fn ok(&self, token: Option<&str>, query: &str, vars: Value) -> Value {
        let (r, _) = self.call(token, None, query, vars).await;
        assert!(r["errors"].is_null(), "{query} => {r}");
        r["data"].clone()
    }

    /// The whole answer to `signIn`.
    pub async fn sign_in(&self, user: &str, password: &str) -> Value {
        self.call(
            None,
            None,
            "mutation($u: String!, $p: String!) { signIn(username: $u, password: $p) { token user { username role } } }",
            json!({"u": user, "p": password}),
        )
        .await
        .0
    }

    /// A bearer token for a user who must be able to sign in.
    pub async fn token(&self, user: &str, password: &str) -> String {
        let r = self.sign_in(user, password).await;
        r["data"]["signIn"]["token"]
            .as_str()
            .unwrap_or_else(|| panic!("{user} cannot sign in: {r}"))
            .to_owned()
    }
}

/// The error code of a GraphQL answer, or `ok`.
pub fn code(r: &Value) -> &str {
    if r["errors"].is_null() {
        "ok"
    } else {
        r["errors"][0]["extensions"]["code"]
            .as_str()
            .unwrap_or("<no code>")
    }
}

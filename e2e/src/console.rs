//! The console as a form-posting client sees it: a cookie jar, the CSRF field, sign-in.

use reqwest::Client;

/// A client that keeps cookies, as a browser does.
pub fn client() -> Client {
    crate::install_crypto_provider();
    Client::builder()
        .cookie_store(true)
        .build()
        .unwrap_or_else(|e| panic!("http client: {e}"))
}

/// The CSRF token of the first form on `page`.
pub fn csrf_of(page: &str) -> String {
    const FIELD: &str = "name=\"csrf\" value=\"";
    let start = page
        .find(FIELD)
        .unwrap_or_else(|| panic!("no csrf field on the page:\n{page}"))
        + FIELD.len();
    page[start..]
        .split('"')
        .next()
        .unwrap_or_default()
        .to_owned()
}

/// Loads the sign-in form at `url` with `browser` and posts it; returns the answer.
pub async fn sign_in(
    browser: &Client,
    url: &str,
    username: &str,
    password: &str,
) -> reqwest::Response {
    let page = browser
        .get(format!("{url}/signin"))
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .unwrap_or_else(|e| panic!("GET /signin: {e}"));
    let csrf = csrf_of(&page.text().await.unwrap_or_default());
    browser
        .post(format!("{url}/signin"))
        .form(&[
            ("username", username),
            ("password", password),
            ("csrf", csrf.as_str()),
        ])
        .send()
        .await
        .unwrap_or_else(|e| panic!("POST /signin: {e}"))
}

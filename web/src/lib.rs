//! The console's presentation: handlebars templates, translations (zh-CN first, English) and
//! static assets, all embedded in the binary. The API server owns the routes and the data; this
//! crate only renders.

use handlebars::{
    Context, Handlebars, Helper, HelperResult, Output, RenderContext, RenderError,
    RenderErrorReason,
};
use rust_embed::RustEmbed;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;

#[derive(RustEmbed)]
#[folder = "templates/"]
#[include = "*.hbs"]
struct Templates;

#[derive(RustEmbed)]
#[folder = "static/"]
struct Static;

#[derive(RustEmbed)]
#[folder = "locales/"]
#[include = "*.json"]
struct Locales;

/// A console language.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Lang {
    /// Simplified Chinese, the default: the console speaks to Changsha enterprises first.
    #[default]
    ZhCn,
    /// English.
    En,
}

impl Lang {
    /// Every language, default first.
    pub const ALL: [Lang; 2] = [Lang::ZhCn, Lang::En];

    /// The BCP 47 tag (`zh-CN`, `en`), as in `<html lang>` and `?lang=`.
    pub fn tag(self) -> &'static str {
        match self {
            Lang::ZhCn => "zh-CN",
            Lang::En => "en",
        }
    }

    /// Parses `?lang=` values; unknown values fall back to the default rather than failing a page.
    pub fn from_query(s: Option<&str>) -> Lang {
        match s.map(str::to_ascii_lowercase).as_deref() {
            Some("en" | "en-us" | "en-gb") => Lang::En,
            _ => Lang::ZhCn,
        }
    }

    /// The language a switch link leads to.
    pub fn other(self) -> Lang {
        match self {
            Lang::ZhCn => Lang::En,
            Lang::En => Lang::ZhCn,
        }
    }
}

impl fmt::Display for Lang {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.tag())
    }
}

/// Why the console could not be built or a page rendered.
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    /// A template failed to compile (a build defect: caught by tests).
    #[error("template {name}: {source}")]
    Template {
        /// The template's name.
        name: String,
        /// The parser's error.
        #[source]
        source: Box<handlebars::TemplateError>,
    },
    /// A translation catalog is not valid JSON (a build defect: caught by tests).
    #[error("translation catalog {name}: {source}")]
    Catalog {
        /// The catalog's file name.
        name: String,
        /// The parser's error.
        #[source]
        source: serde_json::Error,
    },
    /// Rendering failed (unknown page, unknown translation key, bad data).
    #[error("rendering {page}: {source}")]
    Render {
        /// The page.
        page: String,
        /// The renderer's error.
        #[source]
        source: Box<RenderError>,
    },
}

/// Translation catalogs: key → text, per language.
type Catalogs = BTreeMap<Lang, BTreeMap<String, String>>;

/// The console renderer. Build once at start and share.
pub struct Console {
    hb: Handlebars<'static>,
    catalogs: std::sync::Arc<Catalogs>,
}

impl fmt::Debug for Console {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Console").finish_non_exhaustive()
    }
}

impl Console {
    /// Compiles every embedded template and loads every catalog.
    pub fn new() -> Result<Console, WebError> {
        let mut catalogs = Catalogs::new();
        for lang in Lang::ALL {
            let name = format!("{}.json", lang.tag());
            let bytes = Locales::get(&name).map(|f| f.data.into_owned());
            let map = serde_json::from_slice(bytes.as_deref().unwrap_or(b"{}"))
                .map_err(|source| WebError::Catalog { name, source })?;
            catalogs.insert(lang, map);
        }
        let catalogs = std::sync::Arc::new(catalogs);

        let mut hb = Handlebars::new();
        hb.set_dev_mode(false);
        for name in Templates::iter() {
            let stem = name.trim_end_matches(".hbs").to_owned();
            let text = Templates::get(&name)
                .map(|f| String::from_utf8_lossy(&f.data).into_owned())
                .unwrap_or_default();
            hb.register_template_string(&stem, text)
                .map_err(|source| WebError::Template {
                    name: stem.clone(),
                    source: Box::new(source),
                })?;
        }
        let cats = catalogs.clone();
        hb.register_helper(
            "t",
            Box::new(
                move |h: &Helper<'_>,
                      _: &Handlebars<'_>,
                      ctx: &Context,
                      _: &mut RenderContext<'_, '_>,
                      out: &mut dyn Output|
                      -> HelperResult {
                    let key = h
                        .param(0)
                        .and_then(|p| p.value().as_str())
                        .ok_or_else(|| RenderErrorReason::ParamNotFoundForIndex("t", 0))?;
                    let lang = Lang::from_query(ctx.data().get("lang").and_then(|v| v.as_str()));
                    let text = translate(&cats, lang, key).ok_or_else(|| {
                        RenderErrorReason::Other(format!("no translation for {key:?} in {lang}"))
                    })?;
                    // `{name}` placeholders take the helper's hash arguments.
                    let mut text = text.to_owned();
                    for (k, v) in h.hash() {
                        let v = match v.value() {
                            serde_json::Value::String(s) => s.clone(),
                            other => other.to_string(),
                        };
                        text = text.replace(&format!("{{{k}}}"), &v);
                    }
                    out.write(&handlebars::html_escape(&text))?;
                    Ok(())
                },
            ),
        );
        hb.register_helper(
            "concat",
            Box::new(
                |h: &Helper<'_>,
                 _: &Handlebars<'_>,
                 _: &Context,
                 _: &mut RenderContext<'_, '_>,
                 out: &mut dyn Output|
                 -> HelperResult {
                    for p in h.params() {
                        match p.value() {
                            serde_json::Value::String(s) => out.write(s)?,
                            other => out.write(&other.to_string())?,
                        }
                    }
                    Ok(())
                },
            ),
        );
        Ok(Console { hb, catalogs })
    }

    /// Renders a page in a language. `data` fields are available to the template; `lang` and
    /// `other_lang` are added.
    pub fn render(
        &self,
        page: &str,
        lang: Lang,
        data: &impl Serialize,
    ) -> Result<String, WebError> {
        let mut value = serde_json::to_value(data).map_err(|e| WebError::Render {
            page: page.to_owned(),
            source: Box::new(RenderErrorReason::SerdeError(e).into()),
        })?;
        if let serde_json::Value::Object(map) = &mut value {
            map.insert("lang".into(), lang.tag().into());
            map.insert("other_lang".into(), lang.other().tag().into());
        }
        self.hb
            .render(page, &value)
            .map_err(|source| WebError::Render {
                page: page.to_owned(),
                source: Box::new(source),
            })
    }

    /// A translated text outside templates (e.g. an error message set in a header).
    pub fn text(&self, lang: Lang, key: &str) -> Option<&str> {
        translate(&self.catalogs, lang, key)
    }

    /// The keys of a language's catalog.
    pub fn keys(&self, lang: Lang) -> Vec<&str> {
        self.catalogs
            .get(&lang)
            .map(|m| m.keys().map(String::as_str).collect())
            .unwrap_or_default()
    }
}

fn translate<'a>(cats: &'a Catalogs, lang: Lang, key: &str) -> Option<&'a str> {
    cats.get(&lang)?.get(key).map(String::as_str)
}

/// A static asset: its bytes and content type.
#[derive(Debug, Clone)]
pub struct Asset {
    /// The file's bytes.
    pub bytes: std::borrow::Cow<'static, [u8]>,
    /// Its MIME type.
    pub content_type: &'static str,
}

/// GraphiQL's page: GraphiQL, React and their styles are vendored under `static/graphiql/`
/// (versions and licences in `LICENSES.txt`) so that it works where the platform has no
/// internet access, as on a government cloud.
pub fn graphiql_page() -> Option<Asset> {
    asset("graphiql/index.html")
}

/// A static asset by path under `/static/`, if there is one.
pub fn asset(path: &str) -> Option<Asset> {
    let file = Static::get(path)?;
    // The handful of types the console ships; a crate for this would be overkill.
    let content_type = match path.rsplit('.').next() {
        Some("css") => "text/css; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("woff2") => "font/woff2",
        Some("json") => "application/json",
        Some("html") => "text/html; charset=utf-8",
        Some("txt") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    };
    Some(Asset {
        bytes: file.data,
        content_type,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn graphiql_loads_nothing_from_elsewhere() {
        let page = graphiql_page().unwrap();
        let html = String::from_utf8(page.bytes.into_owned()).unwrap();
        assert!(page.content_type.starts_with("text/html"));
        let refs: Vec<&str> = html
            .split(['"', '\''])
            .filter(|s| s.starts_with('/') || s.contains("://"))
            .collect();
        assert!(refs.len() >= 5, "{refs:?}");
        for r in refs {
            let path = r
                .strip_prefix("/static/")
                .unwrap_or_else(|| panic!("{r} is not ours"));
            assert!(
                asset(path).is_some_and(|a| !a.bytes.is_empty()),
                "{r} missing"
            );
        }
    }

    #[test]
    fn catalogs_have_the_same_keys() {
        let c = Console::new().unwrap();
        assert!(!c.keys(Lang::ZhCn).is_empty());
        assert_eq!(c.keys(Lang::ZhCn), c.keys(Lang::En));
    }

    #[test]
    fn sign_in_page_is_chinese_by_default_and_english_on_request() {
        let c = Console::new().unwrap();
        let zh = c
            .render("signin", Lang::default(), &json!({"csrf": "tok"}))
            .unwrap();
        assert!(zh.contains("<html lang=\"zh-CN\">"));
        assert!(zh.contains("登录"));
        assert!(zh.contains("value=\"tok\""));
        let en = c
            .render(
                "signin",
                Lang::from_query(Some("en")),
                &json!({"csrf": "tok"}),
            )
            .unwrap();
        assert!(en.contains("<html lang=\"en\">"));
        assert!(en.contains("Sign in"));
        assert!(!en.contains("登录"));
    }

    #[test]
    fn translations_are_escaped_and_take_arguments() {
        let c = Console::new().unwrap();
        let page = c
            .render(
                "console",
                Lang::En,
                &json!({"csrf": "x", "user": {"username": "<b>eve</b>", "role": "tenant-admin"}}),
            )
            .unwrap();
        assert!(page.contains("Welcome, &lt;b&gt;eve&lt;/b&gt;"), "{page}");
        assert!(page.contains("Tenant admin"));
    }

    #[test]
    fn unknown_keys_and_pages_are_errors() {
        let c = Console::new().unwrap();
        assert!(c.render("nope", Lang::En, &json!({})).is_err());
        let err = c
            .render(
                "console",
                Lang::En,
                &json!({"user": {"username": "a", "role": "nonsense"}}),
            )
            .unwrap_err();
        assert!(err.to_string().contains("role.nonsense"), "{err}");
    }

    #[test]
    fn assets_are_served_with_types() {
        let css = asset("app.css").unwrap();
        assert_eq!(css.content_type, "text/css; charset=utf-8");
        assert!(!css.bytes.is_empty());
        assert!(asset("../Cargo.toml").is_none());
        assert!(asset("missing.js").is_none());
    }
}

//! Rendering: Handlebars in strict mode (HTML-escaped for the HTML part), MJML compiled to
//! responsive HTML by mrml, CSS inlined for email clients, and a text part from its own template
//! or derived from the HTML. Compiled templates are cached per version.
use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

use handlebars::Handlebars;

use super::templates::{PARTIALS, TemplateSource};
use crate::text_cache::TextCache;

/// A rendered message.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Rendered {
    pub subject: String,
    pub html: String,
    pub text: String,
}

/// What is wrong with a template, and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// `subject`, `html`, `text` or `dataQuery`.
    pub part: &'static str,
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.line, self.column) {
            (Some(l), Some(c)) => write!(f, "{} {l}:{c}: {}", self.part, self.message),
            _ => write!(f, "{}: {}", self.part, self.message),
        }
    }
}

/// A template ready to render: one registry that escapes HTML (the HTML part) and one that
/// does not (subject and text).
pub struct Compiled {
    html: Handlebars<'static>,
    plain: Handlebars<'static>,
    has_text: bool,
}

fn registry(escape: bool) -> Handlebars<'static> {
    let mut r = Handlebars::new();
    r.set_strict_mode(true);
    // `{{log …}}` would write what a template sees (real customers' data) to the server's log.
    r.unregister_helper("log");
    if !escape {
        r.register_escape_fn(handlebars::no_escape);
    }
    for (name, source) in PARTIALS {
        // The shipped partials are checked by the tests; a broken one fails every render.
        if let Err(e) = r.register_partial(name, *source) {
            tracing::error!(partial = name, error = %e, "a shipped partial does not parse");
        }
    }
    r
}

fn template_problem(part: &'static str, e: &handlebars::TemplateError) -> Problem {
    let (line, column) = e.pos().map_or((None, None), |(l, c)| (Some(l), Some(c)));
    Problem {
        part,
        line,
        column,
        message: e.reason().to_string(),
    }
}

fn render_problem(part: &'static str, e: &handlebars::RenderError) -> Problem {
    let message = match e.reason() {
        handlebars::RenderErrorReason::MissingVariable(Some(path)) => {
            format!("`{path}` is not in the data (check the data query and the spelling)")
        }
        handlebars::RenderErrorReason::MissingVariable(None) => {
            "a variable is not in the data (check the data query and the spelling)".to_owned()
        }
        other => other.to_string(),
    };
    Problem {
        part,
        line: e.line_no,
        column: e.column_no,
        message,
    }
}

/// What a template may include: the shipped partials by their names, and a layout's
/// `@partial-block`. Anything else is refused before a render is tried: file paths, the
/// template's own parts (`{{> html}}`), names computed from data, decorators and inline
/// partials, and a layout (a partial that renders its block) used inside a block it renders,
/// which would include itself without end and exhaust the stack.
fn check_includes(part: &'static str, source: &str) -> Result<(), Problem> {
    use handlebars::template::{Template, TemplateElement};
    fn is_layout(name: &str) -> bool {
        PARTIALS
            .iter()
            .any(|(n, source)| *n == name && source.contains("@partial-block"))
    }
    fn walk(part: &'static str, template: &Template, in_block: bool) -> Result<(), Problem> {
        for (i, element) in template.elements.iter().enumerate() {
            let at = template.mapping.get(i);
            let refuse = |message: String| Problem {
                part,
                line: at.map(|m| m.0),
                column: at.map(|m| m.1),
                message,
            };
            match element {
                TemplateElement::HelperBlock(helper) => {
                    for inner in [&helper.template, &helper.inverse].into_iter().flatten() {
                        walk(part, inner, in_block)?;
                    }
                }
                TemplateElement::PartialExpression(partial)
                | TemplateElement::PartialBlock(partial) => {
                    let name = partial.name.as_name().ok_or_else(|| {
                        refuse("a partial is included by its name, written out".to_owned())
                    })?;
                    let known =
                        name == "@partial-block" || PARTIALS.iter().any(|(n, _)| *n == name);
                    if !known {
                        return Err(refuse(format!(
                            "there is no partial `{name}`; the partials are {}",
                            PARTIALS
                                .iter()
                                .map(|(n, _)| *n)
                                .collect::<Vec<_>>()
                                .join(", ")
                        )));
                    }
                    if in_block && is_layout(name) {
                        return Err(refuse(format!(
                            "the layout `{name}` cannot be used inside a partial's block"
                        )));
                    }
                    if let Some(inner) = &partial.template {
                        walk(part, inner, true)?;
                    }
                }
                TemplateElement::DecoratorExpression(_) | TemplateElement::DecoratorBlock(_) => {
                    return Err(refuse(
                        "decorators and inline partials (`{{*…}}`, `{{#*inline}}`) are not available in email templates"
                            .to_owned(),
                    ));
                }
                _ => {}
            }
        }
        Ok(())
    }
    let template = Template::compile(source).map_err(|e| template_problem(part, &e))?;
    walk(part, &template, false)
}

/// A NUL character has no place in a template (and no database column takes it).
fn check_characters(part: &'static str, source: &str) -> Result<(), Problem> {
    let Some(at) = source.find('\0') else {
        return Ok(());
    };
    let before = &source[..at];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
    Err(Problem {
        part,
        line: Some(line),
        column: Some(column),
        message: "a NUL character (U+0000) has no place in a template".to_owned(),
    })
}

/// Parses a template's Handlebars parts.
pub fn compile(source: &TemplateSource) -> Result<Compiled, Problem> {
    check_characters("subject", &source.subject)?;
    check_characters("html", &source.html)?;
    if let Some(text) = &source.text {
        check_characters("text", text)?;
    }
    check_characters("dataQuery", &source.data_query)?;
    check_includes("subject", &source.subject)?;
    check_includes("html", &source.html)?;
    if let Some(text) = &source.text {
        check_includes("text", text)?;
    }
    let mut html = registry(true);
    let mut plain = registry(false);
    plain
        .register_template_string("subject", &source.subject)
        .map_err(|e| template_problem("subject", &e))?;
    html.register_template_string("html", &source.html)
        .map_err(|e| template_problem("html", &e))?;
    if let Some(text) = &source.text {
        plain
            .register_template_string("text", text)
            .map_err(|e| template_problem("text", &e))?;
    }
    Ok(Compiled {
        html,
        plain,
        has_text: source.text.is_some(),
    })
}

/// One line: no CR, LF or other line break (U+2028, NEL, …) reaches it, and runs of white
/// space fold.
pub fn one_line(raw: &str) -> String {
    raw.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Text for a header (a subject, the sender's name): one line, and nothing a mail client would
/// decode as an RFC 2047 encoded word (`=?utf-8?Q?Hi=0D=0ABcc:…?=` typed as a name would
/// otherwise go out as written and be shown decoded, line breaks and all). A word joiner
/// between `=` and `?` keeps what was typed visible as typed.
pub fn header_safe(raw: &str) -> String {
    one_line(raw).replace("=?", "=\u{2060}?")
}

/// MJML to HTML that email clients show alike: responsive markup with the CSS inlined.
pub fn mjml_to_html(mjml: &str) -> Result<String, Problem> {
    let problem = |message: String| Problem {
        part: "html",
        line: None,
        column: None,
        message,
    };
    let parsed = mrml::parse(mjml).map_err(|e| problem(format!("MJML: {e}")))?;
    let html = parsed
        .element
        .render(&mrml::prelude::render::RenderOptions::default())
        .map_err(|e| problem(format!("MJML: {e}")))?;
    // Media queries (the mobile layout) and font links stay in the head: clients that honour
    // them make the message responsive; the rest get the inlined styles.
    let inlined = css_inline::CSSInliner::options()
        .load_remote_stylesheets(false)
        .keep_at_rules(true)
        .keep_link_tags(true)
        .build()
        .inline(&html)
        .map_err(|e| problem(format!("CSS: {e}")))?;
    neutralise(&inlined).map_err(problem)
}

/// The URL schemes a link or an image in an email may use; relative URLs (`#top`, `/help`)
/// pass too.
const SAFE_SCHEMES: [&str; 5] = ["http", "https", "mailto", "tel", "cid"];

/// Attributes whose value is a URL a client may follow or fetch.
const URL_ATTRIBUTES: [&str; 14] = [
    "href",
    "src",
    "action",
    "formaction",
    "background",
    "poster",
    "lowsrc",
    "dynsrc",
    "cite",
    "longdesc",
    "data",
    "codebase",
    "xlink:href",
    "ping",
];

/// Elements that only run code or embed other documents: never part of an email.
const ACTIVE_ELEMENTS: &str = "script, iframe, frame, frameset, object, embed, applet";

/// Whether `url` (an attribute's value as the browser reads it, character references decoded)
/// is safe to follow: a relative URL, or an absolute one with a scheme of `SAFE_SCHEMES`.
/// Browsers drop tabs and line breaks anywhere in a URL and blanks and controls around it, so
/// `java\tscript:` is `javascript:`; any other control character, or a scheme that is not plain
/// ASCII, is refused rather than guessed at.
pub fn is_safe_url(url: &str) -> bool {
    let trimmed = url.trim_matches(|c: char| c <= ' ');
    let cleaned: String = trimmed
        .chars()
        .filter(|c| !matches!(c, '\t' | '\n' | '\r'))
        .collect();
    if cleaned.chars().any(char::is_control) {
        return false;
    }
    let end_of_scheme = cleaned.find([':', '/', '?', '#']);
    match end_of_scheme {
        Some(at) if cleaned[at..].starts_with(':') => {
            let scheme = &cleaned[..at];
            SAFE_SCHEMES.iter().any(|s| s.eq_ignore_ascii_case(scheme))
        }
        // No scheme: relative to the message, which has no base of its own.
        _ => true,
    }
}

/// An attribute's value as the browser reads it: numeric character references and the named
/// ones that can spell a URL's delimiters (`&colon;`, `&Tab;`, …) decoded. Other named
/// references stay as written; in a scheme they make it unknown, which `is_safe_url` refuses.
pub fn decode_attribute(raw: &str) -> String {
    const NAMED: [(&str, char); 12] = [
        ("amp", '&'),
        ("lt", '<'),
        ("gt", '>'),
        ("quot", '"'),
        ("apos", '\''),
        ("colon", ':'),
        ("sol", '/'),
        ("quest", '?'),
        ("num", '#'),
        ("Tab", '\t'),
        ("NewLine", '\n'),
        ("nbsp", '\u{a0}'),
    ];
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let after = &rest[1..];
        if let Some(number) = after.strip_prefix('#') {
            let (digits, radix) = match number.strip_prefix(['x', 'X']) {
                Some(hex) => (hex, 16),
                None => (number, 10),
            };
            let len = digits
                .find(|c: char| !c.is_digit(radix))
                .unwrap_or(digits.len());
            if len > 0 {
                let value = u32::from_str_radix(digits[..len].trim_start_matches('0'), radix)
                    .ok()
                    .or_else(|| digits[..len].chars().all(|c| c == '0').then_some(0));
                out.push(
                    value
                        .and_then(char::from_u32)
                        .filter(|c| *c != '\0')
                        .unwrap_or('\u{fffd}'),
                );
                let consumed = rest.len() - digits.len() + len;
                rest = &rest[consumed..];
                rest = rest.strip_prefix(';').unwrap_or(rest);
                continue;
            }
        } else if let Some((name, c)) = NAMED
            .iter()
            .find(|(name, _)| after.starts_with(name) && after[name.len()..].starts_with(';'))
        {
            out.push(*c);
            rest = &after[name.len() + 1..];
            continue;
        }
        out.push('&');
        rest = after;
    }
    out.push_str(rest);
    out
}

/// Whether a `srcset` (`url 1x, url 2x`) names only safe URLs.
fn is_safe_srcset(decoded: &str) -> bool {
    decoded
        .split(',')
        .filter_map(|candidate| candidate.split_whitespace().next())
        .all(is_safe_url)
}

/// Whether an inline style could fetch or run anything unsafe (`url(javascript:…)`, IE's
/// `expression(…)`, `behavior`).
fn is_safe_style(decoded: &str) -> bool {
    // Inlined CSS puts a style on nearly every element: plain ASCII takes the byte path (the
    // same white space, control characters and case as the `char` path below).
    let compact: String = if decoded.is_ascii() {
        decoded
            .bytes()
            .filter(|b| !b.is_ascii_whitespace() && !b.is_ascii_control() && *b != b'\\')
            .map(|b| char::from(b.to_ascii_lowercase()))
            .collect()
    } else {
        decoded
            .chars()
            .filter(|c| !c.is_whitespace() && !c.is_control() && *c != '\\')
            .flat_map(char::to_lowercase)
            .collect()
    };
    if ["expression(", "behavior:", "-moz-binding"]
        .iter()
        .any(|bad| compact.contains(bad))
    {
        return false;
    }
    compact.match_indices("url(").all(|(at, _)| {
        let inner = compact[at + 4..].trim_start_matches(['\'', '"']);
        let end = inner.find([')', '\'', '"']).unwrap_or(inner.len());
        is_safe_url(&inner[..end])
    })
}

/// Makes rendered HTML safe to send whatever its data and template said: every URL attribute
/// (`href`, `src`, …) with an unsafe scheme (`javascript:`, `data:`, `vbscript:`, however it is
/// spelled) is removed, event handler attributes (`onclick`…) and unsafe inline styles are
/// removed, scripts and embedded documents are dropped, and the markup Outlook reads inside
/// conditional comments gets the same treatment. Everything else is left byte for byte.
pub fn neutralise(html: &str) -> Result<String, String> {
    neutralise_at_depth(html, 0)
}

/// The selectors `neutralise` matches, parsed once.
struct Selectors {
    active: lol_html::Selector,
    meta: lol_html::Selector,
    any: lol_html::Selector,
}

static SELECTORS: LazyLock<Selectors> = LazyLock::new(|| Selectors {
    active: ACTIVE_ELEMENTS.parse().expect("a valid selector"),
    meta: "meta[http-equiv]".parse().expect("a valid selector"),
    any: "*".parse().expect("a valid selector"),
});

/// The markup of Outlook-only comments as `neutralise` leaves it (None: unchanged), by its text:
/// MJML writes the same few conditional comments into every message.
static OUTLOOK_MARKUP: LazyLock<TextCache<Option<Arc<str>>>> =
    LazyLock::new(|| TextCache::new(1024, 256 * 1024, 4 * 1024));

fn neutralise_at_depth(html: &str, depth: usize) -> Result<String, String> {
    use lol_html::html_content::Element;
    use lol_html::{ElementContentHandlers, RewriteStrSettings, doc_comments, rewrite_str};
    use std::borrow::Cow;
    let selectors = &*SELECTORS;
    let settings = RewriteStrSettings::new()
        .append_element_content_handler((
            Cow::Borrowed(&selectors.active),
            ElementContentHandlers::default().element(|el: &mut Element<'_, '_>| {
                el.remove();
                Ok(())
            }),
        ))
        .append_element_content_handler((
            Cow::Borrowed(&selectors.meta),
            ElementContentHandlers::default().element(|el: &mut Element<'_, '_>| {
                let refresh = el
                    .get_attribute("http-equiv")
                    .is_some_and(|v| v.trim().eq_ignore_ascii_case("refresh"));
                if refresh {
                    el.remove();
                }
                Ok(())
            }),
        ))
        .append_element_content_handler((
            Cow::Borrowed(&selectors.any),
            ElementContentHandlers::default().element(|el: &mut Element<'_, '_>| {
                let unsafe_attributes: Vec<String> = el
                    .attributes()
                    .iter()
                    .filter_map(|a| {
                        let name = a.name();
                        if name.starts_with("on") {
                            return Some(name);
                        }
                        let check: fn(&str) -> bool = match name.as_str() {
                            "srcset" | "imagesrcset" => is_safe_srcset,
                            "style" => is_safe_style,
                            n if URL_ATTRIBUTES.contains(&n) => is_safe_url,
                            _ => return None,
                        };
                        let raw = a.value();
                        let safe = if raw.contains('&') {
                            check(&decode_attribute(&raw))
                        } else {
                            check(&raw)
                        };
                        (!safe).then_some(name)
                    })
                    .collect();
                for name in unsafe_attributes {
                    el.remove_attribute(&name);
                }
                Ok(())
            }),
        ))
        .append_document_content_handler(doc_comments!(|c| {
            // `<!--[if mso]><table …><![endif]-->`: markup Outlook renders.
            let text = c.text();
            let Some(open) = text.strip_prefix('[').filter(|t| t.starts_with("if")) else {
                return Ok(());
            };
            let Some(body_start) = open.find('>').map(|i| i + 2) else {
                return Ok(());
            };
            let body_end = text
                .rfind("<![endif]")
                .unwrap_or(text.len())
                .max(body_start);
            if depth > 2 {
                c.remove();
                return Ok(());
            }
            let body = &text[body_start..body_end];
            let made_safe = |body: &str| {
                neutralise_at_depth(body, depth + 1)
                    .map(|inner| (inner != body).then(|| Arc::<str>::from(inner)))
            };
            let rewritten = if depth == 0 {
                OUTLOOK_MARKUP.get_or_try(body, made_safe)?
            } else {
                made_safe(body)?
            };
            if let Some(inner) = rewritten {
                let rewritten = format!("{}{inner}{}", &text[..body_start], &text[body_end..]);
                if c.set_text(&rewritten).is_err() {
                    c.remove();
                }
            }
            Ok(())
        }));
    rewrite_str(html, settings).map_err(|e| format!("HTML: {e}"))
}

/// The data-level guard: a value under a key that names a URL (`imageUrl`, `trackingUrl`,
/// `brand.logoUrl`, …) that is not safe to link to is made null before any template sees it,
/// so `{{#if product.imageUrl}}` takes its other branch and the text part does not show it.
pub fn guard_urls(context: &mut serde_json::Value) {
    use serde_json::Value;
    match context {
        Value::Object(map) => {
            for (key, value) in map.iter_mut() {
                let names_url = key.to_ascii_lowercase().ends_with("url");
                match value {
                    Value::String(s)
                        if names_url && !(is_safe_url(s) && is_safe_url(&decode_attribute(s))) =>
                    {
                        *value = Value::Null;
                    }
                    _ => guard_urls(value),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(guard_urls),
        _ => {}
    }
}

/// Renders a compiled template against a context (the data query's result plus `brand`).
pub fn render(compiled: &Compiled, context: &serde_json::Value) -> Result<Rendered, Problem> {
    // One copy of the data for the three parts (`render` would make one per part).
    let context = handlebars::Context::from(context.clone());
    let subject = compiled
        .plain
        .render_with_context("subject", &context)
        .map_err(|e| render_problem("subject", &e))?;
    let mjml = compiled
        .html
        .render_with_context("html", &context)
        .map_err(|e| render_problem("html", &e))?;
    let html = mjml_to_html(&mjml)?;
    let text = if compiled.has_text {
        compiled
            .plain
            .render_with_context("text", &context)
            .map_err(|e| render_problem("text", &e))?
    } else {
        html2text::from_read(html.as_bytes(), 78).map_err(|e| Problem {
            part: "text",
            line: None,
            column: None,
            message: e.to_string(),
        })?
    };
    Ok(Rendered {
        subject: header_safe(&subject),
        html,
        text: text.trim().to_owned() + "\n",
    })
}

/// Compiled templates by (kind, locale, version): versions never change once saved.
#[derive(Default)]
pub struct Cache {
    compiled: Mutex<HashMap<(String, String, i32), Arc<Compiled>>>,
}

impl Cache {
    pub fn get_or_compile(
        &self,
        key: (String, String, i32),
        source: impl FnOnce() -> TemplateSource,
    ) -> Result<Arc<Compiled>, Problem> {
        if let Some(found) = self.lock().get(&key) {
            return Ok(found.clone());
        }
        let compiled = Arc::new(compile(&source())?);
        self.lock().insert(key, compiled.clone());
        Ok(compiled)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String, i32), Arc<Compiled>>> {
        self.compiled
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_never_carry_line_breaks_or_encoded_words() {
        assert_eq!(
            header_safe("Your order\r\nBcc: x@example.com"),
            "Your order Bcc: x@example.com"
        );
        assert_eq!(header_safe("a\u{2028}b\u{85}c"), "a b c");
        assert_eq!(
            header_safe("=?utf-8?Q?Hi=0D=0ABcc:_x@example.com?="),
            "=\u{2060}?utf-8?Q?Hi=0D=0ABcc:_x@example.com?="
        );
    }

    #[test]
    fn syntax_errors_say_where() {
        let source = TemplateSource {
            subject: "Hi".into(),
            html: "<mjml><mj-body>\n{{#if order}}\n</mj-body></mjml>".into(),
            text: None,
            data_query: String::new(),
        };
        let problem = compile(&source)
            .err()
            .expect("an unclosed block is refused");
        assert_eq!(problem.part, "html");
        assert!(problem.line.is_some());
    }

    #[test]
    fn strict_mode_refuses_unknown_paths_and_escapes_html() {
        let source = TemplateSource {
            subject: "{{order.number}}".into(),
            html: "<mjml><mj-body><mj-section><mj-column><mj-text>{{order.customer}}</mj-text></mj-column></mj-section></mj-body></mjml>".into(),
            text: Some("{{order.customer}}".into()),
            data_query: String::new(),
        };
        let compiled = compile(&source).unwrap();
        let context =
            serde_json::json!({ "order": { "number": "TP-1", "customer": "<b>Ann</b>" } });
        let rendered = render(&compiled, &context).unwrap();
        assert!(rendered.html.contains("&lt;b&gt;Ann&lt;/b&gt;"));
        assert!(
            rendered.text.contains("<b>Ann</b>"),
            "text is not HTML-escaped"
        );
        let missing = serde_json::json!({ "order": { "number": "TP-1" } });
        let problem = render(&compiled, &missing).err().unwrap();
        assert_eq!(problem.part, "html");
    }

    #[test]
    fn only_safe_schemes_pass_however_they_are_spelled() {
        for safe in [
            "https://shop.example/a?b=1#c",
            "http://x",
            "mailto:help@shop.example",
            "tel:+31 20 555 0101",
            "cid:logo",
            "#top",
            "/help",
            "help/faq",
            "?q=a:b",
            "//cdn.example/x.png",
            "",
        ] {
            assert!(is_safe_url(&decode_attribute(safe)), "{safe:?}");
        }
        for bad in [
            "javascript:alert(1)",
            " JaVaScRiPt:alert(1)",
            "java\tscript:alert(1)",
            "java\nscript:alert(1)",
            "\u{1}javascript:alert(1)",
            "&#106;avascript:alert(1)",
            "&#x6A;avascript:alert(1)",
            "&#0000106avascript:alert(1)",
            "javascript&colon;alert(1)",
            "java&Tab;script:alert(1)",
            "data:text/html,<script>alert(1)</script>",
            "vbscript:msgbox(1)",
            "jav\u{0}ascript:alert(1)",
            "ｊavascript:alert(1)",
        ] {
            assert!(!is_safe_url(&decode_attribute(bad)), "{bad:?}");
        }
    }

    #[test]
    fn neutralising_removes_unsafe_urls_handlers_and_scripts_and_keeps_the_rest() {
        let html = r##"<html><head><meta http-equiv="refresh" content="0;url=javascript:alert(1)"></head><body><a href="https://ok.example/?a=1&amp;b=2">ok</a><a href=" JaVa&#x09;ScRiPt&colon;alert(1)" onclick="alert(1)">x</a><img src="data:text/html,x" srcset="https://ok.example/a.png 1x, javascript:alert(1) 2x" style="background:url( 'javascript:alert(1)')"><script>alert(1)</script><!--[if mso | IE]><v:fill src="vbscript:msgbox(1)" /><a href="#top">top</a><![endif]--></body></html>"##;
        let out = neutralise(html).unwrap();
        assert!(
            out.contains(r#"<a href="https://ok.example/?a=1&amp;b=2">ok</a>"#),
            "{out}"
        );
        assert!(out.contains(r##"<a href="#top">top</a>"##), "{out}");
        for gone in [
            "javascript",
            "JaVa",
            "data:",
            "vbscript",
            "onclick",
            "<script",
            "refresh",
            "srcset",
            "style=",
        ] {
            assert!(!out.contains(gone), "{gone} is gone: {out}");
        }
        // The second time, the Outlook-only markup comes from what the first one kept.
        assert_eq!(
            neutralise(html).unwrap(),
            out,
            "the same answer from the kept markup"
        );
        let plain =
            "<html><body><p>Hi &amp; bye</p><!--[if mso]><table><tr><td><![endif]--></body></html>";
        assert_eq!(
            neutralise(plain).unwrap(),
            plain,
            "safe HTML is left byte for byte"
        );
    }

    #[test]
    fn unsafe_urls_in_the_data_become_null() {
        let mut context = serde_json::json!({
            "order": { "lines": [
                { "name": "javascript:alert(1)", "product": { "imageUrl": "javascript:alert(1)" } },
                { "name": "Tee", "product": { "imageUrl": "https://img.example/tee.png" } },
            ] },
            "shipment": { "trackingUrl": "&#106;avascript:alert(1)" },
            "brand": { "logoUrl": null, "websiteUrl": "https://shop.example" },
        });
        guard_urls(&mut context);
        assert_eq!(
            context["order"]["lines"][0]["product"]["imageUrl"],
            serde_json::Value::Null
        );
        assert_eq!(
            context["order"]["lines"][0]["name"], "javascript:alert(1)",
            "not a URL"
        );
        assert_eq!(
            context["order"]["lines"][1]["product"]["imageUrl"],
            "https://img.example/tee.png"
        );
        assert_eq!(context["shipment"]["trackingUrl"], serde_json::Value::Null);
        assert_eq!(context["brand"]["websiteUrl"], "https://shop.example");
    }

    #[test]
    fn a_template_includes_only_the_shipped_partials_and_never_itself() {
        let with_html = |html: &str| TemplateSource {
            subject: "Hi".into(),
            html: html.into(),
            text: None,
            data_query: String::new(),
        };
        for html in [
            "{{> ../../etc/passwd}}",
            "{{> /etc/passwd}}",
            "{{> html}}",
            r#"{{> (lookup this "p")}}"#,
            r#"{{#*inline "a"}}{{> b}}{{/inline}}{{#*inline "b"}}{{> a}}{{/inline}}{{> a}}"#,
            "{{#> email_html}}{{> email_html}}{{/email_html}}",
            "{{#> email_text}}{{> email_html}}{{/email_text}}",
            "{{#> footer_html}}{{#each x}}{{> email_html}}{{/each}}{{/footer_html}}",
        ] {
            let problem = compile(&with_html(html))
                .err()
                .unwrap_or_else(|| panic!("{html} is refused"));
            assert_eq!(problem.part, "html", "{html}");
            assert!(problem.line.is_some(), "{html}: {problem}");
        }
        assert!(
            compile(&with_html(
                "{{#> email_html}}{{> footer_html}}{{/email_html}}"
            ))
            .is_ok()
        );
        let log = compile(&with_html(
            "{{#> email_html}}{{log brand.name}}{{/email_html}}",
        ))
        .unwrap();
        let context = serde_json::json!({ "brand": { "name": "B", "primaryColor": "#000000", "supportEmail": "s@x.test" } });
        assert!(render(&log, &context).is_err(), "no log helper");
    }
}

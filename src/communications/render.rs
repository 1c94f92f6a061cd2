//! Rendering: Handlebars in strict mode (HTML-escaped for the HTML part), MJML compiled to
//! responsive HTML by mrml, CSS inlined for email clients, and a text part from its own template
//! or derived from the HTML. Compiled templates are cached per version.
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use handlebars::Handlebars;

use super::templates::{PARTIALS, TemplateSource};

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

/// Parses a template's Handlebars parts.
pub fn compile(source: &TemplateSource) -> Result<Compiled, Problem> {
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

/// A subject is one header line: no CR or LF reaches it, and runs of white space fold.
pub fn header_safe(raw: &str) -> String {
    raw.split_whitespace().collect::<Vec<_>>().join(" ")
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
    css_inline::CSSInliner::options()
        .load_remote_stylesheets(false)
        .keep_at_rules(true)
        .keep_link_tags(true)
        .build()
        .inline(&html)
        .map_err(|e| problem(format!("CSS: {e}")))
}

/// Renders a compiled template against a context (the data query's result plus `brand`).
pub fn render(compiled: &Compiled, context: &serde_json::Value) -> Result<Rendered, Problem> {
    let subject = compiled
        .plain
        .render("subject", context)
        .map_err(|e| render_problem("subject", &e))?;
    let mjml = compiled
        .html
        .render("html", context)
        .map_err(|e| render_problem("html", &e))?;
    let html = mjml_to_html(&mjml)?;
    let text = if compiled.has_text {
        compiled
            .plain
            .render("text", context)
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
    fn subjects_never_carry_line_breaks() {
        assert_eq!(
            header_safe("Your order\r\nBcc: x@example.com"),
            "Your order Bcc: x@example.com"
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
}

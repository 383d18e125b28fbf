//! Bounded Handlebars: every template is checked and instrumented before it renders, so
//! no template (saved, previewed or sent) can take the process down or hold a thread.
//!
//! Handlebars-rust has no limits of its own: a recursive inline partial overflows the
//! stack (a process abort, not an error), nested `{{#each}}` loops multiply, and nothing
//! caps the output. Herald therefore:
//! - refuses, before compiling, sources whose block or sub-expression nesting is deeper
//!   than [`MAX_DEPTH`] (the parser and the tree's destructor recurse per level);
//! - refuses partials, decorators (`{{#*inline}}`) and any helper outside a short list
//!   (`log` is not on it: templates must not write to Herald's logs), which leaves no way
//!   to recurse;
//! - puts a hidden tick at the start of every block body, charging that body's element
//!   count to a per-render work budget, so loops cost what they do: ten nested loops over
//!   ten fields stop after [`WORK_BUDGET`] units instead of running for a billion steps;
//! - renders into an output that stops at [`MAX_OUTPUT`] bytes.
//!
//! A template over a limit fails with a message saying which limit, like any other
//! rendering error.

use std::cell::Cell;
use std::io;
use std::sync::OnceLock;

use handlebars::template::{Parameter, TemplateElement};
use handlebars::{
    Context, Handlebars, Helper, HelperResult, Output, RenderContext, RenderError,
    RenderErrorReason, Renderable, Template,
};
use serde_json::Value;

/// Deepest nesting of blocks and of sub-expressions a template may use.
pub const MAX_DEPTH: usize = 12;
/// Work units one render may spend: one per template element evaluated.
pub const WORK_BUDGET: u64 = 250_000;
/// Largest rendered part, in bytes.
pub const MAX_OUTPUT: usize = 1024 * 1024;

/// The hidden helper the instrumentation calls; a name no user template can contain.
const TICK: &str = "__herald_tick";

/// Helpers a template may call: Handlebars' built-ins without `log`.
const HELPERS: &[&str] = &[
    "if", "unless", "each", "with", "lookup", "raw", "eq", "ne", "gt", "gte", "lt", "lte", "and",
    "or", "not", "len",
];

thread_local! {
    static BUDGET: Cell<u64> = const { Cell::new(0) };
}

fn charge(units: u64) -> Result<(), RenderError> {
    BUDGET.with(|left| {
        let now = left.get();
        if now < units {
            left.set(0);
            Err(RenderErrorReason::Other(format!(
                "the template does too much work (more than {WORK_BUDGET} steps): reduce nested loops"
            ))
            .into())
        } else {
            left.set(now - units);
            Ok(())
        }
    })
}

fn tick(
    h: &Helper<'_>,
    _: &Handlebars<'_>,
    _: &Context,
    _: &mut RenderContext<'_, '_>,
    _: &mut dyn Output,
) -> HelperResult {
    let units = h.param(0).and_then(|p| p.value().as_u64()).unwrap_or(1);
    charge(units)
}

fn engine(escape: bool) -> Handlebars<'static> {
    let mut hb = Handlebars::new();
    hb.set_strict_mode(false);
    hb.unregister_helper("log");
    hb.register_helper(TICK, Box::new(tick));
    if !escape {
        hb.register_escape_fn(handlebars::no_escape);
    }
    hb
}

fn html_engine() -> &'static Handlebars<'static> {
    static ENGINE: OnceLock<Handlebars<'static>> = OnceLock::new();
    ENGINE.get_or_init(|| engine(true))
}

fn plain_engine() -> &'static Handlebars<'static> {
    static ENGINE: OnceLock<Handlebars<'static>> = OnceLock::new();
    ENGINE.get_or_init(|| engine(false))
}

/// A template that passed the checks, with its work ticks in place.
#[derive(Debug)]
pub struct Checked {
    template: Template,
    /// What the top level costs before any block runs.
    top_cost: u64,
}

/// Measures nesting lexically, before the parser sees the source: `{{#…}}` opens a
/// level, `{{/…}}` closes one, and parentheses inside a mustache nest sub-expressions.
fn lexical_depth(source: &str) -> Result<(), String> {
    let bytes = source.as_bytes();
    let (mut blocks, mut i) = (0usize, 0usize);
    while i + 1 < bytes.len() {
        if bytes[i] != b'{' || bytes[i + 1] != b'{' {
            i += 1;
            continue;
        }
        let mut j = i + 2;
        while j < bytes.len() && matches!(bytes[j], b'{' | b'~' | b' ') {
            j += 1;
        }
        match bytes.get(j) {
            Some(b'#') => blocks += 1,
            Some(b'/') => blocks = blocks.saturating_sub(1),
            _ => {}
        }
        if blocks > MAX_DEPTH {
            return Err(format!("blocks are nested more than {MAX_DEPTH} deep"));
        }
        let mut parens = 0usize;
        while j + 1 < bytes.len() && !(bytes[j] == b'}' && bytes[j + 1] == b'}') {
            match bytes[j] {
                b'(' => parens += 1,
                b')' => parens = parens.saturating_sub(1),
                _ => {}
            }
            if parens > MAX_DEPTH {
                return Err(format!(
                    "sub-expressions are nested more than {MAX_DEPTH} deep"
                ));
            }
            j += 1;
        }
        i = j;
    }
    Ok(())
}

fn helper_allowed(name: &str) -> Result<(), String> {
    if HELPERS.contains(&name) {
        Ok(())
    } else {
        Err(format!(
            "unknown helper '{name}' (available: {})",
            HELPERS.join(", ")
        ))
    }
}

fn check_params<'a>(
    params: impl Iterator<Item = &'a Parameter>,
    depth: usize,
) -> Result<(), String> {
    for p in params {
        if let Parameter::Subexpression(sub) = p {
            check_element(sub.as_element(), depth + 1)?;
        }
    }
    Ok(())
}

fn check_element(element: &TemplateElement, depth: usize) -> Result<(), String> {
    if depth > MAX_DEPTH {
        return Err(format!("the template is nested more than {MAX_DEPTH} deep"));
    }
    match element {
        TemplateElement::RawString(_) | TemplateElement::Comment(_) => Ok(()),
        TemplateElement::Expression(h) | TemplateElement::HtmlExpression(h) => {
            let name = h.name.as_name().unwrap_or("");
            if name == TICK {
                return Err(format!("'{TICK}' is reserved"));
            }
            if !h.params.is_empty() || !h.hash.is_empty() {
                helper_allowed(name)?;
            }
            check_params(h.params.iter().chain(h.hash.values()), depth)
        }
        TemplateElement::HelperBlock(h) => {
            helper_allowed(h.name.as_name().unwrap_or(""))?;
            check_params(h.params.iter().chain(h.hash.values()), depth)?;
            for body in [&h.template, &h.inverse].into_iter().flatten() {
                for e in &body.elements {
                    check_element(e, depth + 1)?;
                }
            }
            Ok(())
        }
        TemplateElement::PartialExpression(_) | TemplateElement::PartialBlock(_) => {
            Err("partials ({{> …}}) are not available in Herald templates".into())
        }
        TemplateElement::DecoratorExpression(_) | TemplateElement::DecoratorBlock(_) => Err(
            "decorators and inline partials ({{#* …}}) are not available in Herald templates"
                .into(),
        ),
        _ => Err("the template uses a construct Herald does not support".into()),
    }
}

fn tick_element(units: usize) -> TemplateElement {
    static TICK_TEMPLATE: OnceLock<Template> = OnceLock::new();
    let base = TICK_TEMPLATE.get_or_init(|| {
        Template::compile(&format!("{{{{{TICK} 1}}}}")).expect("the tick template compiles")
    });
    let mut element = base.elements[0].clone();
    if let TemplateElement::Expression(h) = &mut element {
        h.params = vec![Parameter::Literal(Value::from(units.max(1) as u64))];
    }
    element
}

/// Puts a tick charging each block body's element count at the start of that body.
fn instrument(template: &mut Template) {
    for element in &mut template.elements {
        if let TemplateElement::HelperBlock(h) = element {
            for body in [&mut h.template, &mut h.inverse].into_iter().flatten() {
                instrument(body);
                let cost = body.elements.len();
                body.elements.insert(0, tick_element(cost));
                // Keep error positions aligned with the elements they describe.
                if let Some(at) = body.mapping.first().cloned() {
                    body.mapping.insert(0, at);
                }
            }
        }
    }
}

/// Checks a template source against the limits and prepares it for rendering.
pub fn check(source: &str) -> Result<Checked, String> {
    lexical_depth(source)?;
    let mut template = Template::compile(source).map_err(|e| e.to_string())?;
    for e in &template.elements {
        check_element(e, 0)?;
    }
    instrument(&mut template);
    let top_cost = template.elements.len() as u64;
    Ok(Checked { template, top_cost })
}

/// Output that refuses to grow past [`MAX_OUTPUT`].
struct BoundedOutput {
    buf: String,
}

impl Output for BoundedOutput {
    fn write(&mut self, seg: &str) -> Result<(), io::Error> {
        if self.buf.len() + seg.len() > MAX_OUTPUT {
            return Err(io::Error::other(format!(
                "the rendered template is larger than {} KiB",
                MAX_OUTPUT / 1024
            )));
        }
        self.buf.push_str(seg);
        Ok(())
    }
}

/// Renders a checked template; `escape` chooses HTML escaping of values.
pub fn render(checked: &Checked, data: &Value, escape: bool) -> Result<String, String> {
    let registry = if escape {
        html_engine()
    } else {
        plain_engine()
    };
    let context = Context::wraps(data).map_err(|e| e.to_string())?;
    BUDGET.with(|b| b.set(WORK_BUDGET));
    let mut out = BoundedOutput { buf: String::new() };
    let result = charge(checked.top_cost).and_then(|()| {
        let mut rc = RenderContext::new(None);
        checked
            .template
            .render(registry, &context, &mut rc, &mut out)
    });
    result.map_err(|e| e.to_string())?;
    Ok(out.buf)
}

/// Checks and renders in one go.
pub fn render_source(source: &str, data: &Value, escape: bool) -> Result<String, String> {
    render(&check(source)?, data, escape)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn render(source: &str, data: &Value) -> Result<String, String> {
        render_source(source, data, true)
    }

    #[test]
    fn ordinary_templates_render_as_handlebars_does() {
        let data = json!({"name": "Ada <3", "items": [1, 2, 3], "m": {"a": 1, "b": 2}});
        assert_eq!(render("Hi {{name}}", &data).unwrap(), "Hi Ada &lt;3");
        assert_eq!(
            render(
                "{{#each items}}{{@index}}:{{this}}{{#unless @last}},{{/unless}}{{/each}}",
                &data
            )
            .unwrap(),
            "0:1,1:2,2:3"
        );
        assert_eq!(
            render("{{#each m}}{{@key}}={{this}};{{/each}}", &data).unwrap(),
            "a=1;b=2;"
        );
        assert_eq!(
            render("{{#if (eq name \"x\")}}y{{else}}n{{/if}}", &data).unwrap(),
            "n"
        );
        assert_eq!(
            render("{{#each none}}x{{else}}empty{{/each}}", &data).unwrap(),
            "empty"
        );
    }

    #[test]
    fn recursive_inline_partials_are_refused_not_run() {
        let err = check("{{#*inline \"a\"}}x{{> a}}{{/inline}}{{> a}}")
            .err()
            .unwrap();
        assert!(err.contains("not available"), "{err}");
        assert!(check("{{> other}}").is_err());
    }

    #[test]
    fn log_and_unknown_helpers_are_refused() {
        assert!(
            check("{{log \"boom\"}}")
                .unwrap_err()
                .contains("unknown helper 'log'")
        );
        assert!(check("{{#nope x}}{{/nope}}").is_err());
        assert!(check("{{__herald_tick 1}}").is_err());
    }

    #[test]
    fn deep_nesting_is_refused_before_parsing() {
        let deep = "{{#if a}}".repeat(10_000) + &"{{/if}}".repeat(10_000);
        assert!(check(&deep).unwrap_err().contains("nested"));
        let parens = format!(
            "{{{{eq {}a{} 1}}}}",
            "(not ".repeat(5_000),
            ")".repeat(5_000)
        );
        assert!(check(&parens).unwrap_err().contains("nested"));
    }

    #[test]
    fn nested_loops_stop_at_the_work_budget() {
        let fields: serde_json::Map<String, Value> =
            (0..10).map(|i| (format!("f{i}"), json!(i))).collect();
        let data = json!({"contact": fields});
        let mut source = String::new();
        for _ in 0..9 {
            source.push_str("{{#each @root.contact}}");
        }
        for _ in 0..9 {
            source.push_str("{{/each}}");
        }
        let err = render(&source, &data).unwrap_err();
        assert!(err.contains("too much work"), "{err}");
    }

    #[test]
    fn output_stops_at_the_size_limit() {
        let items: Vec<Value> = (0..200).map(|i| json!(format!("item-{i}"))).collect();
        let data = json!({"event": {"items": items}});
        let source = "{{#each event.items}}{{#each @root.event.items}}{{#each @root.event.items}}{{this}}{{/each}}{{/each}}{{/each}}";
        let err = render(source, &data).unwrap_err();
        assert!(
            err.contains("larger than") || err.contains("too much work"),
            "{err}"
        );
    }
}

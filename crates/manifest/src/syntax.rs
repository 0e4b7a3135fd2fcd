//! The parsed tree planform lowers: blocks and attributes with their source locations, read
//! from hcl-edit (which keeps spans) with expressions converted to hcl-rs for evaluation.

use hcl::edit::structure::{Body, Structure};
use hcl::edit::Span;
use hcl::Expression;
use planform_model::SourceLocation;

use crate::diagnostic::{Diagnostic, Diagnostics, Severity, SourceFile};

#[derive(Debug, Clone)]
pub struct AttrNode {
    pub name: String,
    pub expr: Expression,
    /// Where the attribute's name is.
    pub loc: SourceLocation,
    /// Where its value starts.
    pub value_loc: SourceLocation,
    /// The value's source text.
    pub value_text: String,
    /// Where the value's parts are: a diagnostic points at the part that fails.
    pub places: Places,
}

/// Where an expression starts, and where its parts do: the values of an object, the items of a
/// list, the arguments of a function call (in source order), the inside of parentheses. Other
/// expressions have no parts.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Places {
    pub at: SourceLocation,
    pub parts: Vec<Places>,
}

impl Places {
    fn of(expr: &hcl::edit::expr::Expression, file: &SourceFile) -> Places {
        use hcl::edit::expr::Expression as E;
        let parts = match expr {
            E::Array(items) => items.iter().map(|e| Places::of(e, file)).collect(),
            E::Object(o) => o.iter().map(|(_, v)| Places::of(v.expr(), file)).collect(),
            E::FuncCall(f) => f.args.iter().map(|e| Places::of(e, file)).collect(),
            E::Parenthesis(p) => vec![Places::of(p.inner(), file)],
            _ => Vec::new(),
        };
        Places {
            at: file.location_of(expr.span()),
            parts,
        }
    }
}

impl AttrNode {
    /// Where `needle` first appears in the value's source text (the value's start when it does
    /// not): points a diagnostic at the offending expression inside an object or list.
    pub fn location_of(&self, needle: &str) -> SourceLocation {
        let Some(offset) = self.value_text.find(needle).filter(|_| !needle.is_empty()) else {
            return self.value_loc.clone();
        };
        let before = &self.value_text[..offset];
        let mut loc = self.value_loc.clone();
        match before.rfind('\n') {
            Some(nl) => {
                loc.line += before.matches('\n').count();
                loc.col = before[nl + 1..].chars().count() + 1;
            }
            None => loc.col += before.chars().count(),
        }
        loc
    }
}

#[derive(Debug, Clone)]
pub struct BlockNode {
    pub kind: String,
    pub labels: Vec<String>,
    pub loc: SourceLocation,
    pub attrs: Vec<AttrNode>,
    pub blocks: Vec<BlockNode>,
}

impl BlockNode {
    pub fn attr(&self, name: &str) -> Option<&AttrNode> {
        self.attrs.iter().find(|a| a.name == name)
    }

    pub fn blocks_of<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a BlockNode> + 'a {
        self.blocks.iter().filter(move |b| b.kind == kind)
    }
}

pub fn error(
    loc: &SourceLocation,
    subject: Option<String>,
    message: impl Into<String>,
) -> Diagnostic {
    Diagnostic {
        severity: Severity::Error,
        location: loc.clone(),
        subject,
        message: message.into(),
        anchor: loc.clone(),
    }
}

/// Parses one file into a synthetic root block, or records the syntax error.
pub fn parse_file(file: &SourceFile, diags: &mut Diagnostics) -> Option<BlockNode> {
    match hcl::edit::parser::parse_body(&file.text) {
        Ok(body) => {
            let (attrs, blocks) = lower_body(&body, file, diags);
            Some(BlockNode {
                kind: String::new(),
                labels: vec![],
                loc: file.location(0),
                attrs,
                blocks,
            })
        }
        Err(e) => {
            let loc = e.location();
            diags.push(error(
                &SourceLocation {
                    file: file.name.clone(),
                    line: loc.line(),
                    col: loc.column(),
                },
                None,
                format!("syntax error: {}", e.message()),
            ));
            None
        }
    }
}

fn lower_body(
    body: &Body,
    file: &SourceFile,
    diags: &mut Diagnostics,
) -> (Vec<AttrNode>, Vec<BlockNode>) {
    let mut attrs: Vec<AttrNode> = Vec::new();
    let mut blocks = Vec::new();
    for structure in body.iter() {
        match structure {
            Structure::Attribute(a) => {
                let node = AttrNode {
                    name: a.key.as_str().to_string(),
                    expr: crate::functions::pre_parse_templates(a.value.clone().into()),
                    loc: file.location_of(a.key.span()),
                    value_loc: file.location_of(a.value.span()),
                    value_text: a
                        .value
                        .span()
                        .and_then(|r| file.text.get(r))
                        .unwrap_or_default()
                        .to_string(),
                    places: Places::of(&a.value, file),
                };
                if let Some(first) = attrs.iter().find(|x| x.name == node.name) {
                    diags.push(error(
                        &node.loc,
                        None,
                        format!(
                            "attribute {:?} is set twice (first at {})",
                            node.name, first.loc
                        ),
                    ));
                    continue;
                }
                attrs.push(node);
            }
            Structure::Block(b) => {
                let (a, bl) = lower_body(&b.body, file, diags);
                blocks.push(BlockNode {
                    kind: b.ident.as_str().to_string(),
                    labels: b.labels.iter().map(|l| l.as_str().to_string()).collect(),
                    loc: file.location_of(b.ident.span()),
                    attrs: a,
                    blocks: bl,
                });
            }
        }
    }
    (attrs, blocks)
}

/// The closest of `candidates` to `name`, if close enough to suggest.
pub fn did_you_mean<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(name, c), c))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

pub fn hint(name: &str, candidates: &[&str]) -> String {
    match did_you_mean(name, candidates.iter().copied()) {
        Some(c) => format!("; did you mean {c:?}?"),
        None => String::new(),
    }
}

/// Reports attributes and blocks that `node` may not hold, with "did you mean" hints.
pub fn check_schema(
    node: &BlockNode,
    what: &str,
    attrs: &[&str],
    blocks: &[&str],
    diags: &mut Diagnostics,
) {
    for a in &node.attrs {
        if !attrs.contains(&a.name.as_str()) {
            let extra = if blocks.contains(&a.name.as_str()) {
                format!("; {} is a block: write `{} {{ … }}`", a.name, a.name)
            } else {
                hint(&a.name, attrs)
            };
            diags.push(error(
                &a.loc,
                None,
                format!("unknown attribute {:?} in {what}{extra}", a.name),
            ));
        }
    }
    for b in &node.blocks {
        if !blocks.contains(&b.kind.as_str()) {
            let extra = if attrs.contains(&b.kind.as_str()) {
                format!("; {} is an attribute: write `{} = …`", b.kind, b.kind)
            } else {
                hint(&b.kind, blocks)
            };
            diags.push(error(
                &b.loc,
                None,
                format!("unknown block {:?} in {what}{extra}", b.kind),
            ));
        }
    }
}

//! Finds the references (`var.x`, `local.y`, `plan.app["web"].outputs.vpc_id`) an expression
//! makes, templates included, without evaluating it.

use hcl::expr::{Operation, TraversalOperator};
use hcl::template::{Directive, Element, Template};
use hcl::{Expression, ObjectKey, Value};

/// One step after the root of a traversal.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    Attr(String),
    /// An index whose key is a literal (`["web"]`, `[0]`); `None` when it is computed.
    Index(Option<Value>),
    Splat,
}

/// A traversal from a root variable: `plan.app["web"].id` is root `plan` and three steps.
#[derive(Debug, Clone, PartialEq)]
pub struct Reference {
    pub root: String,
    pub steps: Vec<Step>,
}

impl Reference {
    /// The first attribute after the root: `x` in `var.x`.
    pub fn first_attr(&self) -> Option<&str> {
        match self.steps.first() {
            Some(Step::Attr(a)) => Some(a),
            Some(Step::Index(Some(Value::String(s)))) => Some(s),
            _ => None,
        }
    }
}

/// Every reference `expr` makes, in source order.
pub fn references(expr: &Expression) -> Vec<Reference> {
    let mut out = Found::default();
    walk(expr, &mut out);
    out.refs
}

/// The names of the functions `expr` calls, in source order.
pub fn function_calls(expr: &Expression) -> Vec<String> {
    let mut out = Found::default();
    walk(expr, &mut out);
    out.calls
}

/// What a walk over an expression finds.
#[derive(Default)]
struct Found {
    refs: Vec<Reference>,
    calls: Vec<String>,
}

impl Found {
    /// Takes what an inner scope found, leaving out references to the names it binds.
    fn take_scoped(&mut self, inner: Found, bound: &[String]) {
        self.refs
            .extend(inner.refs.into_iter().filter(|r| !bound.contains(&r.root)));
        self.calls.extend(inner.calls);
    }
}

fn literal(expr: &Expression) -> Option<Value> {
    match expr {
        Expression::String(s) => Some(Value::String(s.clone())),
        Expression::Number(n) => Some(Value::Number(*n)),
        Expression::TemplateExpr(t) => {
            let tpl = Template::from_expr(t).ok()?;
            match tpl.elements() {
                [Element::Literal(s)] => Some(Value::String(s.clone())),
                [] => Some(Value::String(String::new())),
                _ => None,
            }
        }
        _ => None,
    }
}

fn walk(expr: &Expression, out: &mut Found) {
    match expr {
        Expression::Null | Expression::Bool(_) | Expression::Number(_) | Expression::String(_) => {}
        Expression::Array(items) => items.iter().for_each(|e| walk(e, out)),
        Expression::Object(o) => {
            for (k, v) in o {
                if let ObjectKey::Expression(k) = k {
                    walk(k, out);
                }
                walk(v, out);
            }
        }
        Expression::TemplateExpr(t) => {
            if let Ok(tpl) = Template::from_expr(t) {
                walk_template(&tpl, out);
            }
        }
        Expression::Variable(v) => out.refs.push(Reference {
            root: v.to_string(),
            steps: vec![],
        }),
        Expression::Traversal(t) => {
            let mut steps = Vec::new();
            for op in &t.operators {
                match op {
                    TraversalOperator::GetAttr(a) => steps.push(Step::Attr(a.to_string())),
                    TraversalOperator::Index(e) => {
                        walk(e, out);
                        steps.push(Step::Index(literal(e)));
                    }
                    TraversalOperator::LegacyIndex(i) => {
                        steps.push(Step::Index(Some(Value::from(*i))))
                    }
                    TraversalOperator::AttrSplat | TraversalOperator::FullSplat => {
                        steps.push(Step::Splat)
                    }
                }
            }
            match &t.expr {
                Expression::Variable(v) => out.refs.push(Reference {
                    root: v.to_string(),
                    steps,
                }),
                other => walk(other, out),
            }
        }
        Expression::FuncCall(f) => {
            out.calls.push(f.name.to_string());
            f.args.iter().for_each(|e| walk(e, out))
        }
        Expression::Parenthesis(e) => walk(e, out),
        Expression::Conditional(c) => {
            walk(&c.cond_expr, out);
            walk(&c.true_expr, out);
            walk(&c.false_expr, out);
        }
        Expression::Operation(op) => match op.as_ref() {
            Operation::Unary(u) => walk(&u.expr, out),
            Operation::Binary(b) => {
                walk(&b.lhs_expr, out);
                walk(&b.rhs_expr, out);
            }
        },
        Expression::ForExpr(f) => {
            walk(&f.collection_expr, out);
            let bound: Vec<String> = f
                .key_var
                .iter()
                .chain(std::iter::once(&f.value_var))
                .map(|i| i.to_string())
                .collect();
            let mut inner = Found::default();
            if let Some(k) = &f.key_expr {
                walk(k, &mut inner);
            }
            walk(&f.value_expr, &mut inner);
            if let Some(c) = &f.cond_expr {
                walk(c, &mut inner);
            }
            out.take_scoped(inner, &bound);
        }
        _ => {}
    }
}

fn walk_template(tpl: &Template, out: &mut Found) {
    for el in tpl.elements() {
        match el {
            Element::Literal(_) => {}
            Element::Interpolation(i) => walk(&i.expr, out),
            Element::Directive(d) => match d.as_ref() {
                Directive::If(d) => {
                    walk(&d.cond_expr, out);
                    walk_template(&d.true_template, out);
                    if let Some(f) = &d.false_template {
                        walk_template(f, out);
                    }
                }
                Directive::For(d) => {
                    walk(&d.collection_expr, out);
                    let bound: Vec<String> = d
                        .key_var
                        .iter()
                        .chain(std::iter::once(&d.value_var))
                        .map(|i| i.to_string())
                        .collect();
                    let mut inner = Found::default();
                    walk_template(&d.template, &mut inner);
                    out.take_scoped(inner, &bound);
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roots(src: &str) -> Vec<String> {
        let e: Expression = src.parse().unwrap();
        references(&e)
            .into_iter()
            .map(|r| {
                let mut s = r.root.clone();
                for st in r.steps {
                    match st {
                        Step::Attr(a) => s += &format!(".{a}"),
                        Step::Index(Some(v)) => {
                            s += &format!("[{}]", crate::functions::hcl_json(&v))
                        }
                        Step::Index(None) => s += "[?]",
                        Step::Splat => s += "[*]",
                    }
                }
                s
            })
            .collect()
    }

    #[test]
    fn finds_references_everywhere() {
        assert_eq!(roots(r#""vpc-${var.env}""#), ["var.env"]);
        assert_eq!(
            roots(r#"plan.app["web"].outputs.vpc_id"#),
            [r#"plan.app["web"].outputs.vpc_id"#]
        );
        assert_eq!(
            roots(r#"merge(local.tags, { a = each.key })"#),
            ["local.tags", "each.key"]
        );
        assert_eq!(
            roots(r#"[for k, v in var.m : "${k}=${v}" if v != local.x]"#),
            ["var.m", "local.x"]
        );
        assert_eq!(
            roots(r#"var.on ? plan.a[each.key].id : "%{ if var.b }x%{ endif }""#),
            ["var.on", "each.key", "plan.a[?].id", "var.b"]
        );
    }
}

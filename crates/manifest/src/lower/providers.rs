//! Providers: `provider` blocks (kind, alias, region, endpoint, retries, rate, timeout), the
//! default provider a plan gets when it names none, and resolving a plan's `provider = …`.

use std::collections::BTreeMap;

use hcl::Expression;
use planform_model::{DesiredState, ProviderConfig, ProviderKind, ProviderRef, SourceLocation};

use super::eval::{as_string, eval, parse_duration, typed};
use super::plans::PlanBlock;
use super::{single_label, valid_identifier, Lowering};
use crate::diagnostic::Diagnostics;
use crate::syntax::{check_schema, error, hint, BlockNode};
use crate::types::as_count;

const PROVIDER_ATTRS: &[&str] = &[
    "alias",
    "region",
    "endpoint",
    "profile",
    "max_retries",
    "requests_per_second",
    "timeout",
];

/// Lowers every `provider` block into a provider configuration of the desired state.
pub(super) fn lower(cx: &mut Lowering, blocks: &[&BlockNode]) {
    let Lowering {
        diags,
        desired,
        ctx,
        ..
    } = cx;
    let mut seen: BTreeMap<ProviderRef, SourceLocation> = BTreeMap::new();
    for b in blocks {
        let Some(label) = single_label(b, "provider", diags) else {
            continue;
        };
        let Some(kind) = ProviderKind::parse(&label) else {
            diags.push(error(
                &b.loc,
                None,
                format!(
                    "unknown provider type {label:?}; supported: alibaba, aws, sandbox{}",
                    hint(&label, &["alibaba", "aws", "sandbox"])
                ),
            ));
            continue;
        };
        check_schema(
            b,
            &format!("provider {label:?}"),
            PROVIDER_ATTRS,
            &[],
            diags,
        );
        let subject = |n: &str| format!("provider.{label}.{n}");
        let string = |n: &str, diags: &mut Diagnostics| {
            b.attr(n).and_then(|a| {
                typed(
                    eval(a, ctx, &subject(n), diags),
                    &a.value_loc,
                    &subject(n),
                    "a string",
                    as_string,
                    diags,
                )
            })
        };
        let alias = string("alias", diags);
        if let Some(a) = &alias {
            if !valid_identifier(a) {
                diags.push(error(
                    &b.attr("alias").unwrap().value_loc,
                    Some(subject("alias")),
                    format!(
                        "{a:?} must start with a letter and hold only letters, digits, _ and -"
                    ),
                ));
            }
        }
        let reference = ProviderRef { kind, alias };
        if let Some(first) = seen.get(&reference) {
            diags.push(error(&b.loc, None, format!("duplicate provider configuration {reference} (first at {first}); give one an alias")));
            continue;
        }
        seen.insert(reference.clone(), b.loc.clone());
        let mut cfg = ProviderConfig::new(reference);
        cfg.region = string("region", diags);
        cfg.profile = string("profile", diags);
        cfg.endpoint = string("endpoint", diags);
        if let (Some(e), Some(a)) = (&cfg.endpoint, b.attr("endpoint")) {
            if !(e.starts_with("http://") || e.starts_with("https://")) {
                diags.push(error(
                    &a.value_loc,
                    Some(subject("endpoint")),
                    format!("{e:?} must be a URL starting with http:// or https://"),
                ));
            }
        }
        if let Some(a) = b.attr("max_retries") {
            let v = eval(a, ctx, &subject("max_retries"), diags);
            cfg.max_retries = typed(
                v,
                &a.value_loc,
                &subject("max_retries"),
                "a whole number from 0 to 20",
                |v| as_count(v).filter(|n| *n <= 20).map(|n| n as u32),
                diags,
            );
        }
        if let Some(a) = b.attr("requests_per_second") {
            let v = eval(a, ctx, &subject("requests_per_second"), diags);
            cfg.requests_per_second = typed(
                v,
                &a.value_loc,
                &subject("requests_per_second"),
                "a number above 0",
                |v| v.as_f64().filter(|f| *f > 0.0),
                diags,
            );
        }
        if let Some(a) = b.attr("timeout") {
            let v = eval(a, ctx, &subject("timeout"), diags);
            cfg.timeout = typed(
                v,
                &a.value_loc,
                &subject("timeout"),
                "a duration such as \"30s\" or \"2m\"",
                |v| v.as_str().and_then(parse_duration),
                diags,
            );
        }
        if kind == ProviderKind::Sandbox {
            for n in ["profile"] {
                if let Some(a) = b.attr(n) {
                    diags.push(error(
                        &a.loc,
                        Some(subject(n)),
                        "the sandbox provider takes no credentials",
                    ));
                }
            }
        }
        desired.providers.insert(cfg.reference.clone(), cfg);
    }
}

/// The provider a plan without `provider = …` uses: the only unaliased configuration, or the
/// sandbox when there is no configuration at all.
pub(super) fn default_provider(desired: &DesiredState) -> Option<ProviderRef> {
    let unaliased: Vec<&ProviderRef> = desired
        .providers
        .keys()
        .filter(|r| r.alias.is_none())
        .collect();
    match unaliased.as_slice() {
        [] if desired.providers.is_empty() => Some(ProviderRef::default_for(ProviderKind::Sandbox)),
        [one] => Some((*one).clone()),
        _ => None,
    }
}

/// The provider configuration a plan names, or the default one; a diagnostic when there is none.
pub(super) fn resolve_provider(
    p: &PlanBlock,
    desired: &DesiredState,
    default: Option<&ProviderRef>,
    diags: &mut Diagnostics,
) -> Option<ProviderRef> {
    let subject = format!("plan.{}.provider", p.name);
    match p.node.attr("provider") {
        Some(a) => {
            let text = match &a.expr {
                Expression::Variable(v) => Some(v.as_str().to_string()),
                Expression::Traversal(t) => match (&t.expr, t.operators.as_slice()) {
                    (Expression::Variable(v), [hcl::expr::TraversalOperator::GetAttr(alias)]) => {
                        Some(format!("{}.{alias}", v.as_str()))
                    }
                    _ => None,
                },
                _ => None,
            };
            let Some(text) = text else {
                diags.push(error(
                    &a.value_loc,
                    Some(subject),
                    "must be a provider reference such as sandbox or aws.us (not a string)",
                ));
                return None;
            };
            let Some(r) = ProviderRef::parse(&text) else {
                diags.push(error(
                    &a.value_loc,
                    Some(subject),
                    format!(
                        "unknown provider type in {text:?}; supported: alibaba, aws, sandbox{}",
                        hint(
                            text.split('.').next().unwrap_or(""),
                            &["alibaba", "aws", "sandbox"]
                        )
                    ),
                ));
                return None;
            };
            if desired.providers.contains_key(&r)
                || (r == ProviderRef::default_for(ProviderKind::Sandbox))
            {
                Some(r)
            } else {
                let known: Vec<String> = desired.providers.keys().map(|r| r.to_string()).collect();
                diags.push(error(
                    &a.value_loc,
                    Some(subject),
                    format!(
                        "no provider configuration {r} is declared{}",
                        hint(
                            &r.to_string(),
                            &known.iter().map(String::as_str).collect::<Vec<_>>()
                        )
                    ),
                ));
                None
            }
        }
        None => match default {
            Some(d) => Some(d.clone()),
            None => {
                let known: Vec<String> = desired.providers.keys().map(|r| r.to_string()).collect();
                diags.push(error(
                    &p.node.loc,
                    Some(format!("plan.{}", p.name)),
                    format!(
                        "set provider = one of {}: no single default provider configuration",
                        known.join(", ")
                    ),
                ));
                None
            }
        },
    }
}

#[cfg(test)]
mod tests;

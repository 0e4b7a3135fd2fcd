//! Variable type constraints (`string`, `list(string)`, `object({...})`, …) and Terraform-style
//! conversion of values to them.

use std::fmt;

use hcl::{Expression, Map, Number, ObjectKey, Value};

use crate::functions::{parse_number, primitive_to_string, type_name};

#[derive(Debug, Clone, PartialEq)]
pub enum Type {
    Any,
    String,
    Number,
    Bool,
    List(Box<Type>),
    Set(Box<Type>),
    Map(Box<Type>),
    Object(Vec<(String, Type)>),
    Tuple(Vec<Type>),
}

impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Type::Any => f.write_str("any"),
            Type::String => f.write_str("string"),
            Type::Number => f.write_str("number"),
            Type::Bool => f.write_str("bool"),
            Type::List(t) => write!(f, "list({t})"),
            Type::Set(t) => write!(f, "set({t})"),
            Type::Map(t) => write!(f, "map({t})"),
            Type::Object(fields) => {
                f.write_str("object({")?;
                for (i, (k, t)) in fields.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{k} = {t}")?;
                }
                f.write_str("})")
            }
            Type::Tuple(items) => {
                f.write_str("tuple([")?;
                for (i, t) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{t}")?;
                }
                f.write_str("])")
            }
        }
    }
}

/// Reads a type expression such as `map(string)`.
pub fn parse_type(expr: &Expression) -> Result<Type, String> {
    match expr {
        Expression::Variable(v) => match v.as_str() {
            "any" => Ok(Type::Any),
            "string" => Ok(Type::String),
            "number" => Ok(Type::Number),
            "bool" => Ok(Type::Bool),
            other => Err(format!("unknown type {other:?}; expected string, number, bool, any, list(T), set(T), map(T), object({{…}}) or tuple([…])")),
        },
        Expression::FuncCall(call) => {
            let name = call.name.to_string();
            let one = |args: &[Expression]| -> Result<Type, String> {
                match args {
                    [t] => parse_type(t),
                    _ => Err(format!("{name}(…) takes exactly one element type")),
                }
            };
            match name.as_str() {
                "list" => Ok(Type::List(Box::new(one(&call.args)?))),
                "set" => Ok(Type::Set(Box::new(one(&call.args)?))),
                "map" => Ok(Type::Map(Box::new(one(&call.args)?))),
                "object" => match call.args.as_slice() {
                    [Expression::Object(o)] => {
                        let mut fields = Vec::new();
                        for (k, v) in o {
                            let key = match k {
                                ObjectKey::Identifier(i) => i.to_string(),
                                ObjectKey::Expression(Expression::String(s)) => s.clone(),
                                _ => return Err("object type attribute names must be identifiers".into()),
                            };
                            fields.push((key, parse_type(v)?));
                        }
                        Ok(Type::Object(fields))
                    }
                    _ => Err("object(…) takes one object of attribute types".into()),
                },
                "tuple" => match call.args.as_slice() {
                    [Expression::Array(items)] => Ok(Type::Tuple(items.iter().map(parse_type).collect::<Result<_, _>>()?)),
                    _ => Err("tuple(…) takes one list of element types".into()),
                },
                other => Err(format!("unknown type constructor {other:?}")),
            }
        }
        _ => Err("a type constraint must be a type keyword such as string or a constructor such as list(string)".into()),
    }
}

/// Converts `value` to `ty` the way Terraform does (numbers and bools become strings where a
/// string is wanted, numeric strings become numbers, …), or says why it cannot.
pub fn convert(value: &Value, ty: &Type) -> Result<Value, String> {
    if value.is_null() {
        return Ok(Value::Null);
    }
    match (ty, value) {
        (Type::Any, v) => Ok(v.clone()),
        (Type::String, v) => primitive_to_string(v)
            .map(Value::String)
            .ok_or_else(|| format!("a string is required, got a {}", type_name(v))),
        (Type::Number, Value::Number(n)) => Ok(Value::Number(*n)),
        (Type::Number, Value::String(s)) => parse_number(s)
            .map(Value::Number)
            .ok_or_else(|| format!("a number is required, got {s:?}")),
        (Type::Bool, Value::Bool(b)) => Ok(Value::Bool(*b)),
        (Type::Bool, Value::String(s)) if s == "true" || s == "false" => {
            Ok(Value::Bool(s == "true"))
        }
        (Type::List(t) | Type::Set(t), Value::Array(items)) => {
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                let v = convert(item, t).map_err(|e| format!("element {i}: {e}"))?;
                if matches!(ty, Type::Set(_)) && out.contains(&v) {
                    continue;
                }
                out.push(v);
            }
            Ok(Value::Array(out))
        }
        (Type::Map(t), Value::Object(o)) => {
            let mut out = Map::new();
            for (k, v) in o {
                out.insert(
                    k.clone(),
                    convert(v, t).map_err(|e| format!("key {k:?}: {e}"))?,
                );
            }
            Ok(Value::Object(out))
        }
        (Type::Object(fields), Value::Object(o)) => {
            let mut out = Map::new();
            for (k, t) in fields {
                match o.get(k) {
                    Some(v) => {
                        out.insert(
                            k.clone(),
                            convert(v, t).map_err(|e| format!("attribute {k:?}: {e}"))?,
                        );
                    }
                    None => return Err(format!("attribute {k:?} is required")),
                }
            }
            if let Some(extra) = o.keys().find(|k| !fields.iter().any(|(f, _)| f == *k)) {
                return Err(format!("unexpected attribute {extra:?}"));
            }
            Ok(Value::Object(out))
        }
        (Type::Tuple(types), Value::Array(items)) => {
            if types.len() != items.len() {
                return Err(format!(
                    "a tuple of {} elements is required, got {}",
                    types.len(),
                    items.len()
                ));
            }
            items
                .iter()
                .zip(types)
                .enumerate()
                .map(|(i, (v, t))| convert(v, t).map_err(|e| format!("element {i}: {e}")))
                .collect::<Result<_, _>>()
                .map(Value::Array)
        }
        (ty, v) => Err(format!("a {ty} is required, got a {}", type_name(v))),
    }
}

/// A number as a count: a whole, non-negative number.
pub fn as_count(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64().or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && *f >= 0.0)
                .map(|f| f as u64)
        }),
        Value::String(s) => parse_number(s).and_then(|n: Number| n.as_u64()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ty(s: &str) -> Type {
        parse_type(&s.parse().unwrap()).unwrap()
    }

    fn val(s: &str) -> Value {
        use hcl::eval::Evaluate;
        let e: Expression = s.parse().unwrap();
        e.evaluate(&hcl::eval::Context::new()).unwrap()
    }

    #[test]
    fn parses_and_prints_types() {
        for s in [
            "string",
            "list(string)",
            "map(number)",
            "object({a = string, b = list(bool)})",
            "tuple([string, number])",
            "set(any)",
        ] {
            assert_eq!(ty(s).to_string(), s);
        }
        assert!(parse_type(&"strng".parse().unwrap())
            .unwrap_err()
            .contains("unknown type"));
    }

    #[test]
    fn converts_like_terraform() {
        assert_eq!(
            convert(&val("5"), &ty("string")).unwrap(),
            Value::String("5".into())
        );
        assert_eq!(convert(&val("\"5\""), &ty("number")).unwrap(), val("5"));
        assert_eq!(
            convert(&val("[\"a\", \"a\"]"), &ty("set(string)")).unwrap(),
            val("[\"a\"]")
        );
        assert!(convert(&val("[1]"), &ty("string"))
            .unwrap_err()
            .contains("string is required"));
        assert!(
            convert(&val("{a = 1}"), &ty("object({a = number, b = string})"))
                .unwrap_err()
                .contains("\"b\" is required")
        );
        assert!(convert(&val("\"x\""), &ty("bool")).is_err());
    }
}

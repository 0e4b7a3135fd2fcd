//! planform's own limits on what manifests may make, so a hostile or mistaken manifest gets a
//! diagnostic instead of exhausting memory or time: file sizes, instances, value nesting and
//! string sizes. (The clouds' limits are in `limits.rs`.)

use hcl::Value;

/// The largest manifest or variable file read.
pub const MAX_FILE_BYTES: u64 = 4 * 1024 * 1024;
/// The most instances one `plan` block's `count` or `for_each` may make.
pub const MAX_INSTANCES_PER_BLOCK: u64 = 10_000;
/// The most plan instances of all blocks together.
pub const MAX_INSTANCES: u64 = 25_000;
/// The deepest nesting of lists and objects in a value (the parser allows 64 in source).
pub const MAX_DEPTH: usize = 64;
/// The longest string a value may hold.
pub const MAX_STRING_BYTES: usize = 2 * 1024 * 1024;

/// Why `v` is beyond the limits, if it is.
pub(super) fn check_value(v: &Value) -> Result<(), String> {
    fn walk(v: &Value, depth: usize) -> Result<(), String> {
        if depth > MAX_DEPTH {
            return Err(format!(
                "the value nests lists and objects more than {MAX_DEPTH} levels deep"
            ));
        }
        match v {
            Value::String(s) if s.len() > MAX_STRING_BYTES => Err(format!(
                "the value holds a string of {} KiB; at most {} KiB",
                s.len() / 1024,
                MAX_STRING_BYTES / 1024
            )),
            Value::Array(items) => items.iter().try_for_each(|i| walk(i, depth + 1)),
            Value::Object(o) => o.values().try_for_each(|i| walk(i, depth + 1)),
            _ => Ok(()),
        }
    }
    walk(v, 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_beyond_the_limits_are_refused() {
        let mut v = Value::from("x");
        for _ in 0..MAX_DEPTH {
            v = Value::Array(vec![v]);
        }
        assert!(check_value(&v).is_ok());
        let deeper = Value::Array(vec![v]);
        assert!(check_value(&deeper).unwrap_err().contains("64 levels"));
        let long = Value::from("a".repeat(MAX_STRING_BYTES + 1));
        assert!(check_value(&Value::Array(vec![long]))
            .unwrap_err()
            .contains("KiB"));
    }
}

#[cfg(test)]
mod manifest_tests {
    use super::*;
    use crate::lower::tests::lower_main;
    use crate::lower::Inputs;

    fn plan(name: &str, instances: &str) -> String {
        format!(
            "plan \"{name}\" {{\n  {instances}\n  name                     = \"{name}\"\n  product_id               = \"prod-sbxvpc0000001\"\n  product_version_id       = \"pv-sbxvpc0000001\"\n  provisioned_product_name = \"{name}\"\n}}\n"
        )
    }

    /// Issue 16 (7): `for_each` and `count` are bounded per block and in total, with a located
    /// diagnostic and no allocation of the instances.
    #[test]
    fn instances_are_bounded_per_block_and_in_total() {
        let keys: Vec<String> = (0..=MAX_INSTANCES_PER_BLOCK)
            .map(|i| format!("\"k{i}\""))
            .collect();
        let many = plan("many", &format!("for_each = toset([{}])", keys.join(", ")));
        let e = lower_main(&many, &Inputs::default())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("main.hcl:2:") && e.contains("makes 10001 instances"),
            "{e}"
        );

        let text = [
            plan("a", "count = 10000"),
            plan("b", "count = 10000"),
            plan("c", "count = 10000"),
        ]
        .concat();
        let e = lower_main(&text, &Inputs::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("more than 25000 plan instances"), "{e}");
        assert_eq!(e.matches("more than").count(), 1, "{e}");
    }
}

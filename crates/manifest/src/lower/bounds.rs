//! planform's own limits on what manifests may make, so a hostile or mistaken manifest gets a
//! diagnostic instead of exhausting memory or time: file sizes, instances, value nesting, string
//! sizes and value sizes, one by one and all together. (The clouds' limits are in `limits.rs`.)

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
/// The most parts (lists, objects, and the values in them) one value may have: room for a
/// `for_each` over [`MAX_INSTANCES_PER_BLOCK`] objects of a dozen attributes or more.
pub const MAX_VALUE_PARTS: usize = 200_000;
/// The most parts all the values of one load may have together (120 per instance at
/// [`MAX_INSTANCES`]): a manifest whose values grow faster than its text (each local a list of two copies of the one before doubles with every
/// line) is refused before it exhausts memory or time.
pub const MAX_EVALUATED_PARTS: usize = 3_000_000;
/// The most bytes of manifests and variable files one load reads, all files together.
pub const MAX_TOTAL_BYTES: u64 = 16 * 1024 * 1024;

/// How many parts `v` has (itself included), or why it is beyond the limits.
pub(super) fn check_value(v: &Value) -> Result<usize, String> {
    fn walk(v: &Value, depth: usize, parts: &mut usize) -> Result<(), String> {
        if depth > MAX_DEPTH {
            return Err(format!(
                "the value nests lists and objects more than {MAX_DEPTH} levels deep"
            ));
        }
        *parts += 1;
        if *parts > MAX_VALUE_PARTS {
            return Err(format!(
                "the value has more than {MAX_VALUE_PARTS} parts (lists, objects and the values in them)"
            ));
        }
        match v {
            Value::String(s) if s.len() > MAX_STRING_BYTES => Err(format!(
                "the value holds a string of {} KiB; at most {} KiB",
                s.len() / 1024,
                MAX_STRING_BYTES / 1024
            )),
            Value::Array(items) => items.iter().try_for_each(|i| walk(i, depth + 1, parts)),
            Value::Object(o) => o.values().try_for_each(|i| walk(i, depth + 1, parts)),
            _ => Ok(()),
        }
    }
    let mut parts = 0;
    walk(v, 0, &mut parts).map(|()| parts)
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

    /// Issue 16 (7), found by the acceptance audit: locals that each hold two copies of the one
    /// before double with every line (26 lines took 20 GB). The value that passes the limit is
    /// reported where it is, once; what reads it makes no follow-on error.
    #[test]
    fn values_that_double_with_every_line_are_refused_at_the_limit() {
        let mut text = String::from("locals {\n  d0 = [\"x\"]\n");
        for i in 1..=40 {
            text.push_str(&format!("  d{i} = [local.d{}, local.d{}]\n", i - 1, i - 1));
        }
        text.push_str("}\n");
        text.push_str(&plan("p", "description = length(local.d40)"));
        let e = lower_main(&text, &Inputs::default())
            .unwrap_err()
            .to_string();
        // d16 has 2^17 - 1 parts; d17 has 2^18 - 1.
        assert!(
            e.contains("main.hcl:19:9: local.d17: the value has more than 200000 parts"),
            "{e}"
        );
        assert_eq!(e.lines().count(), 1, "{e}");
    }

    /// Many values, each within the limit, are bounded together.
    #[test]
    fn values_are_bounded_all_together() {
        let mut text = String::from("locals {\n  d0 = [\"x\"]\n");
        for i in 1..=16 {
            text.push_str(&format!("  d{i} = [local.d{}, local.d{}]\n", i - 1, i - 1));
        }
        // Each a copy of d16 (2^17 - 1 parts): the 22nd copy passes three million.
        for i in 0..30 {
            text.push_str(&format!("  c{i} = local.d16\n"));
        }
        text.push_str("}\n");
        let e = lower_main(&text, &Inputs::default())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("local.c")
                && e.contains(
                    "more than 3000000 parts (lists, objects and the values in them) together"
                ),
            "{e}"
        );
    }
}

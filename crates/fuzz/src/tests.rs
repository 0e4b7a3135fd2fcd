//! The fuzz targets on stable: every kept input, then generated ones (bounded, so `.ci/run`
//! stays fast; `PROPTEST_CASES` raises the count).

use proptest::prelude::*;

use super::*;

/// Pieces of the manifest language, so generated inputs reach past the parser.
const HCL_PIECES: &[&str] = &[
    "plan \"a\" {\n",
    "}\n",
    "locals {\n",
    "variable \"v\" {\n",
    "output \"o\" {\n",
    "planform {\n",
    "  name = ",
    "  count = ",
    "  for_each = ",
    "  parameters = ",
    "  tags = ",
    "  value = ",
    "  default = ",
    "  sensitive = true\n",
    "  depends_on = [plan.a]\n",
    "\"x\"",
    "\"${var.v}\"",
    "local.l",
    "var.v",
    "each.key",
    "count.index",
    "plan.a.outputs.o",
    "[",
    "]",
    "{",
    "}",
    "(",
    ")",
    "1",
    "-1",
    "1e308",
    "null",
    "true",
    "toset([\"a\"])",
    "env(\"X\")",
    "file(\"f\")",
    "format(\"%s\", 1)",
    "jsondecode(\"{}\")",
    "merge({}, {})",
    "[for x in [1] : x]",
    "%{ if true }x%{ endif }",
    "\n",
    " = ",
    ",",
    "\u{0}",
    "\u{E000}",
    "#",
    "/*",
    "*/",
    "<<EOT\n",
    "EOT\n",
    "  l = ",
    "\"prod-sbxvpc0000001\"",
    "  product_id = ",
    "  lifecycle {\n",
];

fn hcl_like() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(prop::sample::select(HCL_PIECES), 0..60)
        .prop_map(|pieces| pieces.concat().into_bytes())
}

#[test]
fn kept_manifest_inputs() {
    let kept = kept_inputs("manifest");
    assert!(
        kept.len() >= 60,
        "the manifest corpus, examples and bad manifests hold {} files",
        kept.len()
    );
    for (name, bytes) in kept {
        eprintln!("{name}");
        manifest(&bytes);
    }
}

#[test]
fn kept_state_file_inputs() {
    for (name, bytes) in kept_inputs("state_file") {
        eprintln!("{name}");
        state_file(&bytes);
    }
}

#[test]
fn kept_encrypted_file_inputs() {
    let kept = kept_inputs("encrypted_file");
    assert!(!kept.is_empty(), "the encrypted_file corpus");
    for (name, bytes) in kept {
        eprintln!("{name}");
        encrypted_file(&bytes);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn encrypted_files(data in prop::collection::vec(any::<u8>(), 0..256)) {
        encrypted_file(&data);
    }

    /// Envelopes sealed with the target's key around JSON-shaped text, then damaged: past the
    /// envelope's parser into authentication and, undamaged, into the state reader.
    #[test]
    fn encrypted_files_shaped_like_envelopes(v in json_like(), at in any::<prop::sample::Index>(), damage in any::<bool>()) {
        let key = planform_encryption::Encryption::with_key(FUZZ_KEY);
        let mut bytes = key.encode("state", &v).unwrap().into_bytes();
        if damage {
            let i = at.index(bytes.len());
            bytes[i] ^= 0x01;
        }
        encrypted_file(&bytes);
    }

    #[test]
    fn manifests_of_arbitrary_bytes(data in prop::collection::vec(any::<u8>(), 0..512)) {
        manifest(&data);
    }

    #[test]
    fn manifests_made_of_the_language(data in hcl_like()) {
        manifest(&data);
    }

    #[test]
    fn state_files(data in prop::collection::vec(any::<u8>(), 0..256)) {
        state_file(&data);
    }

    #[test]
    fn state_files_shaped_like_json(v in json_like()) {
        state_file(v.as_bytes());
    }
}

fn json_like() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just("null".to_string()),
        Just("1".to_string()),
        Just("18446744073709551616".to_string()),
        Just("\"plan.a\"".to_string()),
        Just("\"sandbox\"".to_string()),
        Just("\"\"".to_string()),
        "\"[a-z\\[\\]\\.\"]{0,12}\"".prop_map(|s| s),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(|v| format!("[{}]", v.join(","))),
            prop::collection::vec(
                (
                    prop::sample::select(
                        &[
                            "version",
                            "serial",
                            "lineage",
                            "workspace",
                            "plans",
                            "provider",
                            "plan_id",
                            "status",
                            "applied",
                            "depends_on",
                            "history"
                        ][..]
                    ),
                    inner
                ),
                0..6
            )
            .prop_map(|kv| format!(
                "{{{}}}",
                kv.iter()
                    .map(|(k, v)| format!("\"{k}\":{v}"))
                    .collect::<Vec<_>>()
                    .join(",")
            )),
        ]
    })
}

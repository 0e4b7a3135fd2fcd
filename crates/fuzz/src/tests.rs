//! The fuzz targets on stable: every kept input, then generated ones (bounded, so `.ci/run`
//! stays fast; `PROPTEST_CASES` raises the count).

use proptest::prelude::*;

use super::*;

/// `PROPTEST_CASES` when set (the configs below would override it), else `default`.
fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

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

/// Runs `body` on every kept input of `target` (its corpus and regressions), after checking
/// that at least `at_least` are kept, so a corpus that went missing does not pass unnoticed.
fn replay_kept(target: &str, at_least: usize, body: fn(&[u8])) {
    let kept = kept_inputs(target);
    assert!(
        kept.len() >= at_least,
        "{target}: {} kept inputs, expected at least {at_least}",
        kept.len()
    );
    for (name, bytes) in kept {
        eprintln!("{name}");
        body(&bytes);
    }
}

#[test]
fn kept_manifest_inputs() {
    replay_kept("manifest", 60, manifest);
}

#[test]
fn kept_state_file_inputs() {
    replay_kept("state_file", 0, state_file);
}

#[test]
fn kept_encrypted_file_inputs() {
    replay_kept("encrypted_file", 1, encrypted_file);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(512), ..ProptestConfig::default() })]

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

/// JSON text: `leaf` values, nested up to four levels in arrays and in objects whose keys are
/// taken from `keys` (`size`: the number of values a text holds at most, about).
fn json_of(
    leaf: BoxedStrategy<String>,
    keys: &'static [&'static str],
    size: u32,
) -> impl Strategy<Value = String> {
    leaf.prop_recursive(4, size, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(|v| format!("[{}]", v.join(","))),
            prop::collection::vec((prop::sample::select(keys), inner), 0..6).prop_map(
                |kv| format!(
                    "{{{}}}",
                    kv.iter()
                        .map(|(k, v)| format!("\"{k}\":{v}"))
                        .collect::<Vec<_>>()
                        .join(",")
                )
            ),
        ]
    })
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
    json_of(
        leaf.boxed(),
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
            "history",
        ],
        32,
    )
}

#[test]
fn kept_sandbox_request_inputs() {
    replay_kept("sandbox_request", 6, sandbox_request);
}

#[test]
fn kept_alibaba_response_inputs() {
    replay_kept("alibaba_response", 3, alibaba_response);
}

#[test]
fn kept_aws_response_inputs() {
    replay_kept("aws_response", 3, aws_response);
}

#[test]
fn kept_journal_inputs() {
    replay_kept("journal", 3, journal);
}

/// The signed shapes reach the emulator: a create through each face makes a plan, and a
/// request with a wrong signature is refused, not answered.
#[test]
fn signed_requests_reach_the_emulator() {
    let alibaba = b"\x00ProductId=prod-sbxvpc0000001&ProductVersionId=pv-sbxvpc0000001&PlanName=fz&PlanType=Ros&ProvisionedProductName=fz-a&OperationType=LaunchProduct&StackRegionId=cn-hangzhou&Parameters.1.ParameterKey=cidr_block&Parameters.1.ParameterValue=10.0.0.0%2F16";
    let (status, _, body) = faces::answer(faces::alibaba_rpc(alibaba, true).unwrap());
    let text = String::from_utf8_lossy(&body);
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("\"PlanId\""), "{text}");
    let aws = b"\x00{\"PlanName\":\"fz\",\"PlanType\":\"CLOUDFORMATION\",\"ProductId\":\"prod-sbxvpc0000001\",\"ProvisioningArtifactId\":\"pv-sbxvpc0000001\",\"ProvisionedProductName\":\"fz-b\",\"IdempotencyToken\":\"t1\",\"ProvisioningParameters\":[{\"Key\":\"cidr_block\",\"Value\":\"10.0.0.0/16\"}]}";
    let (status, _, body) = faces::answer(faces::aws_json(aws).unwrap());
    let text = String::from_utf8_lossy(&body);
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("\"PlanId\""), "{text}");
    let mut forged = faces::alibaba_rpc(b"\x02", false).unwrap();
    forged.uri = forged
        .uri
        .to_string()
        .replace("Signature=", "Signature=x")
        .parse()
        .unwrap();
    let (status, _, body) = faces::answer(forged);
    assert_eq!(status, 400, "{}", String::from_utf8_lossy(&body));
}

/// Pieces of Alibaba RPC parameters, so generated requests get past the validation's first rule.
const RPC_PIECES: &[&str] = &[
    "&",
    "=",
    "PlanId=",
    "plan-",
    "ProductId=prod-sbxvpc0000001",
    "ProductVersionId=pv-sbxvpc0000001",
    "PortfolioId=port-sbxreview0001",
    "PlanName=",
    "PlanType=Ros",
    "ProvisionedProductName=",
    "ProvisionedProductId=pp-",
    "OperationType=LaunchProduct",
    "OperationType=UpdateProduct",
    "OperationType=TerminateProduct",
    "StackRegionId=cn-hangzhou",
    "Parameters.1.ParameterKey=cidr_block",
    "Parameters.1.ParameterValue=10.0.0.0%2F16",
    "Parameters.99999999999.ParameterKey=x",
    "Tags.1.Key=",
    "Tags.1.Value=",
    "PageNumber=",
    "PageSize=",
    "18446744073709551616",
    "-1",
    "0",
    "1",
    "100",
    "Filters.1.Key=ProvisionedProductPlanStatus",
    "Filters.1.Value=",
    "SortBy=CreateTime",
    "SortOrder=Desc",
    "AccessLevelFilter=Account",
    "Timestamp=2000-01-01T00%3A00%3A00Z",
    "Version=2014-01-01",
    "TaskId=t-",
    "%FF",
    "%",
    "x",
];

fn rpc_params() -> impl Strategy<Value = Vec<u8>> {
    (
        any::<u8>(),
        prop::collection::vec(prop::sample::select(RPC_PIECES), 0..24),
    )
        .prop_map(|(action, pieces)| {
            let mut v = vec![action];
            v.extend(pieces.concat().into_bytes());
            v
        })
}

/// JSON bodies with the field names of both clouds' plan and product answers.
fn cloud_json() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just("null".to_string()),
        Just("0".to_string()),
        Just("-1".to_string()),
        Just("1e400".to_string()),
        Just("18446744073709551616".to_string()),
        Just("true".to_string()),
        Just("\"\"".to_string()),
        Just("\"ExecuteSuccess\"".to_string()),
        Just("\"SUCCEEDED\"".to_string()),
        Just("\"token\"".to_string()),
        Just("1700000000.5".to_string()),
        "\"[a-zA-Z0-9:\\-]{0,10}\"".prop_map(|s| s),
    ];
    json_of(
        leaf.boxed(),
        &[
            "RequestId",
            "Code",
            "Message",
            "PlanId",
            "PlanDetail",
            "PlanDetails",
            "TotalCount",
            "Status",
            "Parameters",
            "ParameterKey",
            "ParameterValue",
            "Tags",
            "ResourceChanges",
            "ProvisionedProductDetail",
            "ProvisionedProductDetails",
            "LastSuccessfulProvisioningTaskId",
            "TaskDetail",
            "Outputs",
            "OutputKey",
            "__type",
            "message",
            "NextPageToken",
            "ProvisionedProductPlans",
            "ProvisionedProductPlanDetails",
            "ProvisioningParameters",
            "CreatedTime",
            "ProvisionedProductId",
            "RecordDetail",
        ],
        48,
    )
}

/// A canned answer: status bytes, a few headers, a JSON-like body.
fn canned_answer() -> impl Strategy<Value = Vec<u8>> {
    (
        any::<u16>(),
        prop::collection::vec(
            prop::sample::select(
                &[
                    "x-acs-request-id: r-1",
                    "x-acs-retry-after: 18446744073709551615",
                    "retry-after: 99999999999999",
                    "x-amz-retry-after: 1",
                    "x-amzn-requestid: r-2",
                    "x-amzn-errortype: ThrottlingException",
                    "x-amzn-errortype: ResourceNotFoundException:http://internal.amazon.com/",
                    "content-type: application/x-amz-json-1.1",
                    "content-type: text/xml",
                ][..],
            ),
            0..3,
        ),
        cloud_json(),
    )
        .prop_map(|(status, headers, body)| {
            let mut v = status.to_be_bytes().to_vec();
            for h in headers {
                v.extend_from_slice(h.as_bytes());
                v.push(b'\n');
            }
            v.extend_from_slice(b"\n");
            v.extend_from_slice(body.as_bytes());
            v
        })
}

/// Journal tails: valid lines of other lineages, serials that skip or repeat, torn and
/// corrupted lines, and noise.
fn journal_tail() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        (0u64..8).prop_map(|i| journal::line(&journal::record(i))),
        (0u64..8).prop_map(|i| journal::line(&journal::record(i).replace("\"x\"", "\"y\""))),
        (0u64..8).prop_map(|i| {
            let mut l = journal::line(&journal::record(i));
            l.pop();
            l
        }),
        (0u64..8, any::<u8>()).prop_map(|(i, b)| {
            let mut l = journal::line(&journal::record(i));
            let at = usize::from(b) % l.len();
            l[at] ^= 0x20;
            l
        }),
        prop::collection::vec(any::<u8>(), 0..40),
        Just(b"\n".to_vec()),
    ];
    prop::collection::vec(piece, 0..6).prop_map(|p| p.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(256), ..ProptestConfig::default() })]

    #[test]
    fn sandbox_requests_of_arbitrary_bytes(data in prop::collection::vec(any::<u8>(), 0..512)) {
        sandbox_request(&data);
    }

    #[test]
    fn signed_alibaba_requests(shape in 1u8..3, params in rpc_params()) {
        let mut data = vec![shape];
        data.extend(params);
        sandbox_request(&data);
    }

    #[test]
    fn signed_aws_requests(op in any::<u8>(), body in cloud_json()) {
        let mut data = vec![3, op];
        data.extend(body.into_bytes());
        sandbox_request(&data);
    }

    #[test]
    fn journals(valid in 0u8..5, tail in journal_tail()) {
        let mut data = vec![valid];
        data.extend(tail);
        journal(&data);
    }

    #[test]
    fn journals_of_arbitrary_bytes(data in prop::collection::vec(any::<u8>(), 0..512)) {
        journal(&data);
    }
}

proptest! {
    // Each case makes every client call (about a dozen requests): fewer cases keep it quick.
    #![proptest_config(ProptestConfig { cases: cases(64), ..ProptestConfig::default() })]

    #[test]
    fn alibaba_answers(data in canned_answer()) {
        alibaba_response(&data);
    }

    #[test]
    fn alibaba_answers_of_arbitrary_bytes(data in prop::collection::vec(any::<u8>(), 0..256)) {
        alibaba_response(&data);
    }

    #[test]
    fn aws_answers(data in canned_answer()) {
        aws_response(&data);
    }

    #[test]
    fn aws_answers_of_arbitrary_bytes(data in prop::collection::vec(any::<u8>(), 0..256)) {
        aws_response(&data);
    }
}

#[test]
fn kept_plan_file_inputs() {
    replay_kept("plan_file", 12, plan_file);
}

/// The plaintext plan files of the corpus that decode (most made by `planform plan --out`),
/// parsed.
fn kept_plan_files() -> &'static [serde_json::Value] {
    static FILES: std::sync::OnceLock<Vec<serde_json::Value>> = std::sync::OnceLock::new();
    FILES.get_or_init(|| {
        let files: Vec<serde_json::Value> = kept_inputs("plan_file")
            .into_iter()
            .filter_map(|(_, bytes)| {
                let text = String::from_utf8(bytes).ok()?;
                planform_engine::plan_file::decode(&text).ok()?;
                serde_json::from_str(&text).ok()
            })
            .collect();
        assert!(files.len() >= 5, "the plan file corpus has plaintext files");
        files
    })
}

/// Every place in `v` a value can be swapped, as JSON pointers.
fn json_pointers(v: &serde_json::Value, at: String, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                json_pointers(item, format!("{at}/{i}"), out);
            }
        }
        serde_json::Value::Object(fields) => {
            for (k, item) in fields {
                json_pointers(
                    item,
                    format!("{at}/{}", k.replace('~', "~0").replace('/', "~1")),
                    out,
                );
            }
        }
        _ => {}
    }
    out.push(at);
}

/// Addresses as a plan file spells them, and near misses: names, quoted keys with quotes,
/// backslashes, escapes and control characters, integer keys at and past the limits.
fn address_like() -> impl Strategy<Value = String> {
    let name = prop_oneof![
        Just("a".to_string()),
        Just("app".to_string()),
        Just("_x-1".to_string()),
        Just("".to_string()),
        Just("1a".to_string()),
        Just("a.b".to_string()),
    ];
    let key = prop_oneof![
        Just(String::new()),
        "[0-9]{1,3}".prop_map(|i| format!("[{i}]")),
        Just("[18446744073709551615]".to_string()),
        Just("[18446744073709551616]".to_string()),
        Just("[+1]".to_string()),
        Just("[-1]".to_string()),
        prop::collection::vec(
            prop::sample::select(
                &[
                    "a", "\\", "\"", "n", "t", "u", "{", "}", "1", "]", "[", "\n", "\t", "\u{0}",
                    "\u{7f}", "\u{301}", "é", "'",
                ][..]
            ),
            0..6
        )
        .prop_map(|p| format!("[\"{}\"]", p.concat())),
    ];
    (name, key).prop_map(|(n, k)| format!("plan.{n}{k}"))
}

/// Strings a plan file's fields could hold: the spellings of providers and statuses,
/// addresses and near misses, and arbitrary text.
fn plan_file_string() -> impl Strategy<Value = String> {
    prop_oneof![
        2 => prop::sample::select(
            &[
                "",
                "sandbox",
                "aws",
                "aws.us",
                "alibaba.",
                "gcp",
                "ExecuteSuccess",
                "CREATE_SUCCESS",
                "Unknown",
                "\u{e000}plan.network.outputs.vpc_id\u{e001}",
            ][..]
        )
        .prop_map(String::from),
        3 => address_like(),
        1 => "[ -~\n\u{80}-\u{10ffff}]{0,8}",
    ]
}

/// Numbers at the edges of the fields' types (u32, u64, f64).
fn plan_file_number() -> impl Strategy<Value = serde_json::Value> {
    prop::sample::select(
        &[
            "0",
            "1",
            "2",
            "4294967295",
            "4294967296",
            "18446744073709551615",
            "18446744073709551616",
            "-1",
            "0.1",
            "2.5",
            "1e308",
            "5e-324",
            "2.2250738585072011e-308",
            "0.30000000000000004",
            "123456789.12345678",
        ][..],
    )
    .prop_map(|s| serde_json::from_str(s).expect("valid JSON"))
}

/// Any value: the above, and the shapes of the plan file's composite fields.
fn plan_file_value() -> impl Strategy<Value = serde_json::Value> {
    let shapes = prop::sample::select(
        &[
            "null",
            "true",
            "[]",
            "{}",
            "[0,0,0]",
            "[[\"plan.a\",\"plan.b\"]]",
            "{\"kind\":\"retry\"}",
            "{\"kind\":\"terminate\",\"via\":{\"kind\":\"resume\",\"plan_id\":\"p\"}}",
            "{\"kind\":\"blocked\",\"message\":\"\"}",
            "{\"kind\":\"nope\"}",
        ][..],
    )
    .prop_map(|s| serde_json::from_str::<serde_json::Value>(s).expect("valid JSON"));
    prop_oneof![
        2 => shapes,
        2 => plan_file_number(),
        3 => plan_file_string().prop_map(serde_json::Value::String),
        1 => prop::collection::vec(address_like(), 0..3)
            .prop_map(|v| serde_json::Value::Array(v.into_iter().map(Into::into).collect())),
    ]
}

/// One edit of a plan file: a value of the same type as the one it replaces (most of the
/// time, so most edited files still decode and reach the round trip), any value, or nothing
/// (the field is dropped).
#[derive(Debug, Clone)]
enum Edit {
    SameType(String, serde_json::Value),
    Any(serde_json::Value),
    Drop,
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        6 => (plan_file_string(), plan_file_number()).prop_map(|(s, n)| Edit::SameType(s, n)),
        2 => plan_file_value().prop_map(Edit::Any),
        1 => Just(Edit::Drop),
    ]
}

/// A plan file of the corpus with up to three edits, sealed with `FUZZ_KEY` or not: past the
/// JSON parser into the codec's conversions and the round trip.
fn plan_file_edited() -> impl Strategy<Value = Vec<u8>> {
    (
        any::<prop::sample::Index>(),
        prop::collection::vec((any::<prop::sample::Index>(), edit()), 1..4),
        any::<bool>(),
    )
        .prop_map(|(file, edits, sealed)| {
            let files = kept_plan_files();
            let mut v = files[file.index(files.len())].clone();
            for (at, edit) in edits {
                let mut pointers = Vec::new();
                json_pointers(&v, String::new(), &mut pointers);
                let pointer = &pointers[at.index(pointers.len())];
                let target = v.pointer_mut(pointer).expect("a pointer of v");
                match edit {
                    Edit::SameType(s, n) => match target {
                        serde_json::Value::String(_) => *target = s.into(),
                        serde_json::Value::Number(_) => *target = n,
                        serde_json::Value::Bool(b) => *b = !*b,
                        _ => {}
                    },
                    Edit::Any(value) => *target = value,
                    Edit::Drop => {
                        let (parent, key) = pointer.rsplit_once('/').unwrap_or(("", ""));
                        if let Some(serde_json::Value::Object(fields)) = v.pointer_mut(parent) {
                            fields.remove(&key.replace("~1", "/").replace("~0", "~"));
                        }
                    }
                }
            }
            let text = v.to_string();
            if sealed {
                planform_encryption::Encryption::with_key(FUZZ_KEY)
                    .encode("plan", &text)
                    .expect("sealing never fails")
                    .into_bytes()
            } else {
                text.into_bytes()
            }
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(256), ..ProptestConfig::default() })]

    #[test]
    fn plan_files_of_arbitrary_bytes(data in prop::collection::vec(any::<u8>(), 0..256)) {
        plan_file(&data);
    }

    #[test]
    fn plan_files_shaped_like_json(v in json_like()) {
        plan_file(v.as_bytes());
    }

    #[test]
    fn plan_files_edited(data in plan_file_edited()) {
        plan_file(&data);
    }
}

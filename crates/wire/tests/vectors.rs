//! Every signature vector of shared/wire (copied to tests/vectors), recomputed.

use planform_wire::{acs3, encoding, rpc, sha256_hex, sigv4};

fn s(x: &str) -> String {
    x.to_string()
}

fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn alibaba_acs3_vector_1_create_with_form_body() {
    let body = "Description=desc&OperationType=LaunchProduct&Parameters.1.ParameterKey=vpc_name&Parameters.1.ParameterValue=vpc-a+b&PlanName=demo-plan&PlanType=Ros&ProductId=prod-bp18r7q127u45k&ProductVersionId=pv-bp1d7dxy2pcc1g&ProvisionedProductName=demo-instance&StackRegionId=cn-hangzhou&Tags.1.Key=env&Tags.1.Value=dev";
    assert_eq!(body.len(), 307);
    let hash = sha256_hex(body.as_bytes());
    assert_eq!(
        hash,
        "9bff19e318c85fba21b595c1bc304316efe99b75fe48b090012885b669bfc05d"
    );
    let headers = h(&[
        ("host", "servicecatalog.cn-hangzhou.aliyuncs.com"),
        ("x-acs-version", "2021-09-01"),
        ("x-acs-action", "CreateProvisionedProductPlan"),
        ("user-agent", "rust-test/1.0"),
        ("x-acs-date", "2024-01-02T03:04:05Z"),
        ("x-acs-signature-nonce", "0123456789abcdef0123456789abcdef"),
        ("accept", "application/json"),
        ("content-type", "application/x-www-form-urlencoded"),
        ("x-acs-content-sha256", &hash),
    ]);
    let signed: Vec<String> = headers.iter().map(|(k, _)| k.clone()).collect();
    let cr = acs3::canonical_request("POST", &[], &headers, &signed, &hash);
    let text = include_str!("vectors/alibaba-sig-vectors.txt");
    let expected = text.split("```\n").nth(1).unwrap().trim_end_matches('\n');
    assert_eq!(cr, expected);
    assert_eq!(
        acs3::string_to_sign(&cr),
        "ACS3-HMAC-SHA256\na4130b9c767469f281253a4734ae7658feca6ae08b7a80243e542ac82c4f36ed"
    );
    let sig = acs3::signature("testsecret", &cr);
    assert_eq!(
        sig,
        "030aafc1122ca25c1424ef1a49426ae854f79aac656223d4f67e4055fbcabfbb"
    );
    let auth = acs3::authorization("testid", &signed, &sig);
    assert_eq!(auth, "ACS3-HMAC-SHA256 Credential=testid,SignedHeaders=accept;content-type;host;user-agent;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version,Signature=030aafc1122ca25c1424ef1a49426ae854f79aac656223d4f67e4055fbcabfbb");
    let parsed = acs3::parse_authorization(&auth).unwrap();
    assert_eq!(parsed.access_key_id, "testid");
    assert_eq!(parsed.signature, sig);
}

#[test]
fn alibaba_acs3_vector_2_query_with_space_and_slash() {
    let query = encoding::form_decode("AccessLevelFilter=User&Filters.1.Key=FullTextSearch&Filters.1.Value=demo+plan%2Fx&PageNumber=1&PageSize=10");
    let empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    let headers = h(&[
        ("host", "servicecatalog.cn-hangzhou.aliyuncs.com"),
        ("x-acs-version", "2021-09-01"),
        ("x-acs-action", "ListProvisionedProductPlans"),
        ("x-acs-date", "2024-01-02T03:04:05Z"),
        ("x-acs-signature-nonce", "fedcba9876543210fedcba9876543210"),
        ("accept", "application/json"),
        ("x-acs-content-sha256", empty),
    ]);
    let signed: Vec<String> = headers.iter().map(|(k, _)| k.clone()).collect();
    let cr = acs3::canonical_request("POST", &query, &headers, &signed, empty);
    assert!(cr.contains("\nAccessLevelFilter=User&Filters.1.Key=FullTextSearch&Filters.1.Value=demo%20plan%2Fx&PageNumber=1&PageSize=10\n"), "{cr}");
    assert_eq!(
        acs3::string_to_sign(&cr),
        "ACS3-HMAC-SHA256\nd5cd64bd21fa367de58dcc72e162923184d33d0d42832e8c1ad20236717c2b55"
    );
    assert_eq!(
        acs3::signature("testsecret", &cr),
        "13e45747975ffec8bb13532e46d2880b83235da2e67b18dc172ac6bda96db227"
    );
}

#[test]
fn alibaba_acs3_vector_3_official_docs_example() {
    let query = vec![
        (
            s("ImageId"),
            s("win2019_1809_x64_dtc_zh-cn_40G_alibase_20230811.vhd"),
        ),
        (s("RegionId"), s("cn-shanghai")),
    ];
    let empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    let headers = h(&[
        ("host", "ecs.cn-shanghai.aliyuncs.com"),
        ("x-acs-action", "RunInstances"),
        ("x-acs-content-sha256", empty),
        ("x-acs-date", "2023-10-26T09:01:01Z"),
        ("x-acs-signature-nonce", "d410180a5abf7fe235dd9b74aca91fc0"),
        ("x-acs-version", "2014-05-26"),
    ]);
    let signed: Vec<String> = headers.iter().map(|(k, _)| k.clone()).collect();
    let cr = acs3::canonical_request("POST", &query, &headers, &signed, empty);
    assert_eq!(
        acs3::signature("YourAccessKeySecret", &cr),
        "e521358f7776c97df52e6b2891a8bc73026794a071b50c3323388c4e0df64804"
    );
}

#[test]
fn alibaba_rpc_hmac_sha1_vector_4() {
    let params = h(&[
        ("Action", "GetProvisionedProductPlan"),
        ("Format", "json"),
        ("Version", "2021-09-01"),
        ("Timestamp", "2024-01-02T03:04:05Z"),
        ("SignatureNonce", "0123456789abcdef0123456789abcdef"),
        ("SignatureMethod", "HMAC-SHA1"),
        ("SignatureVersion", "1.0"),
        ("AccessKeyId", "testid"),
        ("PlanId", "pp-bp1ddd2ng2zexample"),
    ]);
    assert_eq!(rpc::string_to_sign("POST", &params), "POST&%2F&AccessKeyId%3Dtestid%26Action%3DGetProvisionedProductPlan%26Format%3Djson%26PlanId%3Dpp-bp1ddd2ng2zexample%26SignatureMethod%3DHMAC-SHA1%26SignatureNonce%3D0123456789abcdef0123456789abcdef%26SignatureVersion%3D1.0%26Timestamp%3D2024-01-02T03%253A04%253A05Z%26Version%3D2021-09-01");
    assert_eq!(
        rpc::signature("testsecret", "POST", &params),
        "T5o7hizCkQK03xyE489sp6sUjms="
    );
}

#[test]
fn aws_sigv4_every_vector() {
    let vectors: Vec<serde_json::Value> =
        serde_json::from_str(include_str!("vectors/aws-sigv4-vectors.json")).unwrap();
    assert_eq!(vectors.len(), 5);
    for v in vectors {
        let name = v["name"].as_str().unwrap();
        let url = v["url"].as_str().unwrap();
        let host = url.split("://").nth(1).unwrap().trim_end_matches('/');
        let amz_date = v["amz_date"].as_str().unwrap();
        let mut headers: Vec<(String, String)> = v["headers_in"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p[0].as_str().unwrap().to_string(),
                    p[1].as_str().unwrap().to_string(),
                )
            })
            .collect();
        headers.push((s("host"), host.to_string()));
        headers.push((s("x-amz-date"), amz_date.to_string()));
        if let Some(t) = v["session_token"].as_str() {
            headers.push((s("x-amz-security-token"), t.to_string()));
        }
        let auth = sigv4::parse_authorization(v["authorization"].as_str().unwrap())
            .unwrap_or_else(|| panic!("{name}: authorization parses"));
        let payload = sha256_hex(v["body"].as_str().unwrap().as_bytes());
        assert_eq!(payload, v["payload_sha256"].as_str().unwrap(), "{name}");
        let cr = sigv4::canonical_request(
            v["method"].as_str().unwrap(),
            &headers,
            &auth.signed_headers,
            &payload,
        );
        assert_eq!(cr, v["canonical_request"].as_str().unwrap(), "{name}");
        let scope = sigv4::scope(
            &amz_date[..8],
            v["region"].as_str().unwrap(),
            v["service"].as_str().unwrap(),
        );
        let sts = sigv4::string_to_sign(amz_date, &scope, &cr);
        assert_eq!(sts, v["string_to_sign"].as_str().unwrap(), "{name}");
        let key = sigv4::signing_key(
            v["secret_access_key"].as_str().unwrap(),
            &amz_date[..8],
            v["region"].as_str().unwrap(),
            v["service"].as_str().unwrap(),
        );
        assert_eq!(
            planform_wire::hex(&key),
            v["signing_key_hex"].as_str().unwrap(),
            "{name}"
        );
        assert_eq!(
            sigv4::signature(&key, &sts),
            v["signature"].as_str().unwrap(),
            "{name}"
        );
        assert_eq!(auth.signature, v["signature"].as_str().unwrap());
    }
}

use super::*;

fn env(pairs: &[(&str, &str)]) -> Env {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

const NOW: u64 = 1_700_000_000_000;

#[test]
fn environment_keys_come_first() {
    let (s, origin) = configured(
        &env(&[
            ("ALIBABA_CLOUD_ACCESS_KEY_ID", "id"),
            ("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "sec"),
            ("ALIBABA_CLOUD_SECURITY_TOKEN", "tok"),
            ("ALIBABA_CLOUD_ROLE_ARN", "acs:ram::1:role/ignored"),
        ]),
        None,
        NOW,
    )
    .unwrap();
    assert_eq!(origin, "environment (ALIBABA_CLOUD_ACCESS_KEY_ID)");
    let Source::Static { credentials, .. } = &s else {
        panic!("{s:?}")
    };
    assert_eq!(credentials.security_token.as_ref().unwrap().expose(), "tok");
    let shown = format!("{s:?} {}", s.kind());
    assert!(
        !shown.contains("sec\"") && !shown.contains("tok\""),
        "{shown}"
    );
    assert_eq!(s.kind(), "STS token of id");
}

#[test]
fn half_set_keys_and_a_partial_oidc_set_are_errors() {
    let e = configured(&env(&[("ALIBABA_CLOUD_ACCESS_KEY_ID", "id")]), None, NOW).unwrap_err();
    assert_eq!(
        e.to_string(),
        "ALIBABA_CLOUD_ACCESS_KEY_ID is set but ALIBABA_CLOUD_ACCESS_KEY_SECRET is not; set both"
    );
    let e = configured(
        &env(&[
            ("ALIBABA_CLOUD_ROLE_ARN", "acs:ram::1:role/ci"),
            ("ALIBABA_CLOUD_OIDC_TOKEN_FILE", "/t"),
            ("HOME", "/nonexistent"),
        ]),
        None,
        NOW,
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "an OIDC role needs ALIBABA_CLOUD_ROLE_ARN, ALIBABA_CLOUD_OIDC_PROVIDER_ARN and ALIBABA_CLOUD_OIDC_TOKEN_FILE: ALIBABA_CLOUD_ROLE_ARN, ALIBABA_CLOUD_OIDC_TOKEN_FILE set but ALIBABA_CLOUD_OIDC_PROVIDER_ARN not"
    );
    let (s, _) = configured(
        &env(&[
            ("ALIBABA_CLOUD_ROLE_ARN", "acs:ram::1:role/ci"),
            (
                "ALIBABA_CLOUD_OIDC_PROVIDER_ARN",
                "acs:ram::1:oidc-provider/gh",
            ),
            ("ALIBABA_CLOUD_OIDC_TOKEN_FILE", "/t"),
            ("ALIBABA_CLOUD_ROLE_SESSION_NAME", "run-7"),
            ("ALIBABA_CLOUD_STS_REGION", "cn-shanghai"),
            ("ALIBABA_CLOUD_VPC_ENDPOINT_ENABLED", "true"),
        ]),
        None,
        NOW,
    )
    .unwrap();
    let Source::Oidc { role, .. } = s else {
        panic!()
    };
    assert_eq!(role.session_name, "run-7");
    assert_eq!(
        role.sts_endpoint,
        "https://sts-vpc.cn-shanghai.aliyuncs.com"
    );
}

#[test]
fn profiles_then_the_ini_file_in_the_sdks_order() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path().to_str().unwrap();
    std::fs::create_dir_all(home.path().join(".aliyun")).unwrap();
    std::fs::create_dir_all(home.path().join(".alibabacloud")).unwrap();
    std::fs::write(
        home.path().join(".aliyun/config.json"),
        r#"{"current": "main", "profiles": [{"name": "main", "mode": "AK", "access_key_id": "cli", "access_key_secret": "s"}]}"#,
    )
    .unwrap();
    std::fs::write(
        home.path().join(".alibabacloud/credentials.ini"),
        "[default]\ntype = access_key\naccess_key_id = ini\naccess_key_secret = s\n[other]\ntype = access_key\naccess_key_id = ini-other\naccess_key_secret = s\n",
    )
    .unwrap();
    let id = |e: Env, profile: Option<&str>| match configured(&e, profile, NOW).unwrap().0 {
        Source::Static { credentials, .. } => credentials.access_key_id,
        s => panic!("{s:?}"),
    };
    assert_eq!(
        id(env(&[("HOME", h)]), None),
        "cli",
        "current profile of config.json"
    );
    assert_eq!(
        id(
            env(&[("HOME", h), ("ALIBABA_CLOUD_CLI_PROFILE_DISABLED", "true")]),
            None
        ),
        "ini"
    );
    assert_eq!(
        id(
            env(&[("HOME", h), ("ALIBABA_CLOUD_PROFILE", "other")]),
            None
        ),
        "ini-other",
        "a profile config.json lacks is looked up in the INI file"
    );
    assert_eq!(id(env(&[("HOME", h)]), Some("other")), "ini-other");
    assert_eq!(
        id(
            env(&[
                ("HOME", h),
                ("ALIBABA_CLOUD_ACCESS_KEY_ID", "envid"),
                ("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "s")
            ]),
            Some("main")
        ),
        "cli",
        "a manifest profile skips the environment"
    );
    let e = configured(&env(&[("HOME", h)]), Some("nope"), NOW)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("has no profile \"nope\"") && e.contains("has no [nope]"),
        "{e}"
    );
    let e = configured(
        &env(&[
            ("HOME", h),
            ("ALIBABA_CLOUD_CONFIG_FILE", "/nonexistent/c.json"),
        ]),
        None,
        NOW,
    )
    .unwrap_err()
    .to_string();
    assert_eq!(
        e,
        "/nonexistent/c.json: does not exist (ALIBABA_CLOUD_CONFIG_FILE names it)"
    );
    let e = configured(
        &env(&[
            ("HOME", "/nonexistent"),
            ("ALIBABA_CLOUD_CREDENTIALS_FILE", "/nonexistent/c.ini"),
        ]),
        None,
        NOW,
    )
    .unwrap_err()
    .to_string();
    assert_eq!(
        e,
        "/nonexistent/c.ini: does not exist (ALIBABA_CLOUD_CREDENTIALS_FILE names it)"
    );
    assert!(matches!(
        configured(&env(&[("HOME", "/nonexistent")]), None, NOW),
        Err(CredentialError::Missing(_))
    ));
}

#[test]
fn sts_endpoints_as_the_sdks_pick_them() {
    assert_eq!(
        sts_endpoint(&env(&[]), None, false),
        "https://sts.aliyuncs.com"
    );
    assert_eq!(
        sts_endpoint(&env(&[]), Some("cn-beijing"), true),
        "https://sts-vpc.cn-beijing.aliyuncs.com"
    );
    assert_eq!(
        sts_endpoint(
            &env(&[("ALIBABA_CLOUD_STS_ENDPOINT", "sts.cn-hangzhou.aliyuncs.com")]),
            Some("x"),
            false
        ),
        "https://sts.cn-hangzhou.aliyuncs.com"
    );
    assert_eq!(
        metadata_endpoint(&env(&[("PLANFORM_ECS_METADATA_ENDPOINT", "127.0.0.1:8/")])),
        "http://127.0.0.1:8"
    );
    assert_eq!(metadata_endpoint(&env(&[])), "http://100.100.100.200");
}

#[test]
fn refresh_is_due_three_minutes_early_or_at_half_a_short_life() {
    assert_eq!(refresh_at(0, 3_600_000), 3_600_000 - 180_000);
    assert_eq!(refresh_at(0, 60_000), 30_000);
    assert_eq!(refresh_at(10_000, 5_000), 5_000, "already expired: due now");
}

#[tokio::test]
async fn fixed_keys_are_handed_out_and_an_expired_token_is_an_error() {
    let p = CredentialProvider::fixed(AlibabaCredentials {
        access_key_id: "id".into(),
        access_key_secret: Sensitive::new("s".into()),
        security_token: None,
    });
    assert_eq!(p.current().await.unwrap().access_key_id, "id");
    let old = CredentialProvider::new(
        Source::Static {
            credentials: AlibabaCredentials {
                access_key_id: "id".into(),
                access_key_secret: Sensitive::new("s".into()),
                security_token: Some(Sensitive::new("t".into())),
            },
            expires_ms: Some(NOW),
        },
        "test",
        Arc::new(|| NOW + 1),
    );
    let e = old.current().await.unwrap_err().to_string();
    assert!(
        e.contains("expired at 2023-11-14T22:13:20Z and cannot be refreshed"),
        "{e}"
    );
}

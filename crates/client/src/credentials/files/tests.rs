use super::*;
use crate::credentials::{Env, Source};

fn env() -> Env {
    [(
        "ALIBABA_CLOUD_STS_ENDPOINT".to_string(),
        "http://127.0.0.1:1".to_string(),
    )]
    .into()
}

const CONFIG: &str = r#"{"current": "default", "profiles": [
  {"name": "default", "mode": "AK", "access_key_id": "akid", "access_key_secret": "aksecret", "region_id": "cn-hangzhou"},
  {"name": "sts", "mode": "StsToken", "access_key_id": "stsid", "access_key_secret": "stssecret", "sts_token": "ststoken", "sts_expiration": 2000000000},
  {"name": "old", "mode": "StsToken", "access_key_id": "oldid", "access_key_secret": "oldsecret", "sts_token": "oldtoken", "sts_expiration": 1600000000},
  {"name": "role", "mode": "RamRoleArn", "access_key_id": "rid", "access_key_secret": "rsecret", "ram_role_arn": "acs:ram::1:role/ci", "ram_session_name": "s1", "expired_seconds": 900},
  {"name": "chain", "mode": "ChainableRamRoleArn", "source_profile": "role", "ram_role_arn": "acs:ram::1:role/deploy"},
  {"name": "ecs", "mode": "EcsRamRole", "ram_role_name": "planform-ecs"},
  {"name": "oidc", "mode": "OIDC", "ram_role_arn": "acs:ram::1:role/ci", "oidc_provider_arn": "acs:ram::1:oidc-provider/gh", "oidc_token_file": "/t/token"},
  {"name": "uri", "mode": "CredentialsURI", "credentials_uri": "http://localhost/creds"},
  {"name": "sso", "mode": "CloudSSO"},
  {"name": "loop1", "mode": "ChainableRamRoleArn", "source_profile": "loop2", "ram_role_arn": "acs:ram::1:role/a"},
  {"name": "loop2", "mode": "ChainableRamRoleArn", "source_profile": "loop1", "ram_role_arn": "acs:ram::1:role/b"},
  {"name": "short", "mode": "RamRoleArn", "access_key_id": "rid", "access_key_secret": "rsecret", "ram_role_arn": "acs:ram::1:role/ci", "expired_seconds": 60},
  {"name": "nosecret", "mode": "AK", "access_key_id": "x"},
  {"name": "typed", "mode": "AK", "access_key_id": 12, "access_key_secret": "hidden-secret"}
]}"#;

const NOW: u64 = 1_700_000_000_000;

#[test]
fn every_cli_mode_becomes_its_source() {
    let c = cli_config("/h/.aliyun/config.json", CONFIG).unwrap();
    assert_eq!(c.current.as_deref(), Some("default"));
    let src = |n: &str| c.source(n, &env(), NOW).unwrap();
    assert!(
        matches!(src("default"), Source::Static { credentials, expires_ms: None } if credentials.access_key_id == "akid")
    );
    assert!(
        matches!(src("sts"), Source::Static { credentials, expires_ms: Some(2_000_000_000_000) } if credentials.security_token.is_some())
    );
    let Source::AssumeRole { base, role } = src("role") else {
        panic!()
    };
    assert!(matches!(*base, Source::Static { .. }));
    assert_eq!(
        (
            role.role_arn.as_str(),
            role.session_name.as_str(),
            role.duration_s,
            role.sts_endpoint.as_str()
        ),
        ("acs:ram::1:role/ci", "s1", 900, "http://127.0.0.1:1")
    );
    let Source::AssumeRole { base, role } = src("chain") else {
        panic!()
    };
    assert!(
        matches!(*base, Source::AssumeRole { .. }),
        "chained on the role profile"
    );
    assert_eq!(role.duration_s, 3600);
    assert!(
        matches!(src("ecs"), Source::EcsRole { role_name: Some(r), .. } if r == "planform-ecs")
    );
    assert!(
        matches!(src("oidc"), Source::Oidc { provider_arn, .. } if provider_arn == "acs:ram::1:oidc-provider/gh")
    );
    assert!(matches!(src("uri"), Source::Uri { url } if url == "http://localhost/creds"));
}

#[test]
fn broken_profiles_name_the_file_profile_and_field_never_the_secret() {
    let c = cli_config("/h/.aliyun/config.json", CONFIG).unwrap();
    let err = |n: &str| c.source(n, &env(), NOW).unwrap_err().to_string();
    let old = err("old");
    assert!(
        old.starts_with("/h/.aliyun/config.json: profile \"old\": sts_expiration: the STS token expired at 2020-09-13T12:26:40Z"),
        "{old}"
    );
    assert!(!old.contains("oldsecret") && !old.contains("oldtoken"));
    assert_eq!(
        err("sso"),
        "/h/.aliyun/config.json: profile \"sso\": mode: \"CloudSSO\" is not supported; planform supports AK, StsToken, RamRoleArn, ChainableRamRoleArn, EcsRamRole, OIDC and CredentialsURI"
    );
    assert!(
        err("loop1").contains("source_profile: the profiles form a cycle: loop1 -> loop2 -> loop1")
    );
    assert!(err("short")
        .contains("profile \"short\": expired_seconds: 60 is below the 900 seconds STS allows"));
    assert_eq!(
        err("nosecret"),
        "/h/.aliyun/config.json: profile \"nosecret\": access_key_secret: missing (the profile's mode needs it)"
    );
    let typed = err("typed");
    assert_eq!(
        typed,
        "/h/.aliyun/config.json: profile \"typed\": access_key_id: must be a string"
    );
    assert_eq!(
        err("absent"),
        "/h/.aliyun/config.json: no profile named \"absent\""
    );
    let bad = cli_config(
        "/h/c.json",
        "{\"profiles\": [{\"access_key_secret\": \"leak\"",
    )
    .unwrap_err()
    .to_string();
    assert!(
        bad.starts_with("/h/c.json: not valid JSON: EOF while parsing"),
        "{bad}"
    );
    assert!(!bad.contains("leak"));
    assert_eq!(
        cli_config("/h/c.json", r#"{"profiles": {}}"#)
            .unwrap_err()
            .to_string(),
        "/h/c.json: profiles: must be a list of profiles"
    );
}

#[test]
fn ini_sections_and_types() {
    let text = "# comment\n[default]\ntype = access_key\naccess_key_id = foo\naccess_key_secret = bar\n\n[client1]\ntype = ecs_ram_role\nrole_name = EcsRamRoleTest\n\n[client2]\ntype = ram_role_arn\naccess_key_id = foo\naccess_key_secret = bar\nrole_arn = acs:ram::1:role/r\nrole_session_name = session_name_example\n\n[client3]\ntype = oidc_role_arn\noidc_provider_arn = acs:ram::1:oidc-provider/p\noidc_token_file_path = /t\nrole_arn = acs:ram::1:role/r\n\n[bad]\ntype = bearer\n\n[half]\ntype = access_key\naccess_key_id = foo\naccess_key_secret = \"quoted-secret-x\"\n";
    let s = ini("/h/.alibabacloud/credentials.ini", text).unwrap();
    let src = |n: &str| ini_source("/h/.alibabacloud/credentials.ini", n, &s[n], &env());
    assert!(
        matches!(src("default").unwrap(), Source::Static { credentials, .. } if credentials.access_key_id == "foo")
    );
    assert!(
        matches!(src("client1").unwrap(), Source::EcsRole { role_name: Some(r), .. } if r == "EcsRamRoleTest")
    );
    assert!(
        matches!(src("client2").unwrap(), Source::AssumeRole { role, .. } if role.session_name == "session_name_example")
    );
    assert!(matches!(src("client3").unwrap(), Source::Oidc { .. }));
    assert!(
        matches!(src("half").unwrap(), Source::Static { credentials, .. } if credentials.access_key_secret.expose() == "quoted-secret-x")
    );
    assert_eq!(
        src("bad").unwrap_err().to_string(),
        "/h/.alibabacloud/credentials.ini: [bad]: type: \"bearer\" is not one of access_key, sts, ecs_ram_role, ram_role_arn, oidc_role_arn, credentials_uri"
    );
    let no_secret = ini(
        "/f.ini",
        "[default]\ntype = access_key\naccess_key_id = foo\n",
    )
    .unwrap();
    assert_eq!(
        ini_source("/f.ini", "default", &no_secret["default"], &env())
            .unwrap_err()
            .to_string(),
        "/f.ini: [default]: access_key_secret: missing (type access_key needs it)"
    );
    assert_eq!(
        ini("/f.ini", "access_key_secret = top-secret\n")
            .unwrap_err()
            .to_string(),
        "/f.ini: line 1: access_key_secret is outside any [section]"
    );
    assert_eq!(
        ini("/f.ini", "[default\n").unwrap_err().to_string(),
        "/f.ini: line 1: a section header must end with ]"
    );
    assert_eq!(
        ini("/f.ini", "[default]\njust-a-secret-line\n")
            .unwrap_err()
            .to_string(),
        "/f.ini: line 2: expected key = value"
    );
}

//! Every source of the Alibaba credential chain against the sandbox's credential services (STS,
//! the ECS metadata service, a credentials URI), in process on a loopback port. The sandbox and
//! the credential provider share a manual clock, so expiry and refresh are exercised without
//! waiting.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use planform_client::credentials::{self, Clock, Env, Source};
use planform_client::{AlibabaClient, AlibabaCredentials, AlibabaOptions, CredentialProvider};
use planform_model::{
    ErrorKind, NewPlan, OperationType, PlanFilter, PlanInputs, PlanService, PlanStatus, Sensitive,
};
use planform_sandbox::server::{serve_on_loopback, AccessKey, ServerConfig};
use planform_sandbox::{
    store::Store, Catalog, Clock as _, ManualClock, Sandbox, Settings, SystemClock,
};

struct Server {
    endpoint: String,
    clock: Arc<ManualClock>,
}

impl Server {
    fn clock(&self) -> Clock {
        let c = self.clock.clone();
        Arc::new(move || c.now_ms())
    }

    fn advance(&self, d: Duration) {
        self.clock.advance(d.as_millis() as u64);
    }
}

/// A server whose issued credentials live `ttl` at most, on a clock that starts at the wall
/// clock's now (so signed dates stay within the 15-minute window) and moves only when told.
async fn start(ttl: Option<Duration>, settings: Settings) -> Server {
    let clock = Arc::new(ManualClock::new(SystemClock.now_ms()));
    let sb = Sandbox::new(Catalog::demo(), settings, clock.clone(), Store::memory()).unwrap();
    let config = ServerConfig {
        keys: vec![AccessKey::parse("testid:testsecret").unwrap()],
        credentials_ttl: ttl,
        ..ServerConfig::default()
    };
    Server {
        endpoint: serve_on_loopback(Arc::new(Mutex::new(sb)), config)
            .await
            .unwrap(),
        clock,
    }
}

fn jwt(exp_ms: u64) -> String {
    let b = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    format!(
        "{}.{}.{}",
        b(r#"{"alg":"RS256","kid":"k"}"#),
        b(&format!(
            r#"{{"iss":"https://token.actions.githubusercontent.com","sub":"repo:acme/infra:ref:refs/heads/main","aud":"sts.aliyuncs.com","exp":{}}}"#,
            exp_ms / 1000
        )),
        b("signature")
    )
}

fn env(server: &Server, pairs: &[(&str, &str)]) -> Env {
    let mut e: Env = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    e.insert("ALIBABA_CLOUD_STS_ENDPOINT".into(), server.endpoint.clone());
    e.insert(
        "PLANFORM_ECS_METADATA_ENDPOINT".into(),
        server.endpoint.clone(),
    );
    e.entry("HOME".into())
        .or_insert_with(|| "/nonexistent".into());
    e
}

fn client(server: &Server, provider: Arc<CredentialProvider>) -> AlibabaClient {
    AlibabaClient::with_provider(
        AlibabaOptions::resolve("cn-hangzhou", Some(&server.endpoint), &BTreeMap::new()),
        provider,
    )
    .unwrap()
}

/// One signed Service Catalog call with the provider's credentials.
async fn works(server: &Server, provider: CredentialProvider) -> Arc<CredentialProvider> {
    let provider = Arc::new(provider);
    let c = client(server, provider.clone());
    c.list_plans(&PlanFilter::default(), 1, 10)
        .await
        .unwrap_or_else(|e| panic!("{}: {e}", provider.source().kind()));
    provider
}

const ROLE: &str = "acs:ram::1234567890123456:role/planform-ci";
const OIDC_PROVIDER: &str = "acs:ram::1234567890123456:oidc-provider/planform-ci";

#[tokio::test]
async fn oidc_role_from_the_environment() {
    let server = start(None, Settings::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, jwt(server.clock.now_ms() + 600_000)).unwrap();
    let e = env(
        &server,
        &[
            ("ALIBABA_CLOUD_ROLE_ARN", ROLE),
            ("ALIBABA_CLOUD_OIDC_PROVIDER_ARN", OIDC_PROVIDER),
            ("ALIBABA_CLOUD_OIDC_TOKEN_FILE", token.to_str().unwrap()),
            ("ALIBABA_CLOUD_ROLE_SESSION_NAME", "github-run-1"),
        ],
    );
    let p = credentials::resolve(&e, None, server.clock())
        .await
        .unwrap();
    assert!(matches!(p.source(), Source::Oidc { .. }));
    assert_eq!(p.origin(), "environment (ALIBABA_CLOUD_OIDC_TOKEN_FILE)");
    let p = works(&server, p).await;
    let c = p.current().await.unwrap();
    assert!(c.access_key_id.starts_with("STS.") && c.security_token.is_some());
}

#[tokio::test]
async fn oidc_errors_name_the_token_file_and_the_refusal() {
    let server = start(None, Settings::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    let shown = token.display().to_string();
    let with = |role: &str, provider: &str| {
        env(
            &server,
            &[
                ("ALIBABA_CLOUD_ROLE_ARN", role),
                ("ALIBABA_CLOUD_OIDC_PROVIDER_ARN", provider),
                ("ALIBABA_CLOUD_OIDC_TOKEN_FILE", token.to_str().unwrap()),
            ],
        )
    };
    let expired = jwt(server.clock.now_ms() - 1_000);
    std::fs::write(&token, &expired).unwrap();
    let e = credentials::resolve(&with(ROLE, OIDC_PROVIDER), None, server.clock())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with(&format!("STS AssumeRoleWithOIDC {ROLE} with the token in {shown}: AuthenticationFail.OIDCToken.Expired")),
        "{e}"
    );
    assert!(!e.contains(&expired));
    std::fs::write(&token, "not a jwt").unwrap();
    let e = credentials::resolve(&with(ROLE, OIDC_PROVIDER), None, server.clock())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains(&shown) && e.contains("AuthenticationFail.OIDCToken.Invalid"),
        "{e}"
    );
    std::fs::write(&token, "").unwrap();
    let e = credentials::resolve(&with(ROLE, OIDC_PROVIDER), None, server.clock())
        .await
        .unwrap_err()
        .to_string();
    assert_eq!(e, format!("{shown}: the OIDC token file is empty"));
    std::fs::write(&token, jwt(server.clock.now_ms() + 600_000)).unwrap();
    let e = credentials::resolve(
        &with("acs:ram::1234567890123456:role/nobody", OIDC_PROVIDER),
        None,
        server.clock(),
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(e.contains("EntityNotExist.Role"), "{e}");
    let e = credentials::resolve(
        &with(ROLE, "acs:ram::1234567890123456:oidc-provider/elsewhere"),
        None,
        server.clock(),
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(e.contains("EntityNotExist.OIDCProvider"), "{e}");
}

/// Writes `~/.aliyun/config.json` with `profiles` and returns the HOME.
fn home_with(profiles: &str) -> tempfile::TempDir {
    let home = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(home.path().join(".aliyun")).unwrap();
    std::fs::write(
        home.path().join(".aliyun/config.json"),
        format!(r#"{{"current": "ci", "profiles": [{profiles}]}}"#),
    )
    .unwrap();
    home
}

#[tokio::test]
async fn cli_profiles_that_assume_roles() {
    let server = start(None, Settings::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, jwt(server.clock.now_ms() + 600_000)).unwrap();
    let home = home_with(&format!(
        r#"{{"name": "base", "mode": "AK", "access_key_id": "testid", "access_key_secret": "testsecret"}},
           {{"name": "ci", "mode": "RamRoleArn", "access_key_id": "testid", "access_key_secret": "testsecret", "ram_role_arn": "{ROLE}", "ram_session_name": "laptop"}},
           {{"name": "chained", "mode": "ChainableRamRoleArn", "source_profile": "ci", "ram_role_arn": "acs:ram::1234567890123456:role/planform-ecs"}},
           {{"name": "oidc", "mode": "OIDC", "ram_role_arn": "{ROLE}", "oidc_provider_arn": "{OIDC_PROVIDER}", "oidc_token_file": "{}"}},
           {{"name": "ecs", "mode": "EcsRamRole", "ram_role_name": "planform-ecs"}},
           {{"name": "uri", "mode": "CredentialsURI", "credentials_uri": "{}/credentials-uri/planform-ci"}},
           {{"name": "wrongkey", "mode": "RamRoleArn", "access_key_id": "testid", "access_key_secret": "not-the-secret", "ram_role_arn": "{ROLE}"}}"#,
        token.display(),
        server.endpoint,
    ));
    let e = env(&server, &[("HOME", home.path().to_str().unwrap())]);
    for (profile, kind) in [
        ("ci", "role acs:ram::1234567890123456:role/planform-ci assumed with access key testid"),
        ("chained", "role acs:ram::1234567890123456:role/planform-ecs assumed with role acs:ram::1234567890123456:role/planform-ci assumed with access key testid"),
        ("oidc", &format!("role {ROLE} assumed with the OIDC token in {}", token.display())),
        ("ecs", "ECS instance RAM role planform-ecs"),
        ("uri", &format!("credentials URI {}/credentials-uri/planform-ci", server.endpoint)),
    ] {
        let p = credentials::resolve(&e, Some(profile), server.clock())
            .await
            .unwrap_or_else(|err| panic!("{profile}: {err}"));
        assert_eq!(p.source().kind(), kind);
        let p = works(&server, p).await;
        assert!(p.current().await.unwrap().access_key_id.starts_with("STS."));
    }
    let mut current = e.clone();
    current.insert("ALIBABA_CLOUD_PROFILE".into(), "ci".into());
    let p = credentials::resolve(&current, None, server.clock())
        .await
        .unwrap();
    assert_eq!(
        p.origin(),
        format!(
            "profile \"ci\" in {}/.aliyun/config.json",
            home.path().display()
        )
    );
    let err = credentials::resolve(&e, Some("wrongkey"), server.clock())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with(&format!("STS AssumeRole {ROLE}: SignatureDoesNotMatch")),
        "{err}"
    );
    assert!(!err.contains("not-the-secret"));
}

#[tokio::test]
async fn the_ini_file_the_instance_role_and_a_credentials_uri() {
    let server = start(None, Settings::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let ini = dir.path().join("credentials.ini");
    std::fs::write(
        &ini,
        format!("[default]\ntype = ram_role_arn\naccess_key_id = testid\naccess_key_secret = testsecret\nrole_arn = {ROLE}\nrole_session_name = ini\n"),
    )
    .unwrap();
    let e = env(
        &server,
        &[("ALIBABA_CLOUD_CREDENTIALS_FILE", ini.to_str().unwrap())],
    );
    let p = credentials::resolve(&e, None, server.clock())
        .await
        .unwrap();
    assert_eq!(p.origin(), format!("[default] in {}", ini.display()));
    works(&server, p).await;

    // No configuration: the metadata service answers (its role found through it), IMDSv2 token first.
    let p = credentials::resolve(&env(&server, &[]), None, server.clock())
        .await
        .unwrap();
    assert_eq!(p.source().kind(), "ECS instance RAM role");
    works(&server, p).await;
    let named = env(&server, &[("ALIBABA_CLOUD_ECS_METADATA", "planform-ecs")]);
    works(
        &server,
        credentials::resolve(&named, None, server.clock())
            .await
            .unwrap(),
    )
    .await;
    let wrong = env(&server, &[("ALIBABA_CLOUD_ECS_METADATA", "not-attached")]);
    let err = credentials::resolve(&wrong, None, server.clock())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(
            "ECS metadata service: HTTP 404: no credentials for the RAM role \"not-attached\""
        ),
        "{err}"
    );

    // The metadata service disabled: the credentials URI is next.
    let uri = env(
        &server,
        &[
            ("ALIBABA_CLOUD_ECS_METADATA_DISABLED", "true"),
            (
                "ALIBABA_CLOUD_CREDENTIALS_URI",
                &format!("{}/credentials-uri/planform-ci", server.endpoint),
            ),
        ],
    );
    let p = credentials::resolve(&uri, None, server.clock())
        .await
        .unwrap();
    assert_eq!(p.origin(), "environment (ALIBABA_CLOUD_CREDENTIALS_URI)");
    works(&server, p).await;
    let none = env(&server, &[("ALIBABA_CLOUD_ECS_METADATA_DISABLED", "true")]);
    let err = credentials::resolve(&none, None, server.clock())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("no Alibaba Cloud credentials")
            && err.contains("the ECS metadata service is disabled"),
        "{err}"
    );
    // Not on ECS (nothing listens): the chain passes on to its end.
    let mut off = env(&server, &[]);
    off.insert(
        "PLANFORM_ECS_METADATA_ENDPOINT".into(),
        "http://127.0.0.1:9".into(),
    );
    let err = credentials::resolve(&off, None, server.clock())
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("no ECS metadata service answered"), "{err}");
}

fn vpc() -> PlanInputs {
    PlanInputs {
        name: "long-apply".into(),
        product_id: "prod-sbxvpc0000001".into(),
        product_version_id: "pv-sbxvpc0000001".into(),
        provisioned_product_name: "long-apply".into(),
        stack_region_id: Some("cn-hangzhou".into()),
        parameters: [("cidr_block".to_string(), "10.0.0.0/16".to_string())].into(),
        ..PlanInputs::default()
    }
}

/// A plan whose preview and execution take a minute each on the sandbox's clock, by STS
/// credentials that live 60 seconds: the provider refreshes them on the way, the apply succeeds,
/// and the first credentials are refused once expired (so the refresh was needed).
#[tokio::test]
async fn a_token_that_expires_during_a_two_minute_apply_is_refreshed() {
    let server = start(
        Some(Duration::from_secs(60)),
        Settings {
            preview_ms: 60_000,
            execute_ms: 60_000,
            ..Settings::default()
        },
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, jwt(server.clock.now_ms() + 3_600_000)).unwrap();
    let e = env(
        &server,
        &[
            ("ALIBABA_CLOUD_ROLE_ARN", ROLE),
            ("ALIBABA_CLOUD_OIDC_PROVIDER_ARN", OIDC_PROVIDER),
            ("ALIBABA_CLOUD_OIDC_TOKEN_FILE", token.to_str().unwrap()),
        ],
    );
    let provider = Arc::new(
        credentials::resolve(&e, None, server.clock())
            .await
            .unwrap(),
    );
    let first = provider.current().await.unwrap();
    let c = client(&server, provider.clone());
    let plan = c
        .create_plan(&NewPlan {
            inputs: vpc(),
            operation_type: OperationType::LaunchProduct,
            idempotency_token: "t".into(),
        })
        .await
        .unwrap();
    let mut keys = vec![first.access_key_id.clone()];
    let mut executed = false;
    for _ in 0..20 {
        server.advance(Duration::from_secs(15));
        let live = c.get_plan(&plan.id).await.unwrap();
        let now = provider.current().await.unwrap().access_key_id.clone();
        if keys.last() != Some(&now) {
            keys.push(now);
        }
        match live.status {
            PlanStatus::PreviewSuccess if !executed => {
                c.execute_plan(&plan.id).await.unwrap();
                executed = true;
            }
            PlanStatus::ExecuteSuccess => break,
            s => assert!(s.in_progress(), "{live:?}"),
        }
    }
    assert_eq!(
        c.get_plan(&plan.id).await.unwrap().status,
        PlanStatus::ExecuteSuccess
    );
    assert!(keys.len() >= 4, "refreshed every half-minute: {keys:?}");
    let stale = AlibabaClient::new(
        AlibabaOptions::resolve("cn-hangzhou", Some(&server.endpoint), &BTreeMap::new()),
        AlibabaCredentials::clone(&first),
    )
    .unwrap();
    let refused = stale.get_plan(&plan.id).await.unwrap_err();
    assert_eq!(
        (refused.kind, refused.code.as_str()),
        (ErrorKind::Auth, "InvalidSecurityToken.Expired")
    );
}

#[tokio::test]
async fn issued_credentials_need_their_token() {
    let server = start(None, Settings::default()).await;
    let named = env(&server, &[("ALIBABA_CLOUD_ECS_METADATA", "planform-ecs")]);
    let p = credentials::resolve(&named, None, server.clock())
        .await
        .unwrap();
    let issued = p.current().await.unwrap();
    let mut tokenless = AlibabaCredentials::clone(&issued);
    tokenless.security_token = None;
    let c = AlibabaClient::new(
        AlibabaOptions::resolve("cn-hangzhou", Some(&server.endpoint), &BTreeMap::new()),
        tokenless,
    )
    .unwrap();
    let e = c
        .list_plans(&PlanFilter::default(), 1, 10)
        .await
        .unwrap_err();
    assert_eq!(e.code, "MissingSecurityToken");
    let mut forged = AlibabaCredentials::clone(&issued);
    forged.security_token = Some(Sensitive::new("CAISforged".into()));
    let c = AlibabaClient::new(
        AlibabaOptions::resolve("cn-hangzhou", Some(&server.endpoint), &BTreeMap::new()),
        forged,
    )
    .unwrap();
    let e = c
        .list_plans(&PlanFilter::default(), 1, 10)
        .await
        .unwrap_err();
    assert_eq!(e.code, "InvalidSecurityToken.Malformed");
}

//! Credentials without long-lived keys, end to end: the real `planform` against a real
//! `planform sandbox serve` whose STS, metadata service and credentials URI issue the
//! credentials. Issued credentials live 2 seconds here (`PLANFORM_SANDBOX_CREDENTIALS_TTL_SECONDS`)
//! and the execution takes 3: the apply crosses an expiry and must refresh. That is the one real
//! wait (a separate process has no clock to share); the clock-driven version of this test, over a
//! simulated two-minute apply, is `crates/client/tests/credentials_against_sandbox.rs`.

use base64::Engine;
use planform_testkit::sandbox::Served;

use crate::{Run, Workspace};

/// [`crate::sandbox`] issuing credentials that live `ttl_seconds`, executing plans in
/// `execute_ms`.
pub fn serve(ttl_seconds: u64, execute_ms: u64) -> Served {
    crate::sandbox()
        .execute_ms(execute_ms)
        .env(
            "PLANFORM_SANDBOX_CREDENTIALS_TTL_SECONDS",
            &ttl_seconds.to_string(),
        )
        .start()
}

/// An OIDC token as CI systems issue them (the sandbox checks its claims, not its signature).
pub fn jwt() -> String {
    let b = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    let exp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 3600;
    format!(
        "{}.{}.{}",
        b(r#"{"alg":"RS256"}"#),
        b(&format!(
            r#"{{"iss":"https://gitlab.example","sub":"project_path:acme/infra:ref_type:branch:ref:main","aud":"sts","exp":{exp}}}"#
        )),
        b("sig")
    )
}

fn plan(provider: &str) -> String {
    format!(
        r#"
{provider}

plan "network" {{
  name                     = "vpc-creds"
  product_id               = "prod-sbxvpc0000001"
  product_version_id       = "pv-sbxvpc0000001"
  provisioned_product_name = "vpc-creds"
  parameters               = {{ cidr_block = "10.0.0.0/16" }}
  execute                  = true
}}
"#
    )
}

/// A workspace with the VPC plan through the `alibaba` provider at `server`.
fn alibaba_workspace(server: &Served) -> Workspace {
    workspace_with(&format!(
        "provider \"alibaba\" {{\n  region   = \"cn-hangzhou\"\n  endpoint = \"{}\"\n}}",
        server.endpoint
    ))
}

/// A workspace with the VPC plan through the `aws` provider at `server`.
fn aws_workspace(server: &Served) -> Workspace {
    workspace_with(&format!(
        "provider \"aws\" {{\n  region   = \"us-east-1\"\n  endpoint = \"{}\"\n}}",
        server.endpoint
    ))
}

fn workspace_with(provider: &str) -> Workspace {
    let w = Workspace::new();
    w.write("main.hcl", &plan(provider));
    w
}

/// `planform` with no credential but what `vars` give (and nothing from the caller's HOME).
fn run(w: &Workspace, args: &[&str], vars: &[(&str, &str)]) -> Run {
    let mut c = w.command(args);
    for (k, _) in std::env::vars() {
        if k.starts_with("ALIBABA_CLOUD_") || k.starts_with("AWS_") {
            c.env_remove(k);
        }
    }
    c.env("HOME", w.path())
        .env("ALIBABA_CLOUD_ECS_METADATA_DISABLED", "true")
        .env("AWS_EC2_METADATA_DISABLED", "true");
    for (k, v) in vars {
        c.env(k, v);
    }
    Run::from(c.output().unwrap())
}

#[test]
fn alibaba_oidc_credentials_expire_during_an_apply_and_are_refreshed() {
    let server = serve(2, 3000);
    let w = alibaba_workspace(&server);
    w.write("token", &jwt());
    let token = w.path().join("token");
    let vars = [
        (
            "ALIBABA_CLOUD_ROLE_ARN",
            "acs:ram::1234567890123456:role/planform-ci",
        ),
        (
            "ALIBABA_CLOUD_OIDC_PROVIDER_ARN",
            "acs:ram::1234567890123456:oidc-provider/planform-ci",
        ),
        ("ALIBABA_CLOUD_OIDC_TOKEN_FILE", token.to_str().unwrap()),
        ("ALIBABA_CLOUD_STS_ENDPOINT", server.endpoint.as_str()),
    ];
    let applied = run(&w, &["apply", "--auto-approve"], &vars).expect(0);
    assert!(
        applied.stdout.contains("Apply complete! 1 done"),
        "{}",
        applied.stdout
    );
    run(&w, &["plan", "--detailed-exitcode"], &vars).expect(0);

    // A partial OIDC set is an error, not a fall-through to another source.
    let partial = run(&w, &["plan"], &vars[..2]).expect(1);
    assert!(
        partial.stderr.contains("an OIDC role needs ALIBABA_CLOUD_ROLE_ARN, ALIBABA_CLOUD_OIDC_PROVIDER_ARN and ALIBABA_CLOUD_OIDC_TOKEN_FILE")
            && partial.stderr.contains("ALIBABA_CLOUD_OIDC_TOKEN_FILE not"),
        "{}",
        partial.stderr
    );
}

#[test]
fn broken_credential_files_are_clear_errors_that_keep_the_secret() {
    let server = serve(3600, 40);
    let w = alibaba_workspace(&server);
    std::fs::create_dir_all(w.path().join(".aliyun")).unwrap();
    let config = w.path().join(".aliyun/config.json");
    let shown = config.display().to_string();
    let cases = [
        (
            r#"{"current": "ci", "profiles": [{"name": "ci", "mode": "AK", "access_key_id": "e2eid", "access_key_secret": "e2esecret""#,
            format!("{shown}: not valid JSON"),
        ),
        (
            r#"{"current": "ci", "profiles": [{"name": "ci", "mode": "StsToken", "access_key_id": "e2eid", "access_key_secret": "e2esecret", "sts_token": "tok-e2e", "sts_expiration": 1600000000}]}"#,
            format!("{shown}: profile \"ci\": sts_expiration: the STS token expired at 2020-09-13T12:26:40Z"),
        ),
        (
            r#"{"current": "ci", "profiles": [{"name": "ci", "mode": "RamRoleArn", "access_key_id": "e2eid", "access_key_secret": "e2esecret"}]}"#,
            format!("{shown}: profile \"ci\": ram_role_arn: missing"),
        ),
        (
            r#"{"current": "ci", "profiles": [{"name": "ci", "mode": "AK", "access_key_id": "e2eid", "access_key_secret": "wrong-e2e-secret"}]}"#,
            "SignatureDoesNotMatch".to_string(),
        ),
    ];
    for (text, expected) in cases {
        std::fs::write(&config, text).unwrap();
        let r = run(&w, &["plan"], &[]).expect(1);
        assert!(r.stderr.contains(&expected), "{expected}\n{}", r.stderr);
        for secret in ["e2esecret", "tok-e2e", "wrong-e2e-secret"] {
            assert!(
                !r.stderr.contains(secret) && !r.stdout.contains(secret),
                "{}",
                r.stderr
            );
        }
    }
    std::fs::write(
        &config,
        r#"{"current": "ci", "profiles": [{"name": "ci", "mode": "AK", "access_key_id": "e2eid", "access_key_secret": "e2esecret"}]}"#,
    )
    .unwrap();
    run(&w, &["plan", "--detailed-exitcode"], &[]).expect(2);
    let ini = w.path().join("credentials.ini");
    std::fs::write(
        &ini,
        "[default]\ntype = access_key\naccess_key_id = e2eid\n",
    )
    .unwrap();
    let r = run(
        &w,
        &["plan"],
        &[
            ("ALIBABA_CLOUD_CLI_PROFILE_DISABLED", "true"),
            ("ALIBABA_CLOUD_CREDENTIALS_FILE", ini.to_str().unwrap()),
        ],
    )
    .expect(1);
    assert!(
        r.stderr.contains(&format!(
            "{}: [default]: access_key_secret: missing (type access_key needs it)",
            ini.display()
        )),
        "{}",
        r.stderr
    );
}

#[test]
fn aws_web_identity_through_the_sdk_default_chain() {
    let server = serve(3600, 40);
    let w = aws_workspace(&server);
    w.write("token", &jwt());
    let token = w.path().join("token");
    let vars = [
        ("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/planform-ci"),
        ("AWS_WEB_IDENTITY_TOKEN_FILE", token.to_str().unwrap()),
        ("AWS_ROLE_SESSION_NAME", "ci-run"),
        ("AWS_ENDPOINT_URL_STS", server.endpoint.as_str()),
        ("AWS_REGION", "us-east-1"),
    ];
    let applied = run(&w, &["apply", "--auto-approve"], &vars).expect(0);
    assert!(
        applied.stdout.contains("Apply complete! 1 done"),
        "{}",
        applied.stdout
    );
    run(&w, &["plan", "--detailed-exitcode"], &vars).expect(0);
    // A role the account does not have: STS refuses, planform says so.
    let mut wrong = vars;
    wrong[0].1 = "arn:aws:iam::123456789012:role/nobody";
    let r = run(&w, &["plan"], &wrong).expect(1);
    assert!(
        r.stderr.contains(&format!(
            "CredentialsRefused: the AWS credentials from web identity (AWS_ROLE_ARN arn:aws:iam::123456789012:role/nobody, the token in AWS_WEB_IDENTITY_TOKEN_FILE {}) were refused",
            token.display()
        )) && r.stderr.contains("AccessDenied")
            && r.stderr
                .contains("Not authorized to perform sts:AssumeRoleWithWebIdentity"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("NetworkError"), "{}", r.stderr);
}

#[test]
fn aws_profiles_from_the_shared_config_and_credentials_files() {
    let server = serve(3600, 40);
    let w = aws_workspace(&server);
    w.write("token", &jwt());
    let token = w.path().join("token");
    w.write(
        "aws-config",
        &format!(
            "[profile ci]\nregion = us-east-1\n\n\
             [profile oidc]\nrole_arn = arn:aws:iam::123456789012:role/planform-plan\n\
             web_identity_token_file = {}\nrole_session_name = ci-run\n",
            token.display()
        ),
    );
    w.write(
        "aws-credentials",
        "[ci]\naws_access_key_id = e2eid\naws_secret_access_key = e2esecret\n\n\
         [wrong]\naws_access_key_id = e2eid\naws_secret_access_key = not-the-e2e-secret\n",
    );
    let config = w.path().join("aws-config");
    let credentials = w.path().join("aws-credentials");
    let files = |profile: &'static str| {
        [
            ("AWS_CONFIG_FILE", config.to_str().unwrap().to_string()),
            (
                "AWS_SHARED_CREDENTIALS_FILE",
                credentials.to_str().unwrap().to_string(),
            ),
            ("AWS_PROFILE", profile.to_string()),
            ("AWS_ENDPOINT_URL_STS", server.endpoint.clone()),
        ]
    };
    let vars = |f: &[(&'static str, String)]| -> Vec<(&'static str, String)> { f.to_vec() };
    let run_with = |args: &[&str], f: &[(&'static str, String)]| {
        let owned = vars(f);
        let pairs: Vec<(&str, &str)> = owned.iter().map(|(k, v)| (*k, v.as_str())).collect();
        run(&w, args, &pairs)
    };
    // AWS_PROFILE with keys in the credentials file: plan and apply sign with them.
    run_with(&["apply", "--auto-approve"], &files("ci")).expect(0);
    run_with(&["plan", "--detailed-exitcode"], &files("ci")).expect(0);
    // A profile that assumes a role with a web identity token (STS through the sandbox).
    run_with(&["plan", "--detailed-exitcode"], &files("oidc")).expect(0);
    // A wrong secret in the profile: the cloud refuses the signature; the secret never shows.
    let r = run_with(&["plan"], &files("wrong")).expect(1);
    assert!(
        r.stderr.contains("InvalidSignatureException"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("not-the-e2e-secret"), "{}", r.stderr);
}

/// The SSO portal's GetRoleCredentials (`GET /federation/credentials`), played by a local
/// server that checks the cached token, the account and the role, and hands out the sandbox's key.
fn fake_sso_portal(calls: std::sync::Arc<std::sync::Mutex<Vec<String>>>) -> fake_http::FakeHttp {
    fake_http::FakeHttp::serve(move |req| {
        let token = req.headers.get("x-amz-sso_bearer_token").cloned();
        calls.lock().unwrap().push(format!(
            "{} {} account={} role={} token={}",
            req.method,
            req.path,
            req.query.get("account_id").cloned().unwrap_or_default(),
            req.query.get("role_name").cloned().unwrap_or_default(),
            token.clone().unwrap_or_default()
        ));
        if req.path != "/federation/credentials" {
            return (404, br#"{"message":"Not Found"}"#.to_vec());
        }
        if token.as_deref() != Some("sso-access-token") {
            return (
                401,
                br#"{"message":"Session token not found or invalid"}"#.to_vec(),
            );
        }
        if req.query.get("account_id").map(String::as_str) != Some("123456789012")
            || req.query.get("role_name").map(String::as_str) != Some("planform-plan")
        {
            return (403, br#"{"message":"No access"}"#.to_vec());
        }
        let expiration = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis()
            + 3_600_000;
        (
            200,
            format!(
                r#"{{"roleCredentials":{{"accessKeyId":"e2eid","secretAccessKey":"e2esecret","expiration":{expiration}}}}}"#
            )
            .into_bytes(),
        )
    })
}

#[test]
fn aws_sso_profile_with_a_cached_token() {
    let server = serve(3600, 40);
    let w = aws_workspace(&server);
    let calls = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let portal = fake_sso_portal(calls.clone());
    w.write(
        "aws-config",
        "[profile sso]\nsso_session = corp\nsso_account_id = 123456789012\n\
         sso_role_name = planform-plan\nregion = us-east-1\n\n\
         [sso-session corp]\nsso_start_url = https://corp.awsapps.com/start\n\
         sso_region = us-east-1\nsso_registration_scopes = sso:account:access\n",
    );
    // `aws sso login` caches the token under ~/.aws/sso/cache/<sha1 of the session name>.json.
    let cache = w.path().join(".aws/sso/cache");
    std::fs::create_dir_all(&cache).unwrap();
    let cached = cache.join("ee0bfd2552fbd840c02cc48b6e823320543c450f.json"); // sha1("corp")
    let token = |expires: &str| {
        format!(
            r#"{{"accessToken": "sso-access-token", "expiresAt": "{expires}", "region": "us-east-1", "startUrl": "https://corp.awsapps.com/start"}}"#
        )
    };
    std::fs::write(&cached, token("2099-01-01T00:00:00Z")).unwrap();
    let config = w.path().join("aws-config");
    let vars = [
        ("AWS_CONFIG_FILE", config.to_str().unwrap()),
        ("AWS_PROFILE", "sso"),
        ("AWS_ENDPOINT_URL_SSO", portal.url.as_str()),
    ];
    run(&w, &["plan", "--detailed-exitcode"], &vars).expect(2);
    assert_eq!(
        calls.lock().unwrap().first().map(String::as_str),
        Some("GET /federation/credentials account=123456789012 role=planform-plan token=sso-access-token"),
        "{:?}",
        calls.lock().unwrap()
    );
    // An expired cached token (and no refresh token): `aws sso login` again. planform names the
    // profile whose source refused, as an auth error.
    std::fs::write(&cached, token("2020-01-01T00:00:00Z")).unwrap();
    let r = run(&w, &["plan"], &vars).expect(1);
    assert!(
        r.stderr
            .contains("CredentialsRefused: the AWS credentials from profile \"sso\"")
            && r.stderr.contains("were refused"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("sso-access-token"), "{}", r.stderr);
}

/// A small HTTP/1.1 server on a local port for the services a test plays (GitLab's API, the AWS
/// SSO portal): each request is answered by a handler, one connection per request.
pub mod fake_http {
    use std::collections::BTreeMap;
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::{TcpListener, TcpStream};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    pub struct FakeHttp {
        /// `http://127.0.0.1:PORT`
        pub url: String,
        stop: Arc<AtomicBool>,
        thread: Option<std::thread::JoinHandle<()>>,
    }

    impl FakeHttp {
        /// Serves `handler`'s answers (status, JSON body) until dropped.
        pub fn serve(handler: impl Fn(&Request) -> (u16, Vec<u8>) + Send + 'static) -> FakeHttp {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let url = format!("http://{}", listener.local_addr().unwrap());
            let stop = Arc::new(AtomicBool::new(false));
            let stopped = stop.clone();
            let thread = std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stopped.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(mut stream) = stream else { continue };
                    if let Some(req) = read_request(&mut stream) {
                        let (status, body) = handler(&req);
                        respond(&mut stream, status, &body);
                    }
                }
            });
            FakeHttp {
                url,
                stop,
                thread: Some(thread),
            }
        }
    }

    impl Drop for FakeHttp {
        fn drop(&mut self) {
            self.stop.store(true, Ordering::SeqCst);
            let _ = TcpStream::connect(self.url.trim_start_matches("http://"));
            if let Some(t) = self.thread.take() {
                let _ = t.join();
            }
        }
    }

    pub fn percent_decode(s: &str) -> String {
        let b = s.as_bytes();
        let mut out = Vec::with_capacity(b.len());
        let mut i = 0;
        while i < b.len() {
            match b[i] {
                b'%' if i + 2 < b.len() => {
                    let hex = std::str::from_utf8(&b[i + 1..i + 3]).unwrap();
                    out.push(u8::from_str_radix(hex, 16).unwrap());
                    i += 3;
                }
                b'+' => {
                    out.push(b' ');
                    i += 1;
                }
                c => {
                    out.push(c);
                    i += 1;
                }
            }
        }
        String::from_utf8(out).unwrap()
    }

    /// `a=1&b=2` (a query or a form body), decoded.
    pub fn form(s: &str) -> BTreeMap<String, String> {
        s.split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                (percent_decode(k), percent_decode(v))
            })
            .collect()
    }

    pub struct Request {
        pub method: String,
        pub path: String,
        pub query: BTreeMap<String, String>,
        /// Header names in lower case.
        pub headers: BTreeMap<String, String>,
        pub body: Vec<u8>,
    }

    fn read_request(stream: &mut TcpStream) -> Option<Request> {
        let mut reader = BufReader::new(stream.try_clone().ok()?);
        let mut line = String::new();
        reader.read_line(&mut line).ok()?;
        let mut parts = line.split_whitespace();
        let method = parts.next()?.to_string();
        let target = parts.next()?.to_string();
        let mut headers = BTreeMap::new();
        loop {
            let mut h = String::new();
            reader.read_line(&mut h).ok()?;
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
            }
        }
        if headers
            .get("expect")
            .is_some_and(|e| e.eq_ignore_ascii_case("100-continue"))
        {
            stream.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").ok()?;
        }
        let length: usize = headers
            .get("content-length")
            .map(|l| l.parse().unwrap())
            .unwrap_or(0);
        let mut body = vec![0; length];
        reader.read_exact(&mut body).ok()?;
        let (path, query) = target.split_once('?').unwrap_or((&target, ""));
        Some(Request {
            method,
            path: path.to_string(),
            query: form(query),
            headers,
            body,
        })
    }

    fn respond(stream: &mut TcpStream, status: u16, body: &[u8]) {
        let head = format!(
            "HTTP/1.1 {status} {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            if status < 300 { "OK" } else { "Error" },
            body.len()
        );
        let _ = stream.write_all(head.as_bytes());
        let _ = stream.write_all(body);
    }
}

/// A workspace whose `aws` provider has `settings` (no region unless they give one) at `server`.
fn aws_workspace_with(server: &Served, settings: &str) -> Workspace {
    workspace_with(&format!(
        "provider \"aws\" {{\n  {settings}\n  endpoint = \"{}\"\n}}",
        server.endpoint
    ))
}

/// The files of the second trial's repro: keys of the sandbox in `[ci]`, its region in the
/// config file; the paths, as (config, credentials).
fn ci_profile_files(w: &Workspace) -> (String, String) {
    w.write(
        "aws-config",
        "[profile ci]\nregion = us-east-1\n\n[profile wrong]\nregion = us-east-1\n",
    );
    w.write(
        "aws-credentials",
        "[ci]\naws_access_key_id = e2eid\naws_secret_access_key = e2esecret\n\n\
         [wrong]\naws_access_key_id = e2eid\naws_secret_access_key = not-the-e2e-secret\n",
    );
    let path = |f: &str| w.path().join(f).display().to_string();
    (path("aws-config"), path("aws-credentials"))
}

#[test]
fn aws_a_profile_the_files_lack_is_named_before_any_request() {
    let server = serve(3600, 40);
    let w = aws_workspace_with(&server, "");
    let (config, credentials) = ci_profile_files(&w);
    let files = [
        ("AWS_CONFIG_FILE", config.as_str()),
        ("AWS_SHARED_CREDENTIALS_FILE", credentials.as_str()),
    ];
    let with = |extra: &[(&'static str, &'static str)]| {
        let mut v = files.to_vec();
        v.extend_from_slice(extra);
        v
    };
    run(
        &w,
        &["plan", "--detailed-exitcode"],
        &with(&[("AWS_PROFILE", "ci")]),
    )
    .expect(2);
    // A typo in AWS_PROFILE, with or without keys in the environment (the AWS CLI refuses both).
    for extra in [
        vec![("AWS_PROFILE", "nosuch")],
        vec![
            ("AWS_PROFILE", "nosuch"),
            ("AWS_ACCESS_KEY_ID", "e2eid"),
            ("AWS_SECRET_ACCESS_KEY", "e2esecret"),
            ("AWS_REGION", "us-east-1"),
        ],
    ] {
        let r = run(&w, &["plan"], &with(&extra)).expect(1);
        assert!(
            r.stderr.contains(&format!(
                "error: provider aws: profile \"nosuch\" (named by AWS_PROFILE) was not found in {config} or {credentials}"
            )),
            "{}",
            r.stderr
        );
        assert!(!r.stderr.contains("IMDS"), "{}", r.stderr);
        assert!(!r.stderr.contains("e2esecret"), "{}", r.stderr);
    }
    // A typo in the manifest's profile.
    w.write(
        "main.hcl",
        &plan(&format!(
            "provider \"aws\" {{\n  profile  = \"cii\"\n  endpoint = \"{}\"\n}}",
            server.endpoint
        )),
    );
    let r = run(&w, &["plan"], &files).expect(1);
    assert!(
        r.stderr.contains(&format!(
            "error: provider aws: profile \"cii\" (named by the provider's `profile`) was not found in {config} or {credentials}"
        )),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("CredentialsRefused"), "{}", r.stderr);
}

#[test]
fn aws_no_credentials_at_all_names_the_sources_tried() {
    let server = serve(3600, 40);
    let w = aws_workspace(&server);
    // An instance metadata service that refuses, as this trial machine's did (off EC2 nothing
    // answers; either way there are no credentials).
    let asked = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = asked.clone();
    let imds = fake_http::FakeHttp::serve(move |req| {
        seen.lock()
            .unwrap()
            .push(format!("{} {}", req.method, req.path));
        (403, Vec::new())
    });
    let home = w.path().display().to_string();
    let r = run(
        &w,
        &["plan"],
        &[
            ("AWS_EC2_METADATA_DISABLED", "false"),
            ("AWS_EC2_METADATA_SERVICE_ENDPOINT", imds.url.as_str()),
        ],
    )
    .expect(1);
    assert!(
        r.stderr.contains(&format!(
            "error: refresh of provider aws: NoCredentials: no AWS credentials: tried the environment \
             (AWS_ACCESS_KEY_ID is not set), profile \"default\" (not in {home}/.aws/config or \
             {home}/.aws/credentials), web identity (AWS_WEB_IDENTITY_TOKEN_FILE is not set), the \
             container endpoint (AWS_CONTAINER_CREDENTIALS_* are not set), the EC2 instance metadata \
             service: "
        )),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("CredentialsRefused"), "{}", r.stderr);
    assert!(
        asked
            .lock()
            .unwrap()
            .iter()
            .any(|a| a == "PUT /latest/api/token"),
        "{:?}",
        asked.lock().unwrap()
    );
}

#[test]
fn aws_no_region_anywhere_is_a_configuration_error() {
    let server = serve(3600, 40);
    let w = aws_workspace_with(&server, "");
    let (config, credentials) = ci_profile_files(&w);
    w.write("aws-config", "[profile ci]\noutput = json\n");
    let r = run(
        &w,
        &["plan"],
        &[
            ("AWS_ACCESS_KEY_ID", "e2eid"),
            ("AWS_SECRET_ACCESS_KEY", "e2esecret"),
        ],
    )
    .expect(1);
    let expected =
        "error: provider aws: no region (set `region`, AWS_REGION or the profile's region)";
    assert!(r.stderr.contains(expected), "{}", r.stderr);
    assert!(!r.stderr.contains("NetworkError"), "{}", r.stderr);
    // The same through a profile that has keys but no region.
    let r = run(
        &w,
        &["plan"],
        &[
            ("AWS_CONFIG_FILE", config.as_str()),
            ("AWS_SHARED_CREDENTIALS_FILE", credentials.as_str()),
            ("AWS_PROFILE", "ci"),
        ],
    )
    .expect(1);
    assert!(r.stderr.contains(expected), "{}", r.stderr);
}

#[test]
fn aws_the_provider_profile_beats_keys_in_the_environment() {
    let server = serve(3600, 40);
    let w = aws_workspace_with(&server, "profile  = \"ci\"");
    let (config, credentials) = ci_profile_files(&w);
    let files = [
        ("AWS_CONFIG_FILE", config.as_str()),
        ("AWS_SHARED_CREDENTIALS_FILE", credentials.as_str()),
    ];
    // Stale keys in the environment: the manifest's profile is used (its region too).
    let mut stale = files.to_vec();
    stale.extend([
        ("AWS_ACCESS_KEY_ID", "stale-id"),
        ("AWS_SECRET_ACCESS_KEY", "stale-secret"),
    ]);
    run(&w, &["plan", "--detailed-exitcode"], &stale).expect(2);
    // Keys the sandbox accepts in the environment, a profile with a wrong secret in the manifest:
    // the profile is still what signs, so the cloud refuses.
    w.write(
        "main.hcl",
        &plan(&format!(
            "provider \"aws\" {{\n  profile  = \"wrong\"\n  endpoint = \"{}\"\n}}",
            server.endpoint
        )),
    );
    let mut good = files.to_vec();
    good.extend([
        ("AWS_ACCESS_KEY_ID", "e2eid"),
        ("AWS_SECRET_ACCESS_KEY", "e2esecret"),
    ]);
    let r = run(&w, &["plan"], &good).expect(1);
    assert!(
        r.stderr.contains("InvalidSignatureException"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("not-the-e2e-secret"), "{}", r.stderr);
}

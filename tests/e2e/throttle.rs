//! A throttling cloud (trial finding 10): `sandbox serve --throttle-rps` against an apply of a
//! dozen independent plans with default retry settings.

use crate::Workspace;

fn twelve(endpoint: &str) -> String {
    format!(
        r#"
provider "alibaba" {{
  region   = "cn-hangzhou"
  endpoint = "{endpoint}"
}}

plan "net" {{
  count                    = 12
  name                     = "thr-${{count.index}}"
  product_id               = "prod-sbxvpc0000001"
  product_version_id       = "pv-sbxvpc0000001"
  provisioned_product_name = "thr-${{count.index}}"
  parameters               = {{ cidr_block = "10.${{count.index}}.0.0/16" }}
  execute                  = true
}}
"#
    )
}

/// Polls, creates and executions that the cloud throttles past the client's five attempts are
/// looked at or sent again later, all holding off together: no plan fails (with the binary
/// before this, 4 to 8 of the 12 failed `Throttling.User`; updates are covered in the engine's
/// `a_throttling_cloud_fails_no_plan_of_an_apply`, which injects the throttle deterministically).
#[test]
fn a_throttling_endpoint_fails_no_plan_of_an_apply() {
    let server = crate::server::serve(&["--throttle-rps", "10"]);
    let w = Workspace::new();
    let apply = |w: &Workspace| {
        let mut c = w.command(&["apply", "--auto-approve"]);
        c.env("ALIBABA_CLOUD_ACCESS_KEY_ID", "e2eid")
            .env("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "e2esecret")
            .env("HOME", w.path());
        crate::Run::from(c.output().unwrap())
    };
    w.write("main.hcl", &twelve(&server.endpoint));
    let launched = apply(&w).expect(0);
    assert!(
        launched.stdout.contains("12 done, 0 failed"),
        "{}",
        launched.stdout
    );
}

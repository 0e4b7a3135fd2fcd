//! The plan file's codec: [`PlanFile`], a saved change set (`plan --out`) stamped with the
//! state's lineage and serial, the live plans' fingerprints and the provider configurations, so
//! `apply PLANFILE` runs exactly what was reviewed, or refuses when the state or the cloud moved
//! since; and its stored form `PlanFileV1`, JSON text.
//!
//! Plain data, no I/O: [`encode`] and [`decode`] turn one into the other. The CLI's edge
//! (`crates/cli/src/planfile.rs`) reads and writes the file, seals it in an encryption envelope,
//! and refuses to save [`sensitive_values`] without encryption.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use planform_model::{
    Address, AddressParseError, PlanInputs, PlanStatus, ProviderConfig, ProviderRef, Timeouts,
};
use planform_state::StoredInputs;
use serde::{Deserialize, Serialize};

use crate::{Action, AttrDiff, Change, ChangeSet, Fingerprint, Termination};

/// The plan file version this planform writes and reads.
pub const VERSION: u32 = 1;

/// A plan file's contents, in domain types.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanFile {
    pub workspace: String,
    pub state_path: String,
    pub lineage: String,
    pub serial: u64,
    pub changes: ChangeSet,
    pub fingerprints: BTreeMap<Address, Fingerprint>,
    pub providers: Vec<ProviderConfig>,
    /// Made by `plan --refresh-only`: no change to the cloud, only the refresh to record.
    pub refresh_only: bool,
    /// The digest of the manifests and variable files it was made from
    /// (`planform_manifest::sources_digest`); `None` in files made before it was recorded.
    pub manifests: Option<String>,
}

/// Why a text is not a plan file this planform reads. The messages follow the file's name
/// (`changes.plan is not a planform plan file: …`), except the last two, which name the value.
#[derive(Debug, thiserror::Error)]
pub enum PlanFileError {
    #[error("is not a planform plan file: {0}")]
    NotJson(serde_json::Error),
    #[error("is not a planform plan file (no version)")]
    NoVersion,
    #[error("has plan file version {found}; this planform reads version {VERSION}")]
    Version { found: u64 },
    #[error("is not a valid plan file: {0}")]
    Invalid(serde_json::Error),
    #[error(transparent)]
    Address(#[from] AddressParseError),
    #[error("unknown provider {0}")]
    UnknownProvider(String),
}

impl PlanFileError {
    /// Whether the message reads after the file's name (`FILE is not a planform plan file`)
    /// rather than on its own (`invalid address "…"`, `unknown provider …`).
    pub fn follows_file_name(&self) -> bool {
        !matches!(
            self,
            PlanFileError::Address(_) | PlanFileError::UnknownProvider(_)
        )
    }
}

/// The sensitive values a change set holds, as `ADDR.parameters["KEY"]`: what a plan file
/// would have to keep.
pub fn sensitive_values(changes: &ChangeSet) -> Vec<String> {
    let mut out = Vec::new();
    for c in &changes.changes {
        for k in &c.sensitive_parameters {
            let held = [&c.before, &c.after]
                .into_iter()
                .flatten()
                .any(|i| i.parameters.contains_key(k));
            if held {
                out.push(format!("{}.parameters[{k:?}]", c.address));
            }
        }
    }
    out
}

/// `p` as the JSON text of a plan file (version [`VERSION`]), sensitive values included: the
/// caller decides whether it may be stored as it is.
pub fn encode(p: &PlanFile) -> String {
    let file = PlanFileV1 {
        version: VERSION,
        workspace: p.workspace.clone(),
        state_path: p.state_path.clone(),
        lineage: p.lineage.clone(),
        serial: p.serial,
        moved: p
            .changes
            .moved
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect(),
        changes: p
            .changes
            .changes
            .iter()
            .map(|c| ChangeV1 {
                address: c.address.to_string(),
                provider: c.provider.to_string(),
                action: action_v1(&c.action),
                reason: c.reason.clone(),
                before: c.before.as_ref().map(StoredInputs::from),
                after: c.after.as_ref().map(StoredInputs::from),
                diffs: c
                    .diffs
                    .iter()
                    .map(|d| DiffV1 {
                        path: d.path.clone(),
                        before: d.before.clone(),
                        after: d.after.clone(),
                        sensitive: d.sensitive,
                        forces_replacement: d.forces_replacement,
                    })
                    .collect(),
                sensitive_parameters: c.sensitive_parameters.clone(),
                live_plan_id: c.live_plan_id.clone(),
                live_status: c.live_status.map(|s| s.as_str().to_string()),
                after_addresses: c.after_addresses.iter().map(|a| a.to_string()).collect(),
                depends_on: c.depends_on.iter().map(|a| a.to_string()).collect(),
                idempotency_token: c.idempotency_token.clone(),
                timeouts_secs: [
                    c.timeouts.preview.as_secs(),
                    c.timeouts.approval.as_secs(),
                    c.timeouts.execute.as_secs(),
                ],
            })
            .collect(),
        fingerprints: p
            .fingerprints
            .iter()
            .map(|(a, f)| {
                (
                    a.to_string(),
                    FingerprintV1 {
                        plan_id: f.plan_id.clone(),
                        status: f.status.clone(),
                        product_version_id: f.product_version_id.clone(),
                        inputs: f.inputs.clone(),
                    },
                )
            })
            .collect(),
        providers: p
            .providers
            .iter()
            .map(|c| ProviderV1 {
                reference: c.reference.to_string(),
                region: c.region.clone(),
                endpoint: c.endpoint.clone(),
                profile: c.profile.clone(),
                max_retries: c.max_retries,
                requests_per_second: c.requests_per_second,
                timeout_secs: c.timeout.map(|t| t.as_secs()),
            })
            .collect(),
        refresh_only: p.refresh_only,
        manifests: p.manifests.clone(),
    };
    // Every map of the stored form is keyed by strings, so serialising cannot fail.
    serde_json::to_string_pretty(&file).expect("a plan file serialises")
}

/// The plan file in `text` (JSON, already out of any encryption envelope).
pub fn decode(text: &str) -> Result<PlanFile, PlanFileError> {
    let probe: serde_json::Value = serde_json::from_str(text).map_err(PlanFileError::NotJson)?;
    match probe.get("version").and_then(|v| v.as_u64()) {
        Some(v) if v == u64::from(VERSION) => {}
        Some(found) => return Err(PlanFileError::Version { found }),
        None => return Err(PlanFileError::NoVersion),
    }
    let f: PlanFileV1 = serde_json::from_value(probe).map_err(PlanFileError::Invalid)?;
    let mut changes = ChangeSet {
        changes: vec![],
        moved: vec![],
    };
    for (a, b) in f.moved {
        changes.moved.push((a.parse()?, b.parse()?));
    }
    for c in f.changes {
        changes.changes.push(Change {
            address: c.address.parse()?,
            provider: provider_ref(&c.provider)?,
            action: action(c.action),
            reason: c.reason,
            before: c.before.map(PlanInputs::from),
            after: c.after.map(PlanInputs::from),
            diffs: c
                .diffs
                .into_iter()
                .map(|d| AttrDiff {
                    path: d.path,
                    before: d.before,
                    after: d.after,
                    sensitive: d.sensitive,
                    forces_replacement: d.forces_replacement,
                })
                .collect(),
            sensitive_parameters: c.sensitive_parameters,
            live_plan_id: c.live_plan_id,
            live_status: c.live_status.and_then(|s| PlanStatus::parse(&s)),
            after_addresses: c
                .after_addresses
                .iter()
                .map(|a| a.parse())
                .collect::<Result<_, _>>()?,
            depends_on: c
                .depends_on
                .iter()
                .map(|a| a.parse())
                .collect::<Result<_, _>>()?,
            idempotency_token: c.idempotency_token,
            timeouts: Timeouts {
                preview: Duration::from_secs(c.timeouts_secs[0]),
                approval: Duration::from_secs(c.timeouts_secs[1]),
                execute: Duration::from_secs(c.timeouts_secs[2]),
            },
        });
    }
    let mut fingerprints = BTreeMap::new();
    for (a, v) in f.fingerprints {
        fingerprints.insert(
            a.parse()?,
            Fingerprint {
                plan_id: v.plan_id,
                status: v.status,
                product_version_id: v.product_version_id,
                inputs: v.inputs,
            },
        );
    }
    let mut providers = Vec::new();
    for p in f.providers {
        let mut c = ProviderConfig::new(provider_ref(&p.reference)?);
        c.region = p.region;
        c.endpoint = p.endpoint;
        c.profile = p.profile;
        c.max_retries = p.max_retries;
        c.requests_per_second = p.requests_per_second;
        c.timeout = p.timeout_secs.map(Duration::from_secs);
        providers.push(c);
    }
    Ok(PlanFile {
        workspace: f.workspace,
        state_path: f.state_path,
        lineage: f.lineage,
        serial: f.serial,
        changes,
        fingerprints,
        providers,
        refresh_only: f.refresh_only,
        manifests: f.manifests,
    })
}

fn provider_ref(s: &str) -> Result<ProviderRef, PlanFileError> {
    ProviderRef::parse(s).ok_or_else(|| PlanFileError::UnknownProvider(s.to_string()))
}

#[derive(Serialize, Deserialize)]
struct PlanFileV1 {
    version: u32,
    workspace: String,
    state_path: String,
    lineage: String,
    serial: u64,
    moved: Vec<(String, String)>,
    changes: Vec<ChangeV1>,
    fingerprints: BTreeMap<String, FingerprintV1>,
    providers: Vec<ProviderV1>,
    /// Absent in files made before it (none of them refresh-only: those saved every change).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    refresh_only: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    manifests: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct FingerprintV1 {
    plan_id: Option<String>,
    status: String,
    product_version_id: Option<String>,
    inputs: String,
}

#[derive(Serialize, Deserialize)]
struct ProviderV1 {
    reference: String,
    region: Option<String>,
    endpoint: Option<String>,
    profile: Option<String>,
    max_retries: Option<u32>,
    requests_per_second: Option<f64>,
    timeout_secs: Option<u64>,
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum ActionV1 {
    Create {
        update_existing: bool,
        execute: bool,
    },
    UpdateInPlace {
        execute: bool,
    },
    Replace {
        update_existing: bool,
        execute: bool,
    },
    UpdateProduct {
        execute: bool,
        /// Absent in files written before AWS's one plan per provisioned product was kept.
        #[serde(default)]
        delete_executed_first: bool,
    },
    Retry,
    Execute,
    AwaitApproval,
    Wait {
        execute: bool,
    },
    Terminate {
        via: TerminationV1,
    },
    Delete {
        cancel_first: bool,
    },
    Forget,
    Blocked {
        message: String,
    },
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum TerminationV1 {
    Plan { name: String },
    Direct,
    Resume { plan_id: String },
}

#[derive(Serialize, Deserialize)]
struct DiffV1 {
    path: String,
    before: Option<String>,
    after: Option<String>,
    sensitive: bool,
    forces_replacement: bool,
}

#[derive(Serialize, Deserialize)]
struct ChangeV1 {
    address: String,
    provider: String,
    action: ActionV1,
    reason: Option<String>,
    before: Option<StoredInputs>,
    after: Option<StoredInputs>,
    diffs: Vec<DiffV1>,
    sensitive_parameters: BTreeSet<String>,
    live_plan_id: Option<String>,
    live_status: Option<String>,
    after_addresses: Vec<String>,
    depends_on: Vec<String>,
    idempotency_token: String,
    timeouts_secs: [u64; 3],
}

fn action_v1(a: &Action) -> ActionV1 {
    match a.clone() {
        Action::Create {
            update_existing,
            execute,
        } => ActionV1::Create {
            update_existing,
            execute,
        },
        Action::UpdateInPlace { execute } => ActionV1::UpdateInPlace { execute },
        Action::Replace {
            update_existing,
            execute,
        } => ActionV1::Replace {
            update_existing,
            execute,
        },
        Action::UpdateProduct {
            execute,
            delete_executed_first,
        } => ActionV1::UpdateProduct {
            execute,
            delete_executed_first,
        },
        Action::Retry => ActionV1::Retry,
        Action::Execute => ActionV1::Execute,
        Action::AwaitApproval => ActionV1::AwaitApproval,
        Action::Wait { execute } => ActionV1::Wait { execute },
        Action::Terminate { via } => ActionV1::Terminate {
            via: match via {
                Termination::Plan { name } => TerminationV1::Plan { name },
                Termination::Direct => TerminationV1::Direct,
                Termination::Resume { plan_id } => TerminationV1::Resume { plan_id },
            },
        },
        Action::Delete { cancel_first } => ActionV1::Delete { cancel_first },
        Action::Forget => ActionV1::Forget,
        Action::Blocked { message } => ActionV1::Blocked { message },
    }
}

fn action(a: ActionV1) -> Action {
    match a {
        ActionV1::Create {
            update_existing,
            execute,
        } => Action::Create {
            update_existing,
            execute,
        },
        ActionV1::UpdateInPlace { execute } => Action::UpdateInPlace { execute },
        ActionV1::Replace {
            update_existing,
            execute,
        } => Action::Replace {
            update_existing,
            execute,
        },
        ActionV1::UpdateProduct {
            execute,
            delete_executed_first,
        } => Action::UpdateProduct {
            execute,
            delete_executed_first,
        },
        ActionV1::Retry => Action::Retry,
        ActionV1::Execute => Action::Execute,
        ActionV1::AwaitApproval => Action::AwaitApproval,
        ActionV1::Wait { execute } => Action::Wait { execute },
        ActionV1::Terminate { via } => Action::Terminate {
            via: match via {
                TerminationV1::Plan { name } => Termination::Plan { name },
                TerminationV1::Direct => Termination::Direct,
                TerminationV1::Resume { plan_id } => Termination::Resume { plan_id },
            },
        },
        ActionV1::Delete { cancel_first } => Action::Delete { cancel_first },
        ActionV1::Forget => Action::Forget,
        ActionV1::Blocked { message } => Action::Blocked { message },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use planform_model::ProviderKind;

    fn inputs_of(name: &str, parameters: &[(&str, &str)]) -> PlanInputs {
        PlanInputs {
            name: name.to_string(),
            description: Some("the network".to_string()),
            product_id: "prod-sbxvpc0000001".to_string(),
            product_version_id: "pv-sbxvpc0000001".to_string(),
            portfolio_id: None,
            provisioned_product_name: name.to_string(),
            stack_region_id: Some("cn-hangzhou".to_string()),
            parameters: parameters
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            tags: [("team".to_string(), "net".to_string())].into(),
            notification_arns: vec![],
        }
    }

    fn change(address: &str, action: Action) -> Change {
        Change {
            address: address.parse().unwrap(),
            provider: ProviderRef::default_for(ProviderKind::Sandbox),
            action,
            reason: None,
            before: None,
            after: Some(inputs_of("vpc", &[("cidr_block", "10.0.0.0/16")])),
            diffs: vec![],
            sensitive_parameters: BTreeSet::new(),
            live_plan_id: None,
            live_status: None,
            after_addresses: BTreeSet::new(),
            depends_on: BTreeSet::new(),
            idempotency_token: "tok-1".to_string(),
            timeouts: Timeouts {
                preview: Duration::from_secs(600),
                approval: Duration::from_secs(3600),
                execute: Duration::from_secs(1800),
            },
        }
    }

    /// A plan file with every action and termination, every optional field set somewhere, and
    /// instance keys of both kinds.
    fn every_kind() -> PlanFile {
        let actions = [
            Action::Create {
                update_existing: false,
                execute: true,
            },
            Action::UpdateInPlace { execute: false },
            Action::Replace {
                update_existing: true,
                execute: true,
            },
            Action::UpdateProduct {
                execute: true,
                delete_executed_first: false,
            },
            Action::UpdateProduct {
                execute: false,
                delete_executed_first: true,
            },
            Action::Retry,
            Action::Execute,
            Action::AwaitApproval,
            Action::Wait { execute: true },
            Action::Terminate {
                via: Termination::Plan {
                    name: "terminate-vpc".to_string(),
                },
            },
            Action::Terminate {
                via: Termination::Direct,
            },
            Action::Terminate {
                via: Termination::Resume {
                    plan_id: "plan-1".to_string(),
                },
            },
            Action::Delete { cancel_first: true },
            Action::Forget,
            Action::Blocked {
                message: "the product is gone".to_string(),
            },
        ];
        let mut changes: Vec<Change> = actions
            .into_iter()
            .enumerate()
            .map(|(i, a)| change(&format!("plan.p[{i}]"), a))
            .collect();
        let c = &mut changes[2];
        c.address = "plan.app[\"web\"]".parse().unwrap();
        c.provider = ProviderRef {
            kind: ProviderKind::Aws,
            alias: Some("us".to_string()),
        };
        c.reason = Some("product_version_id changed".to_string());
        c.before = Some(inputs_of("vpc", &[("cidr_block", "10.1.0.0/16")]));
        c.diffs = vec![AttrDiff {
            path: "parameters.cidr_block".to_string(),
            before: Some("10.1.0.0/16".to_string()),
            after: Some("10.0.0.0/16".to_string()),
            sensitive: false,
            forces_replacement: true,
        }];
        c.sensitive_parameters = ["password".to_string()].into();
        c.live_plan_id = Some("plan-2".to_string());
        c.live_status = Some(PlanStatus::ExecuteFailed);
        c.after_addresses = ["plan.network".parse().unwrap()].into();
        c.depends_on = ["plan.network".parse().unwrap()].into();
        let mut aws = ProviderConfig::new(ProviderRef {
            kind: ProviderKind::Aws,
            alias: Some("us".to_string()),
        });
        aws.region = Some("us-east-1".to_string());
        aws.endpoint = Some("http://127.0.0.1:1".to_string());
        aws.profile = Some("ci".to_string());
        aws.max_retries = Some(3);
        aws.requests_per_second = Some(2.5);
        aws.timeout = Some(Duration::from_secs(30));
        PlanFile {
            workspace: "default".to_string(),
            state_path: ".planform/state.json".to_string(),
            lineage: "0f3c".to_string(),
            serial: 7,
            changes: ChangeSet {
                changes,
                moved: vec![(
                    "plan.old".parse().unwrap(),
                    "plan.app[\"web\"]".parse().unwrap(),
                )],
            },
            fingerprints: [(
                "plan.app[\"web\"]".parse().unwrap(),
                Fingerprint {
                    plan_id: Some("plan-2".to_string()),
                    status: "ExecuteFailed".to_string(),
                    product_version_id: Some("pv-sbxvpc0000001".to_string()),
                    inputs: "9a1b".to_string(),
                },
            )]
            .into(),
            providers: vec![
                ProviderConfig::new(ProviderRef::default_for(ProviderKind::Sandbox)),
                aws,
            ],
            refresh_only: false,
            manifests: Some(format!("sha256:{}", "0".repeat(64))),
        }
    }

    /// A refresh-only plan file says so; files without the field (all made before it) are not.
    #[test]
    fn a_refresh_only_plan_file_says_so() {
        let mut p = every_kind();
        p.changes = ChangeSet::default();
        p.refresh_only = true;
        let text = encode(&p);
        assert!(text.contains("\"refresh_only\": true"), "{text}");
        assert_eq!(decode(&text).unwrap(), p);
        p.refresh_only = false;
        assert!(!encode(&p).contains("refresh_only"));
    }

    #[test]
    fn plan_file_round_trips_every_kind_of_change() {
        let p = every_kind();
        let text = encode(&p);
        assert_eq!(decode(&text).unwrap(), p);
    }

    /// The stored spelling: one change with every field set, and each action's tag.
    #[test]
    fn plan_file_stored_form() {
        let mut p = every_kind();
        let actions: Vec<String> = p
            .changes
            .changes
            .iter()
            .map(|c| serde_json::to_string(&action_v1(&c.action)).unwrap())
            .collect();
        insta::assert_snapshot!("plan_file_actions", actions.join("\n"));
        p.changes.changes = vec![p.changes.changes.swap_remove(2)];
        insta::assert_snapshot!("plan_file_one_change", encode(&p));
    }

    #[test]
    fn plan_file_sensitive_values_name_the_parameters_held() {
        let mut p = every_kind();
        assert!(sensitive_values(&p.changes).is_empty(), "not held");
        let c = &mut p.changes.changes[2];
        c.after
            .as_mut()
            .unwrap()
            .parameters
            .insert("password".to_string(), "hunter2".to_string());
        assert_eq!(
            sensitive_values(&p.changes),
            ["plan.app[\"web\"].parameters[\"password\"]"]
        );
    }

    #[test]
    fn plan_file_errors_say_what_is_wrong() {
        let valid: serde_json::Value = serde_json::from_str(&encode(&every_kind())).unwrap();
        let with = |pointer: &str, value: serde_json::Value| {
            let mut v = valid.clone();
            *v.pointer_mut(pointer).unwrap() = value;
            v.to_string()
        };
        let cases = [
            ("not JSON", "plan".to_string()),
            ("no version", "{\"hello\": 1}".to_string()),
            ("a later version", with("/version", 2.into())),
            // Not taken for version 1 by truncation to 32 bits.
            (
                "a version past u32",
                with("/version", (u64::from(u32::MAX) + 2).into()),
            ),
            ("a missing field", {
                let mut v = valid.clone();
                v.as_object_mut().unwrap().remove("lineage");
                v.to_string()
            }),
            ("a bad address", with("/changes/0/address", "app".into())),
            ("a bad moved address", with("/moved/0/1", "plan.x[".into())),
            (
                "an unknown provider",
                with("/changes/0/provider", "gcp".into()),
            ),
            (
                "an unknown provider configuration",
                with("/providers/0/reference", "".into()),
            ),
        ];
        let mut out = String::new();
        for (what, text) in cases {
            let e = decode(&text).unwrap_err();
            let shown = if e.follows_file_name() {
                format!("FILE {e}")
            } else {
                e.to_string()
            };
            out.push_str(&format!("{what}: {shown}\n"));
        }
        insta::assert_snapshot!(out);
    }
}

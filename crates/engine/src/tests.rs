//! Engine tests: property tests of the diff and ordering, and apply against the in-memory
//! sandbox with zero preview/execute durations (so no test waits on a clock).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use planform_model::{
    Address, DesiredPlan, DesiredState, InstanceKey, PlanInputs, PlanService, ProviderKind,
    ProviderRef, Timeouts,
};
use planform_sandbox::{Catalog, Embedded, ManualClock, Settings};
use planform_state::{BackendFuture, Durable, LockInfo, Locked, Record, State, StateError};
use proptest::prelude::*;

use crate::{
    absorb, apply, diff, order, refresh, Action, ApplyOptions, DiffError, DiffOptions, Event,
    LiveEntry, LiveSnapshot, Providers,
};

/// A held lock in memory: keeps the records, checks that each one follows the last serial.
struct MemoryLock {
    info: LockInfo,
    serial: Mutex<u64>,
    records: Mutex<Vec<Record>>,
}

impl MemoryLock {
    fn on(state: &State) -> Arc<MemoryLock> {
        Arc::new(MemoryLock {
            info: LockInfo {
                id: "memory".into(),
                pid: 0,
                host: "test".into(),
                command: "apply".into(),
                since: 0,
                lease_until: 0,
            },
            serial: Mutex::new(state.serial),
            records: Mutex::new(vec![]),
        })
    }
}

impl Locked for MemoryLock {
    fn info(&self) -> &LockInfo {
        &self.info
    }

    fn record(&self, record: Record) -> Durable {
        let mut serial = self.serial.lock().unwrap();
        let result = if record.serial == *serial + 1 {
            *serial = record.serial;
            self.records.lock().unwrap().push(record);
            Ok(())
        } else {
            Err(StateError::SerialMismatch {
                backend: "memory".into(),
                expected: record.serial - 1,
                found: *serial,
            })
        };
        Box::pin(async move { result })
    }

    fn write<'a>(&'a self, _: &'a State, _: Option<u64>) -> BackendFuture<'a, ()> {
        unreachable!("the executor records; it never replaces the whole state")
    }

    fn release(self: Box<Self>) -> BackendFuture<'static, ()> {
        Box::pin(async { Ok(()) })
    }
}

fn sandbox() -> (Providers, Arc<dyn PlanService>) {
    let e: Arc<dyn PlanService> = Arc::new(Embedded::memory(
        Catalog::demo(),
        Settings {
            preview_ms: 0,
            execute_ms: 0,
            ..Settings::default()
        },
        Arc::new(ManualClock::new(1_700_000_000_000)),
    ));
    let mut p: Providers = BTreeMap::new();
    p.insert(ProviderRef::default_for(ProviderKind::Sandbox), e.clone());
    (p, e)
}

fn vpc(name: &str, cidr: &str, tags: BTreeMap<String, String>, execute: bool) -> DesiredPlan {
    DesiredPlan {
        address: Address::with_key("net", InstanceKey::Str(name.into())),
        provider: ProviderRef::default_for(ProviderKind::Sandbox),
        inputs: PlanInputs {
            name: format!("net-{name}"),
            product_id: "prod-sbxvpc0000001".into(),
            product_version_id: "pv-sbxvpc0000001".into(),
            provisioned_product_name: format!("net-{name}"),
            stack_region_id: Some("cn-hangzhou".into()),
            parameters: [("cidr_block".to_string(), cidr.to_string())].into(),
            tags,
            ..PlanInputs::default()
        },
        sensitive_parameters: BTreeSet::new(),
        execute,
        depends_on: BTreeSet::new(),
        prevent_destroy: false,
        ignore_changes: vec![],
        timeouts: Timeouts::default(),
        location: Default::default(),
    }
}

fn desired_of(plans: Vec<DesiredPlan>) -> DesiredState {
    DesiredState {
        workspace: "test".into(),
        plans: plans.into_iter().map(|p| (p.address.clone(), p)).collect(),
        ..DesiredState::default()
    }
}

fn options() -> ApplyOptions {
    ApplyOptions {
        workspace: "test".into(),
        poll_initial: std::time::Duration::from_millis(1),
        ..ApplyOptions::default()
    }
}

async fn converge(desired: &DesiredState, state: State, providers: &Providers) -> State {
    let (live, _) = refresh(desired, &state, providers).await.unwrap();
    let state = absorb(&state, &live);
    let changes = diff(desired, &state, &live, &DiffOptions::default()).unwrap();
    let lock = MemoryLock::on(&state);
    let mut replayed = state.clone();
    let (state, report) = apply(
        &changes,
        state,
        providers,
        lock.clone(),
        Arc::new(|_: &Event| {}),
        &ApplyOptions {
            accounts: live.accounts.clone(),
            ..options()
        },
    )
    .await
    .unwrap();
    assert_eq!(report.failed().count(), 0, "{report:?}");
    assert!(report.state_errors.is_empty(), "{report:?}");
    let records = lock.records.lock().unwrap();
    assert!(
        !records.is_empty() || changes.is_empty(),
        "state recorded after cloud operations"
    );
    // The records, replayed on the state the run started from, are the state it ended with.
    for r in records.iter() {
        assert!(
            r.changes.len() == 1 || !changes.moved.is_empty(),
            "one address per record"
        );
        replayed.apply_record(r);
    }
    assert_eq!(replayed, state);
    state
}

async fn pending(
    desired: &DesiredState,
    state: &State,
    providers: &Providers,
) -> Vec<(Address, Action)> {
    let (live, _) = refresh(desired, state, providers).await.unwrap();
    let state = absorb(state, &live);
    diff(desired, &state, &live, &DiffOptions::default())
        .unwrap()
        .changes
        .into_iter()
        .map(|c| (c.address, c.action))
        .collect()
}

/// A runtime on a paused clock: the executor's waits advance it instead of sleeping.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap()
}

prop_compose! {
    fn arb_plans()(specs in prop::collection::btree_map("[a-z]{1,6}", ("10\\.[0-9]{1,2}\\.0\\.0/16", prop::collection::btree_map("[a-z]{1,4}", "[a-z0-9]{0,6}", 0..4), any::<bool>()), 1..6)) -> Vec<DesiredPlan> {
        specs.into_iter().map(|(name, (cidr, tags, execute))| vpc(&name, &cidr, tags, execute)).collect()
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// The diff of a desired state against the live state it produced is empty.
    #[test]
    fn applied_state_has_no_diff(plans in arb_plans()) {
        let rt = runtime();
        let (providers, _) = sandbox();
        let desired = desired_of(plans);
        let state = rt.block_on(converge(&desired, State::new("test", "lin".into()), &providers));
        prop_assert_eq!(state.plans.len(), desired.plans.len());
        prop_assert_eq!(rt.block_on(pending(&desired, &state, &providers)), vec![]);
        // Without a refresh (`plan --refresh=false`), the state alone shows no change either.
        let stored = crate::stored_snapshot(&desired, &state);
        let unchanged = diff(&desired, &state, &stored, &DiffOptions::default()).unwrap();
        prop_assert!(unchanged.is_empty(), "{:?}", unchanged.changes);
    }

    /// The diff never proposes to touch an address that is neither desired nor in the state.
    #[test]
    fn diff_touches_only_owned_addresses(desired_names in prop::collection::btree_set("[a-c]", 0..3), state_names in prop::collection::btree_set("[b-d]", 0..3), live_names in prop::collection::btree_set("[a-f]", 0..5)) {
        let desired = desired_of(desired_names.iter().map(|n| vpc(n, "10.0.0.0/16", BTreeMap::new(), true)).collect());
        let mut state = State::new("test", "lin".into());
        for n in &state_names {
            state.plans.insert(Address::with_key("net", InstanceKey::Str(n.clone())), planform_state::ManagedPlan {
                provider: ProviderRef::default_for(ProviderKind::Sandbox), plan_id: format!("plan-{n}"), provisioned_product_id: None, stack_id: None,
                status: "PreviewSuccess".into(), applied: None, asked: None, sensitive_parameters: BTreeSet::new(), launched: false, outputs: BTreeMap::new(),
                history: vec![], depends_on: BTreeSet::new(), pending_token: None, location: None, account: None,
            });
        }
        let mut live = LiveSnapshot::default();
        for n in &live_names {
            let a = Address::with_key("net", InstanceKey::Str(n.clone()));
            if state.plans.contains_key(&a) {
                live.plans.insert(a, LiveEntry::Gone);
            }
        }
        let owned: BTreeSet<Address> = desired.plans.keys().chain(state.plans.keys()).cloned().collect();
        let changes = diff(&desired, &state, &live, &DiffOptions::default()).unwrap();
        for c in &changes.changes {
            prop_assert!(owned.contains(&c.address), "{} is not owned", c.address);
        }
        let destroy = diff(&desired, &state, &live, &DiffOptions { destroy: true, ..DiffOptions::default() }).unwrap();
        for c in &destroy.changes {
            prop_assert!(state.plans.contains_key(&c.address));
        }
    }

    /// `order` puts every change after everything it waits for.
    #[test]
    fn order_respects_every_edge(edges in prop::collection::vec((0usize..8, 0usize..8), 0..16)) {
        let mut plans: Vec<DesiredPlan> = (0..8).map(|i| vpc(&format!("p{i}"), "10.0.0.0/16", BTreeMap::new(), true)).collect();
        for (a, b) in edges.iter().filter(|(a, b)| a > b) {
            let dep = plans[*b].address.clone();
            plans[*a].depends_on.insert(dep);
        }
        let desired = desired_of(plans);
        let changes = diff(&desired, &State::new("test", "lin".into()), &LiveSnapshot::default(), &DiffOptions::default()).unwrap();
        let (sorted, _) = order(&changes).unwrap();
        let pos: BTreeMap<&Address, usize> = sorted.iter().enumerate().map(|(p, i)| (&changes.changes[*i].address, p)).collect();
        for c in &changes.changes {
            for d in &c.after_addresses {
                prop_assert!(pos[d] < pos[&c.address]);
            }
        }
    }
}

#[test]
fn a_create_lost_before_it_was_recorded_is_adopted_by_its_ownership_tags() {
    let rt = runtime();
    let (providers, service) = sandbox();
    let desired = desired_of(vec![vpc("a", "10.1.0.0/16", BTreeMap::new(), true)]);
    // Simulate a crash: the plan exists in the cloud, tagged, but the state never heard of it.
    let mut inputs = desired.plans.values().next().unwrap().inputs.clone();
    inputs
        .tags
        .insert("planform:workspace".into(), "test".into());
    inputs
        .tags
        .insert("planform:address".into(), "plan.net[\"a\"]".into());
    let made = rt
        .block_on(service.create_plan(&planform_model::NewPlan {
            inputs,
            operation_type: planform_model::OperationType::LaunchProduct,
            idempotency_token: "t1".into(),
        }))
        .unwrap();
    let state = rt.block_on(converge(
        &desired,
        State::new("test", "lin".into()),
        &providers,
    ));
    assert_eq!(
        state.plans.values().next().unwrap().plan_id,
        made.id,
        "adopted, not created again"
    );
    let page = rt
        .block_on(service.list_plans(&Default::default(), 1, 100))
        .unwrap();
    assert_eq!(page.total_count, 1);
}

#[test]
fn prevent_destroy_blocks_destroy_and_replacement() {
    let mut p = vpc("a", "10.1.0.0/16", BTreeMap::new(), true);
    p.prevent_destroy = true;
    let desired = desired_of(vec![p]);
    let mut state = State::new("test", "lin".into());
    state.plans.insert(
        desired.plans.keys().next().unwrap().clone(),
        planform_state::ManagedPlan {
            provider: ProviderRef::default_for(ProviderKind::Sandbox),
            plan_id: "plan-1".into(),
            provisioned_product_id: None,
            stack_id: None,
            status: "ExecuteSuccess".into(),
            applied: None,
            asked: None,
            sensitive_parameters: BTreeSet::new(),
            launched: true,
            outputs: BTreeMap::new(),
            history: vec![],
            depends_on: BTreeSet::new(),
            pending_token: None,
            location: None,
            account: None,
        },
    );
    let errors = diff(
        &desired,
        &state,
        &LiveSnapshot::default(),
        &DiffOptions {
            destroy: true,
            ..DiffOptions::default()
        },
    )
    .unwrap_err();
    assert!(
        errors[0].to_string().contains("prevent_destroy"),
        "{errors:?}"
    );
}

#[test]
fn refresh_lists_in_pages_of_100() {
    let rt = runtime();
    let (providers, service) = sandbox();
    for i in 0..250 {
        let mut inputs = vpc(&format!("x{i}"), "10.0.0.0/16", BTreeMap::new(), false).inputs;
        inputs
            .tags
            .insert("planform:workspace".into(), "other".into());
        rt.block_on(service.create_plan(&planform_model::NewPlan {
            inputs,
            operation_type: planform_model::OperationType::LaunchProduct,
            idempotency_token: format!("t{i}"),
        }))
        .unwrap();
    }
    let desired = desired_of(vec![]);
    let mut state = State::new("test", "lin".into());
    state.plans.insert(
        Address::new("gone"),
        planform_state::ManagedPlan {
            status: "PreviewSuccess".into(),
            ..planform_state::ManagedPlan::new(
                ProviderRef::default_for(ProviderKind::Sandbox),
                "plan-gone",
            )
        },
    );
    let (live, stats) = rt.block_on(refresh(&desired, &state, &providers)).unwrap();
    assert_eq!(stats.list_requests, 3, "ceil(250/100) list requests");
    assert_eq!(live.plans[&Address::new("gone")], LiveEntry::Gone);
    let changes = diff(&desired, &state, &live, &DiffOptions::default()).unwrap();
    assert_eq!(
        changes.changes[0].action,
        Action::Forget,
        "plans of another workspace are never touched"
    );
    assert_eq!(changes.changes.len(), 1);
}

/// A live plan of `d` in `status`, as the cloud would report it (ownership tags included).
fn live_of(d: &DesiredPlan, status: planform_model::PlanStatus) -> planform_model::LivePlan {
    planform_model::LivePlan {
        id: "plan-1".into(),
        inputs: planform_model::ownership::tag(&d.inputs, "test", &d.address),
        operation_type: planform_model::OperationType::LaunchProduct,
        status,
        raw_status: status.as_str().into(),
        status_message: Some("boom".into()),
        provisioned_product_id: Some("pp-1".into()),
        stack_id: None,
        create_time: String::new(),
        update_time: String::new(),
    }
}

/// The change set decides how to terminate from the provider's capabilities: a terminate plan
/// whose name it fixes (at most 128 characters), or a direct terminate; apply asks nothing.
#[test]
fn the_diff_decides_the_terminate_path_and_the_plan_name() {
    let mut d = vpc("a", "10.1.0.0/16", BTreeMap::new(), true);
    d.inputs.name = "n".repeat(125);
    let l = live_of(&d, planform_model::PlanStatus::ExecuteSuccess);
    let mut state = State::new("test", "lin".into());
    state.observe(&d.address, &d.provider, &l);
    let mut live = LiveSnapshot::default();
    live.plans.insert(d.address.clone(), LiveEntry::Present(l));
    let destroy = |caps: planform_model::Capabilities| {
        let options = DiffOptions {
            destroy: true,
            capabilities: [(d.provider.clone(), caps)].into(),
            ..DiffOptions::default()
        };
        diff(&desired_of(vec![d.clone()]), &state, &live, &options)
            .unwrap()
            .changes[0]
            .action
            .clone()
    };
    assert_eq!(
        destroy(planform_model::Capabilities::ALIBABA),
        Action::Terminate {
            via: crate::Termination::Plan {
                name: format!("terminate-{}", "n".repeat(118))
            }
        }
    );
    assert_eq!(
        destroy(planform_model::Capabilities::AWS),
        Action::Terminate {
            via: crate::Termination::Direct
        }
    );
}

/// A destroy killed after its terminate plan ran leaves the address holding that plan: the next
/// plan launches the product anew and says why, rather than listing the terminate plan's name
/// as a change (acceptance audit F4: "will be created (name changed)").
#[test]
fn a_product_terminated_by_the_plan_it_holds_is_launched_anew_for_that_reason() {
    let d = vpc("a", "10.1.0.0/16", BTreeMap::new(), true);
    let mut l = live_of(&d, planform_model::PlanStatus::ExecuteSuccess);
    l.id = "plan-terminate".into();
    l.operation_type = planform_model::OperationType::TerminateProvisionedProduct;
    l.inputs.name = format!("terminate-{}", d.inputs.name);
    let mut state = State::new("test", "lin".into());
    state.observe(&d.address, &d.provider, &l);
    let mut live = LiveSnapshot::default();
    live.plans.insert(d.address.clone(), LiveEntry::Present(l));
    let changes = diff(
        &desired_of(vec![d.clone()]),
        &state,
        &live,
        &DiffOptions::default(),
    )
    .unwrap();
    let c = &changes.changes[0];
    assert_eq!(
        c.action,
        Action::Create {
            update_existing: false,
            execute: true
        }
    );
    assert_eq!(
        c.reason.as_deref(),
        Some("plan-terminate terminated its product")
    );
    assert!(c.before.is_none() && c.diffs.is_empty(), "{c:?}");
}

/// A failed execution is retried in place where plans update in place, and replaced elsewhere;
/// notification ARNs force a replacement only where plans cannot be updated.
#[test]
fn the_diff_decides_retry_and_replacement_from_capabilities() {
    let d = vpc("a", "10.1.0.0/16", BTreeMap::new(), true);
    let failed = live_of(&d, planform_model::PlanStatus::ExecuteFailed);
    let state = State::new("test", "lin".into());
    let mut live = LiveSnapshot::default();
    live.plans
        .insert(d.address.clone(), LiveEntry::Present(failed));
    let action = |d: &DesiredPlan, live: &LiveSnapshot, caps| {
        let options = DiffOptions {
            capabilities: [(d.provider.clone(), caps)].into(),
            ..DiffOptions::default()
        };
        diff(&desired_of(vec![d.clone()]), &state, live, &options)
            .unwrap()
            .changes
            .into_iter()
            .map(|c| c.action)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        action(&d, &live, planform_model::Capabilities::ALIBABA),
        vec![Action::Retry]
    );
    assert_eq!(
        action(&d, &live, planform_model::Capabilities::AWS),
        vec![Action::Replace {
            update_existing: true,
            execute: true
        }]
    );
    let mut arns = d.clone();
    arns.inputs.notification_arns = vec!["acs:mns:topic".into()];
    let mut previewed = LiveSnapshot::default();
    previewed.plans.insert(
        d.address.clone(),
        LiveEntry::Present(live_of(&d, planform_model::PlanStatus::PreviewSuccess)),
    );
    assert_eq!(
        action(&arns, &previewed, planform_model::Capabilities::ALIBABA),
        vec![Action::UpdateInPlace { execute: true }]
    );
    assert_eq!(
        action(&arns, &previewed, planform_model::Capabilities::AWS),
        vec![Action::Replace {
            update_existing: false,
            execute: true
        }]
    );
}

/// Issue 12 (7): an AWS provisioned product has one plan, executed ones included, so changing a
/// launched product deletes its executed plan before the new one is made; on Alibaba the
/// executed plan stays as history.
#[test]
fn an_update_of_a_launched_product_deletes_its_executed_plan_where_a_product_has_one_plan() {
    let before = vpc("a", "10.1.0.0/16", BTreeMap::new(), true);
    let after = vpc("a", "10.2.0.0/16", BTreeMap::new(), true);
    let state = State::new("test", "lin".into());
    let mut live = LiveSnapshot::default();
    live.plans.insert(
        before.address.clone(),
        LiveEntry::Present(live_of(&before, planform_model::PlanStatus::ExecuteSuccess)),
    );
    let action = |caps| {
        let options = DiffOptions {
            capabilities: [(after.provider.clone(), caps)].into(),
            ..DiffOptions::default()
        };
        diff(&desired_of(vec![after.clone()]), &state, &live, &options)
            .unwrap()
            .changes
            .into_iter()
            .map(|c| c.action)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        action(planform_model::Capabilities::AWS),
        vec![Action::UpdateProduct {
            execute: true,
            delete_executed_first: true
        }]
    );
    assert_eq!(
        action(planform_model::Capabilities::ALIBABA),
        vec![Action::UpdateProduct {
            execute: true,
            delete_executed_first: false
        }]
    );
}

/// Leaves a terminate plan for `address`'s product in the cloud and in the state, previewed but
/// not executed, as a destroy killed after its create would.
async fn interrupt_a_destroy(
    service: &Arc<dyn PlanService>,
    state: &mut State,
    desired: &DesiredState,
    address: &Address,
) -> String {
    let d = &desired.plans[address];
    let mut inputs = planform_model::ownership::tag(&d.inputs, "test", address);
    inputs.name = format!("terminate-{}", d.inputs.name);
    let l = service
        .create_plan(&planform_model::NewPlan {
            inputs,
            operation_type: planform_model::OperationType::TerminateProvisionedProduct,
            idempotency_token: "killed".into(),
        })
        .await
        .unwrap();
    state.observe(address, &d.provider, &l);
    l.id
}

/// Issue 12 (4): after a destroy killed between creating a terminate plan and executing it, one
/// apply converges (the terminate plan is deleted, the product kept, nothing else pending) and
/// one destroy carries the terminate plan on instead of making another.
#[test]
fn issue_12_an_interrupted_destroy_is_resumed_by_destroy_and_undone_by_apply() {
    let rt = runtime();
    let (providers, service) = sandbox();
    let desired = desired_of(vec![vpc("a", "10.1.0.0/16", BTreeMap::new(), true)]);
    let address = desired.plans.keys().next().unwrap().clone();
    let applied = rt.block_on(converge(
        &desired,
        State::new("test", "lin".into()),
        &providers,
    ));

    // apply after the interruption: the terminate plan goes, the product stays.
    let mut state = applied.clone();
    let killed = rt.block_on(interrupt_a_destroy(
        &service, &mut state, &desired, &address,
    ));
    let planned = rt.block_on(pending(&desired, &state, &providers));
    assert_eq!(
        planned,
        vec![(
            address.clone(),
            Action::Replace {
                update_existing: true,
                execute: true
            }
        )]
    );
    let state = rt.block_on(converge(&desired, state, &providers));
    assert_eq!(rt.block_on(pending(&desired, &state, &providers)), vec![]);
    assert!(matches!(
        rt.block_on(service.get_plan(&killed)),
        Err(e) if e.kind == planform_model::ErrorKind::NotFound
    ));
    let product = rt
        .block_on(service.find_provisioned_product("net-a"))
        .unwrap();
    assert!(product.is_some(), "the product is kept");

    // destroy after the interruption: the same terminate plan is executed.
    let mut state = state;
    let killed = rt.block_on(interrupt_a_destroy(
        &service, &mut state, &desired, &address,
    ));
    let (live, _) = rt.block_on(refresh(&desired, &state, &providers)).unwrap();
    let state = absorb(&state, &live);
    let destroy = DiffOptions {
        destroy: true,
        ..DiffOptions::default()
    };
    let changes = diff(&desired, &state, &live, &destroy).unwrap();
    assert_eq!(
        changes.changes[0].action,
        Action::Terminate {
            via: crate::Termination::Resume {
                plan_id: killed.clone()
            }
        }
    );
    let lock = MemoryLock::on(&state);
    let (state, report) = rt
        .block_on(apply(
            &changes,
            state,
            &providers,
            lock,
            Arc::new(|_: &Event| {}),
            &options(),
        ))
        .unwrap();
    assert_eq!(report.failed().count(), 0, "{report:?}");
    assert!(state.plans.is_empty());
    assert!(rt
        .block_on(service.find_provisioned_product("net-a"))
        .unwrap()
        .is_none());
    let terminates = rt
        .block_on(service.list_plans(&Default::default(), 1, 100))
        .unwrap()
        .items
        .into_iter()
        .filter(|p| p.operation_type == planform_model::OperationType::TerminateProvisionedProduct)
        .count();
    assert_eq!(terminates, 1, "no second terminate plan");
}

/// Issue 12 (3): a plan whose provider changed in the manifests is not "in sync"; the diff
/// refuses with the way out instead of comparing it with the plan of the old provider.
#[test]
fn issue_12_a_changed_provider_is_refused_with_a_hint() {
    let rt = runtime();
    let (providers, _) = sandbox();
    let desired = desired_of(vec![vpc("a", "10.1.0.0/16", BTreeMap::new(), true)]);
    let state = rt.block_on(converge(
        &desired,
        State::new("test", "lin".into()),
        &providers,
    ));
    let mut moved = desired.clone();
    for p in moved.plans.values_mut() {
        p.provider = ProviderRef::default_for(ProviderKind::Alibaba);
    }
    let (live, _) = rt.block_on(refresh(&moved, &state, &providers)).unwrap();
    let errors = diff(&moved, &state, &live, &DiffOptions::default()).unwrap_err();
    let text = errors[0].to_string();
    assert!(
        text.contains("managed through provider sandbox, but the manifests now say alibaba")
            && text.contains("planform destroy --target plan.net[\"a\"]"),
        "{text}"
    );
}

/// Issue 12 (3): a provider pointed at another region or endpoint keeps its name, but its
/// plans are not there. The state records where each plan was made; the move is refused
/// before any request (and by the diff), for destroy too; a state written before locations
/// were recorded is not refused, and the next refresh records where its plans were found.
#[test]
fn issue_12_a_provider_pointed_elsewhere_is_refused() {
    let rt = runtime();
    let (providers, _) = sandbox();
    let desired = desired_of(vec![vpc("a", "10.1.0.0/16", BTreeMap::new(), true)]);
    let state = rt.block_on(converge(
        &desired,
        State::new("test", "lin".into()),
        &providers,
    ));
    let address: Address = "plan.net[\"a\"]".parse().unwrap();
    assert_eq!(
        state.plans[&address].location.as_deref(),
        Some("embedded sandbox"),
        "the executor records where the plan was made"
    );
    let here = crate::locations(&providers);
    assert!(crate::provider_moves(&desired, &state, &here, false).is_empty());
    let mut elsewhere = here.clone();
    for at in elsewhere.values_mut() {
        *at = "alibaba at http://127.0.0.1:9".into();
    }
    for destroy in [false, true] {
        let errors = crate::provider_moves(&desired, &state, &elsewhere, destroy);
        assert_eq!(errors.len(), 1, "destroy = {destroy}: {errors:?}");
        let text = errors[0].to_string();
        assert!(
            text.contains("was made in embedded sandbox, but provider sandbox now points at alibaba at http://127.0.0.1:9")
                && text.contains("planform destroy --target plan.net[\"a\"]"),
            "{text}"
        );
    }
    let (live, _) = rt.block_on(refresh(&desired, &state, &providers)).unwrap();
    let options = DiffOptions {
        locations: elsewhere.clone(),
        ..DiffOptions::default()
    };
    let errors = diff(&desired, &state, &live, &options).unwrap_err();
    assert!(
        matches!(&errors[..], [DiffError::ProviderMoved { .. }]),
        "one refusal, no follow-on change: {errors:?}"
    );
    // A state from before locations: nothing to compare, and the refresh records it.
    let mut legacy = state.clone();
    for m in legacy.plans.values_mut() {
        m.location = None;
    }
    assert!(crate::provider_moves(&desired, &legacy, &elsewhere, false).is_empty());
    let (live, _) = rt.block_on(refresh(&desired, &legacy, &providers)).unwrap();
    assert_eq!(
        absorb(&legacy, &live).plans[&address].location.as_deref(),
        Some("embedded sandbox")
    );
}

/// Issue 12 (3): credentials of another account in the same place find none of the plans the
/// state names; rather than take them for deleted and make them again there, the plans recorded
/// in another account are refused (plan and destroy alike), before any write. A state written
/// before accounts were recorded is accepted, and gains the account at its next refresh where
/// its plans are found.
#[test]
fn issue_12_credentials_of_another_account_are_refused() {
    let rt = runtime();
    let (providers, _) = sandbox();
    let desired = desired_of(vec![vpc("a", "10.1.0.0/16", BTreeMap::new(), true)]);
    let state = rt.block_on(converge(
        &desired,
        State::new("test", "lin".into()),
        &providers,
    ));
    let address: Address = "plan.net[\"a\"]".parse().unwrap();
    assert_eq!(
        state.plans[&address].account.as_deref(),
        Some("1234567890123456"),
        "the executor records the account the plan was made in"
    );
    let (live, _) = rt.block_on(refresh(&desired, &state, &providers)).unwrap();
    assert!(crate::account_changes(&state, &live.accounts).is_empty());
    assert!(diff(&desired, &state, &live, &DiffOptions::default()).is_ok());
    // The same provider (kind, alias, location) with the credentials of another account.
    let other: Arc<dyn PlanService> = Arc::new(Embedded::memory(
        Catalog::demo(),
        Settings {
            account_id: "6543210987654321".into(),
            ..Settings::default()
        },
        Arc::new(ManualClock::new(1_700_000_000_000)),
    ));
    let elsewhere: Providers = providers
        .keys()
        .map(|r| (r.clone(), other.clone()))
        .collect();
    assert_eq!(crate::locations(&elsewhere), crate::locations(&providers));
    let (live, _) = rt.block_on(refresh(&desired, &state, &elsewhere)).unwrap();
    assert_eq!(
        live.plans[&address],
        LiveEntry::Gone,
        "not in the other account"
    );
    let errors = crate::account_changes(&state, &live.accounts);
    assert_eq!(errors.len(), 1, "{errors:?}");
    let text = errors[0].to_string();
    assert!(
        text.contains("was made in account 1234567890123456, but the credentials of provider sandbox now act in account 6543210987654321")
            && text.contains("planform destroy --target plan.net[\"a\"]"),
        "{text}"
    );
    for destroy in [false, true] {
        let options = DiffOptions {
            destroy,
            ..DiffOptions::default()
        };
        let errors = diff(&desired, &absorb(&state, &live), &live, &options).unwrap_err();
        assert!(
            matches!(&errors[..], [DiffError::AccountChanged { .. }]),
            "destroy = {destroy}: one refusal, no follow-on create: {errors:?}"
        );
    }
    assert_eq!(
        absorb(&state, &live).plans[&address].account.as_deref(),
        Some("1234567890123456"),
        "a refresh never writes over the recorded account"
    );
    // A state from before accounts: nothing to compare; a refresh that finds its plans
    // records their account, one that does not (another account's) records none.
    let mut legacy = state.clone();
    for m in legacy.plans.values_mut() {
        m.account = None;
    }
    let (live, _) = rt.block_on(refresh(&desired, &legacy, &providers)).unwrap();
    assert!(diff(&desired, &legacy, &live, &DiffOptions::default()).is_ok());
    assert_eq!(
        absorb(&legacy, &live).plans[&address].account.as_deref(),
        Some("1234567890123456")
    );
    let (live, _) = rt.block_on(refresh(&desired, &legacy, &elsewhere)).unwrap();
    assert!(crate::account_changes(&legacy, &live.accounts).is_empty());
    assert_eq!(absorb(&legacy, &live).plans[&address].account, None);
}

/// Issue 12 (6): executed plans stay in the cloud, one more per address per update; a refresh
/// of a settled state stops listing once it has seen every plan the state names, so its cost
/// does not grow with the history (drift, which takes the census, reads it all).
#[test]
fn issue_12_refresh_does_not_grow_with_the_history() {
    let rt = runtime();
    let (providers, service) = sandbox();
    let desired = desired_of(
        (0..150)
            .map(|i| vpc(&format!("p{i}"), "10.0.0.0/16", BTreeMap::new(), false))
            .collect(),
    );
    let mut state = State::new("test", "lin".into());
    // Five rounds of history, then the current plans (the newest).
    for round in 0..6 {
        for d in desired.plans.values() {
            let l = rt
                .block_on(service.create_plan(&planform_model::NewPlan {
                    inputs: planform_model::ownership::tag(&d.inputs, "test", &d.address),
                    operation_type: planform_model::OperationType::LaunchProduct,
                    idempotency_token: format!("r{round}-{}", d.address),
                }))
                .unwrap();
            state.observe(&d.address, &d.provider, &l);
        }
    }
    let (live, stats) = rt.block_on(refresh(&desired, &state, &providers)).unwrap();
    assert_eq!(stats.list_requests, 2, "ceil(150/100), not ceil(900/100)");
    assert!(live
        .plans
        .values()
        .all(|e| matches!(e, LiveEntry::Present(_))));
    assert_eq!(rt.block_on(pending(&desired, &state, &providers)), vec![]);
    let (_, full) = rt
        .block_on(crate::refresh_to(
            &desired,
            &state,
            &providers,
            crate::Depth::Full,
        ))
        .unwrap();
    assert_eq!(full.list_requests, 9);
}

/// `--replace ADDR` replaces exactly that address, even unchanged, updating its launched
/// product; the other addresses are untouched; an address not in the manifests, or without a
/// plan to replace, is an error.
#[test]
fn replace_forces_a_replacement_of_exactly_the_address() {
    let a = vpc("a", "10.1.0.0/16", BTreeMap::new(), true);
    let b = vpc("b", "10.2.0.0/16", BTreeMap::new(), true);
    let desired = desired_of(vec![a.clone(), b.clone()]);
    let state = State::new("test", "lin".into());
    let mut live = LiveSnapshot::default();
    for d in [&a, &b] {
        live.plans.insert(
            d.address.clone(),
            LiveEntry::Present(live_of(d, planform_model::PlanStatus::ExecuteSuccess)),
        );
    }
    assert!(diff(&desired, &state, &live, &DiffOptions::default())
        .unwrap()
        .is_empty());
    let options = DiffOptions {
        replace: [a.address.clone()].into(),
        ..DiffOptions::default()
    };
    let changes = diff(&desired, &state, &live, &options).unwrap().changes;
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert_eq!(changes[0].address, a.address);
    assert_eq!(
        changes[0].action,
        Action::Replace {
            update_existing: true,
            execute: true
        }
    );
    assert_eq!(
        changes[0].reason.as_deref(),
        Some("replacement requested with --replace")
    );
    let unknown = DiffOptions {
        replace: [Address::new("nope")].into(),
        ..DiffOptions::default()
    };
    assert_eq!(
        diff(&desired, &state, &live, &unknown).unwrap_err(),
        vec![crate::DiffError::UnknownReplace(Address::new("nope"))]
    );
    let mut no_plan = live.clone();
    no_plan.plans.remove(&b.address);
    let nothing = DiffOptions {
        replace: [b.address.clone()].into(),
        ..DiffOptions::default()
    };
    assert_eq!(
        diff(&desired, &state, &no_plan, &nothing).unwrap_err(),
        vec![crate::DiffError::NothingToReplace(b.address.clone())]
    );
}

/// Issue 13: a record the lock refuses (here: a serial another writer moved) is reported and
/// stops new changes from starting, since their effects could not be kept.
#[test]
fn a_refused_record_is_reported_and_starts_nothing_new() {
    let rt = runtime();
    let (providers, _) = sandbox();
    let desired = desired_of(
        ["a", "b", "c"]
            .iter()
            .map(|n| vpc(n, "10.1.0.0/16", BTreeMap::new(), false))
            .collect(),
    );
    let state = State::new("test", "lin".into());
    let (live, _) = rt.block_on(refresh(&desired, &state, &providers)).unwrap();
    let changes = diff(&desired, &state, &live, &DiffOptions::default()).unwrap();
    let mut moved_on = state.clone();
    moved_on.serial = 7;
    let lock = MemoryLock::on(&moved_on);
    let (_, report) = rt
        .block_on(apply(
            &changes,
            state,
            &providers,
            lock.clone(),
            Arc::new(|_: &Event| {}),
            &ApplyOptions {
                parallelism: 1,
                ..options()
            },
        ))
        .unwrap();
    assert!(matches!(
        report.state_errors.first(),
        Some(StateError::SerialMismatch { found: 7, .. })
    ));
    assert!(report.interrupted(), "{report:?}");
    assert!(lock.records.lock().unwrap().is_empty());
}

/// Moves are one record that renames every moved address.
#[test]
fn moves_are_one_record() {
    let rt = runtime();
    let (providers, _) = sandbox();
    let desired = desired_of(vec![vpc("a", "10.1.0.0/16", BTreeMap::new(), false)]);
    let state = rt.block_on(converge(
        &desired,
        State::new("test", "lin".into()),
        &providers,
    ));
    let from = desired.plans.keys().next().unwrap().clone();
    let to = Address::new("renamed");
    let changes = crate::ChangeSet {
        changes: vec![],
        moved: vec![(from.clone(), to.clone())],
    };
    let lock = MemoryLock::on(&state);
    let (after, report) = rt
        .block_on(apply(
            &changes,
            state.clone(),
            &providers,
            lock.clone(),
            Arc::new(|_: &Event| {}),
            &options(),
        ))
        .unwrap();
    assert!(report.state_errors.is_empty());
    let records = lock.records.lock().unwrap();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].serial, state.serial + 1);
    assert_eq!(records[0].changes.len(), 2);
    assert!(after.plans.contains_key(&to) && !after.plans.contains_key(&from));
}

/// A cloud whose listing claims a total of `usize::MAX` plans and holds `real` of them.
struct ClaimsAHugeTotal(Arc<dyn PlanService>);

#[async_trait::async_trait]
impl PlanService for ClaimsAHugeTotal {
    async fn list_plans(
        &self,
        filter: &planform_model::PlanFilter,
        page: usize,
        page_size: usize,
    ) -> Result<planform_model::Page<planform_model::LivePlan>, planform_model::ProviderError> {
        let mut p = self.0.list_plans(filter, page, page_size).await?;
        p.total_count = usize::MAX;
        Ok(p)
    }
    async fn get_plan(
        &self,
        id: &str,
    ) -> Result<planform_model::LivePlan, planform_model::ProviderError> {
        self.0.get_plan(id).await
    }
    async fn create_plan(
        &self,
        r: &planform_model::NewPlan,
    ) -> Result<planform_model::LivePlan, planform_model::ProviderError> {
        self.0.create_plan(r).await
    }
    async fn update_plan(
        &self,
        r: &planform_model::PlanUpdate,
    ) -> Result<planform_model::LivePlan, planform_model::ProviderError> {
        self.0.update_plan(r).await
    }
    async fn execute_plan(&self, id: &str) -> Result<(), planform_model::ProviderError> {
        self.0.execute_plan(id).await
    }
    async fn cancel_plan(&self, id: &str) -> Result<(), planform_model::ProviderError> {
        self.0.cancel_plan(id).await
    }
    async fn delete_plan(&self, id: &str) -> Result<(), planform_model::ProviderError> {
        self.0.delete_plan(id).await
    }
    async fn resource_changes(
        &self,
        id: &str,
    ) -> Result<Vec<planform_model::ResourceChange>, planform_model::ProviderError> {
        self.0.resource_changes(id).await
    }
    async fn find_provisioned_product(
        &self,
        name: &str,
    ) -> Result<Option<planform_model::ProvisionedProduct>, planform_model::ProviderError> {
        self.0.find_provisioned_product(name).await
    }
    async fn provisioned_product(
        &self,
        id: &str,
    ) -> Result<planform_model::ProvisionedProduct, planform_model::ProviderError> {
        self.0.provisioned_product(id).await
    }
    fn capabilities(&self) -> planform_model::Capabilities {
        self.0.capabilities()
    }
    fn location(&self) -> String {
        self.0.location()
    }
    async fn account(&self) -> Result<String, planform_model::ProviderError> {
        self.0.account().await
    }
}

/// A listing that claims more plans than it holds (a wrong or hostile `TotalCount`) costs one
/// round of page requests past the real end, not a task per claimed page.
#[test]
fn a_wrong_total_count_ends_at_the_first_short_page() {
    let rt = runtime();
    let (_, service) = sandbox();
    for i in 0..150 {
        let inputs = vpc(&format!("x{i}"), "10.0.0.0/16", BTreeMap::new(), false).inputs;
        rt.block_on(service.create_plan(&planform_model::NewPlan {
            inputs,
            operation_type: planform_model::OperationType::LaunchProduct,
            idempotency_token: format!("t{i}"),
        }))
        .unwrap();
    }
    let boasting: Arc<dyn PlanService> = Arc::new(ClaimsAHugeTotal(service));
    let providers: Providers = [(ProviderRef::default_for(ProviderKind::Sandbox), boasting)].into();
    let mut state = State::new("test", "lin".into());
    state.plans.insert(
        Address::new("gone"),
        planform_state::ManagedPlan {
            status: "PreviewSuccess".into(),
            ..planform_state::ManagedPlan::new(
                ProviderRef::default_for(ProviderKind::Sandbox),
                "plan-gone",
            )
        },
    );
    let (_, stats) = rt
        .block_on(crate::refresh_to(
            &desired_of(vec![]),
            &state,
            &providers,
            crate::Depth::Full,
        ))
        .unwrap();
    // Page 1, then pages 2..=17 at once; page 2 is short (50 plans), so nothing more is asked.
    assert_eq!(stats.list_requests, 17);
}

/// A lost state rebuilt from the ownership tags finds a renamed plan: its tags keep the address
/// it was made for, and the manifests' `moved` block says where that address is now (found by
/// a new-user trial: `import --from-tags` after a rename missed the plan and created it again).
#[test]
fn a_lost_state_finds_a_plan_renamed_by_moved() {
    let rt = runtime();
    let (providers, _) = sandbox();
    let before = vpc("a", "10.1.0.0/16", BTreeMap::new(), true);
    let applied = rt.block_on(converge(
        &desired_of(vec![before.clone()]),
        State::new("test", "lin".into()),
        &providers,
    ));
    let mut renamed = before.clone();
    renamed.address = Address::new("renamed");
    let mut desired = desired_of(vec![renamed.clone()]);
    desired.moved.push(planform_model::Moved {
        from: before.address.clone(),
        to: renamed.address.clone(),
    });
    let lost = State::new("test", "lin2".into());
    let (live, _) = rt.block_on(refresh(&desired, &lost, &providers)).unwrap();
    let rebuilt = absorb(&lost, &live);
    assert_eq!(
        rebuilt.plans[&renamed.address].plan_id,
        applied.plans[&before.address].plan_id
    );
    let changes = diff(&desired, &rebuilt, &live, &DiffOptions::default()).unwrap();
    assert!(changes.is_empty(), "{:?}", changes.changes);
    // Drift's census agrees: the renamed address owns the plan, so it is not unmanaged.
    let (census, _) = rt
        .block_on(crate::refresh_to(
            &desired,
            &lost,
            &providers,
            crate::Depth::Full,
        ))
        .unwrap();
    assert!(census.unmanaged.is_empty(), "{:?}", census.unmanaged);
}

/// Trial finding 1: drift's census counts only tagged plans that still matter. An address
/// removed from the manifests leaves its launch, update and executed terminate plans in the
/// cloud, forgotten by the state: finished history, not drift. A tagged plan that can still act,
/// or whose product still lives with no address managing it (a lost state), still is.
#[test]
fn the_unmanaged_census_leaves_out_the_history_of_a_removed_address() {
    let rt = runtime();
    let (providers, service) = sandbox();
    let census = |desired: &DesiredState, state: &State| {
        let (live, _) = rt
            .block_on(crate::refresh_to(
                desired,
                state,
                &providers,
                crate::Depth::Full,
            ))
            .unwrap();
        live.unmanaged
    };
    let a = vpc("a", "10.1.0.0/16", BTreeMap::new(), true);
    let b = vpc("b", "10.2.0.0/16", BTreeMap::new(), true);
    let both = desired_of(vec![a.clone(), b.clone()]);
    let state = rt.block_on(converge(
        &both,
        State::new("test", "lin".into()),
        &providers,
    ));
    // An update of b, then b removed (terminated): three plans of b stay in the cloud.
    let b2 = vpc("b", "10.3.0.0/16", BTreeMap::new(), true);
    let state = rt.block_on(converge(
        &desired_of(vec![a.clone(), b2]),
        state,
        &providers,
    ));
    let only_a = desired_of(vec![a.clone()]);
    let state = rt.block_on(converge(&only_a, state, &providers));
    assert!(!state.plans.contains_key(&b.address));
    let page = rt
        .block_on(service.list_plans(&Default::default(), 1, 100))
        .unwrap();
    assert!(
        page.items.len() >= 4,
        "b's history is still listed: {page:?}"
    );
    assert_eq!(
        census(&only_a, &state),
        vec![],
        "finished history is not drift"
    );

    // A plan made by hand with this workspace's tags, never executed: it can still act.
    let mut inputs = vpc("c", "10.4.0.0/16", BTreeMap::new(), true).inputs;
    inputs = planform_model::ownership::tag(
        &inputs,
        "test",
        &Address::with_key("net", InstanceKey::Str("c".into())),
    );
    let by_hand = rt
        .block_on(service.create_plan(&planform_model::NewPlan {
            inputs,
            operation_type: planform_model::OperationType::LaunchProduct,
            idempotency_token: "by-hand".into(),
        }))
        .unwrap();
    assert_eq!(
        census(&only_a, &state),
        vec![("plan.net[\"c\"]".to_string(), by_hand.id.clone())]
    );
    // Another workspace's plans are not this one's census.
    let mut other = State::new("elsewhere", "lin".into());
    other.plans = state.plans.clone();
    let elsewhere = DesiredState {
        workspace: "elsewhere".into(),
        ..only_a.clone()
    };
    assert_eq!(census(&elsewhere, &other), vec![]);

    // A lost state: a's executed plan holds a live product no address manages.
    let lost = State::new("test", "lin".into());
    // (Some address of the manifests makes the provider one to read.)
    let z = vpc("z", "10.9.0.0/16", BTreeMap::new(), true);
    let found = census(&desired_of(vec![z]), &lost);
    let a_id = state.plans[&a.address].plan_id.clone();
    assert!(
        found.contains(&(a.address.to_string(), a_id)),
        "a's live product is drift once no address manages it: {found:?}"
    );
    assert!(
        found
            .iter()
            .all(|(address, _)| *address != b.address.to_string()),
        "b's product is gone: {found:?}"
    );
}

/// Trial finding 11: an interrupt stops an approval wait at once (on a paused clock: long before
/// the hour-long `timeouts.approval`), leaving the plan awaiting approval as recorded, and
/// starts nothing else.
#[test]
fn an_interrupt_stops_an_approval_wait_at_once() {
    let rt = runtime();
    let (providers, _) = sandbox();
    let mut db = vpc("db", "10.1.0.0/16", BTreeMap::new(), true);
    db.address = Address::new("db");
    db.inputs.product_id = "prod-sbxrds0000001".into();
    db.inputs.product_version_id = "pv-sbxrds0000001".into();
    db.inputs.portfolio_id = Some("port-sbxreview0001".into());
    db.inputs.provisioned_product_name = "db-1".into();
    db.inputs.parameters = [("engine".to_string(), "MySQL".to_string())].into();
    db.timeouts.approval = std::time::Duration::from_secs(3600);
    let mut later = vpc("later", "10.2.0.0/16", BTreeMap::new(), true);
    later.depends_on.insert(db.address.clone());
    let desired = desired_of(vec![db.clone(), later]);
    let state = State::new("test", "lin".into());
    let (live, _) = rt.block_on(refresh(&desired, &state, &providers)).unwrap();
    let changes = diff(&desired, &state, &live, &DiffOptions::default()).unwrap();
    let options = options();
    let interrupt = options.interrupt.clone();
    let lock = MemoryLock::on(&state);
    let start = tokio::time::Instant::now();
    let (state, report) = rt.block_on(async {
        let stop = async {
            tokio::time::sleep(std::time::Duration::from_secs(60)).await;
            interrupt.trigger();
        };
        let run = apply(
            &changes,
            state,
            &providers,
            lock.clone(),
            Arc::new(|_: &Event| {}),
            &options,
        );
        tokio::join!(run, stop).0.unwrap()
    });
    let waited = rt.block_on(async { start.elapsed() });
    assert!(
        waited < std::time::Duration::from_secs(120),
        "stopped at the interrupt, not the hour-long timeout: {waited:?}"
    );
    assert_eq!(
        report
            .awaiting()
            .map(|(a, _)| a.clone())
            .collect::<Vec<_>>(),
        vec![db.address.clone()],
        "{report:?}"
    );
    assert_eq!(state.plans[&db.address].status, "ApplicationInProgress");
    assert!(
        report
            .results
            .iter()
            .all(|(_, o)| !matches!(o, crate::Outcome::Done(_) | crate::Outcome::Failed(_))),
        "{report:?}"
    );
}

/// A cloud that refuses two requests of every three as throttled (what is left after the
/// client's attempts), counting the refusals.
struct Throttling {
    inner: Arc<dyn PlanService>,
    calls: std::sync::atomic::AtomicUsize,
    refused: std::sync::atomic::AtomicUsize,
}

impl Throttling {
    fn admit(&self) -> Result<(), planform_model::ProviderError> {
        use std::sync::atomic::Ordering::SeqCst;
        if self.calls.fetch_add(1, SeqCst).is_multiple_of(3) {
            return Ok(());
        }
        self.refused.fetch_add(1, SeqCst);
        Err(planform_model::ProviderError::new(
            planform_model::ErrorKind::Throttled {
                retry_after: Some(std::time::Duration::from_millis(200)),
            },
            planform_model::Sent::Yes,
            "Throttling.User",
            "Request was denied due to user flow control.",
        ))
    }
}

#[async_trait::async_trait]
impl PlanService for Throttling {
    async fn list_plans(
        &self,
        filter: &planform_model::PlanFilter,
        page: usize,
        page_size: usize,
    ) -> Result<planform_model::Page<planform_model::LivePlan>, planform_model::ProviderError> {
        self.admit()?;
        self.inner.list_plans(filter, page, page_size).await
    }
    async fn get_plan(
        &self,
        id: &str,
    ) -> Result<planform_model::LivePlan, planform_model::ProviderError> {
        self.admit()?;
        self.inner.get_plan(id).await
    }
    async fn create_plan(
        &self,
        r: &planform_model::NewPlan,
    ) -> Result<planform_model::LivePlan, planform_model::ProviderError> {
        self.admit()?;
        self.inner.create_plan(r).await
    }
    async fn update_plan(
        &self,
        r: &planform_model::PlanUpdate,
    ) -> Result<planform_model::LivePlan, planform_model::ProviderError> {
        self.admit()?;
        self.inner.update_plan(r).await
    }
    async fn execute_plan(&self, id: &str) -> Result<(), planform_model::ProviderError> {
        self.admit()?;
        self.inner.execute_plan(id).await
    }
    async fn cancel_plan(&self, id: &str) -> Result<(), planform_model::ProviderError> {
        self.admit()?;
        self.inner.cancel_plan(id).await
    }
    async fn delete_plan(&self, id: &str) -> Result<(), planform_model::ProviderError> {
        self.admit()?;
        self.inner.delete_plan(id).await
    }
    async fn resource_changes(
        &self,
        id: &str,
    ) -> Result<Vec<planform_model::ResourceChange>, planform_model::ProviderError> {
        self.admit()?;
        self.inner.resource_changes(id).await
    }
    async fn find_provisioned_product(
        &self,
        name: &str,
    ) -> Result<Option<planform_model::ProvisionedProduct>, planform_model::ProviderError> {
        self.admit()?;
        self.inner.find_provisioned_product(name).await
    }
    async fn provisioned_product(
        &self,
        id: &str,
    ) -> Result<planform_model::ProvisionedProduct, planform_model::ProviderError> {
        self.admit()?;
        self.inner.provisioned_product(id).await
    }
    fn capabilities(&self) -> planform_model::Capabilities {
        self.inner.capabilities()
    }
    fn location(&self) -> String {
        self.inner.location()
    }
    async fn account(&self) -> Result<String, planform_model::ProviderError> {
        self.inner.account().await
    }
}

/// Trial finding 10: a throttling cloud does not fail the plans of an apply. A request the
/// cloud refused as throttled did nothing: reads and waits look again later, and creates,
/// updates, executions and deletes are sent again later, all holding off together, within each
/// plan's timeouts; one plan per address results.
#[test]
fn a_throttling_cloud_fails_no_plan_of_an_apply() {
    let rt = runtime();
    let (plain, inner) = sandbox();
    let throttling = Arc::new(Throttling {
        inner,
        calls: Default::default(),
        refused: Default::default(),
    });
    let as_service: Arc<dyn PlanService> = throttling.clone();
    let providers: Providers =
        [(ProviderRef::default_for(ProviderKind::Sandbox), as_service)].into();
    let run = |desired: &DesiredState, state: State| {
        let (live, _) = rt.block_on(refresh(desired, &state, &plain)).unwrap();
        let state = absorb(&state, &live);
        let changes = diff(desired, &state, &live, &DiffOptions::default()).unwrap();
        let lock = MemoryLock::on(&state);
        let (state, report) = rt
            .block_on(apply(
                &changes,
                state,
                &providers,
                lock,
                Arc::new(|_: &Event| {}),
                &options(),
            ))
            .unwrap();
        assert_eq!(report.failed().count(), 0, "{report:?}");
        state
    };
    let plans = |cidr: &str| {
        desired_of(
            (0..6)
                .map(|i| vpc(&format!("n{i}"), cidr, BTreeMap::new(), true))
                .collect(),
        )
    };
    // Launch, update (a new plan per product), then terminate all: every kind of request.
    let state = run(&plans("10.1.0.0/16"), State::new("test", "lin".into()));
    let state = run(&plans("10.2.0.0/16"), state);
    assert_eq!(
        rt.block_on(pending(&plans("10.2.0.0/16"), &state, &plain)),
        vec![]
    );
    let state = run(&desired_of(vec![]), state);
    assert!(state.plans.is_empty());
    let refused = throttling.refused.load(std::sync::atomic::Ordering::SeqCst);
    assert!(refused >= 50, "{refused} refusals");
}

/// An update planned with values known only after a dependency applies, whose values turn out
/// to be what its product already has, does nothing (found by a new-user trial: renaming a plan
/// re-ran the product update of every dependent with identical inputs).
#[test]
fn an_update_whose_unknowns_resolve_to_the_live_inputs_does_nothing() {
    let rt = runtime();
    let (providers, service) = sandbox();
    let a = vpc("a", "10.1.0.0/16", BTreeMap::new(), true);
    let mut b = vpc("b", "10.2.0.0/16", BTreeMap::new(), true);
    b.inputs.tags.insert(
        "network".into(),
        planform_model::unknown_marker(&format!("{}.provisioned_product_id", a.address)),
    );
    b.depends_on.insert(a.address.clone());
    let state = rt.block_on(converge(
        &desired_of(vec![a.clone(), b.clone()]),
        State::new("test", "lin".into()),
        &providers,
    ));
    let mut renamed = a.clone();
    renamed.inputs.description = Some("renamed".into());
    let desired = desired_of(vec![renamed, b.clone()]);
    let (live, _) = rt.block_on(refresh(&desired, &state, &providers)).unwrap();
    let changes = diff(&desired, &state, &live, &DiffOptions::default()).unwrap();
    let actions: Vec<(String, &Action)> = changes
        .changes
        .iter()
        .map(|c| (c.address.to_string(), &c.action))
        .collect();
    let update = Action::UpdateProduct {
        execute: true,
        delete_executed_first: false,
    };
    assert_eq!(
        actions,
        [
            (a.address.to_string(), &update),
            (b.address.to_string(), &update)
        ],
        "b's tag is known only after a applies"
    );
    let plans_of = |name: &str| {
        rt.block_on(service.list_plans(&Default::default(), 1, 100))
            .unwrap()
            .items
            .iter()
            .filter(|p| p.inputs.provisioned_product_name == name)
            .count()
    };
    let lock = MemoryLock::on(&state);
    let (state, report) = rt
        .block_on(apply(
            &changes,
            state,
            &providers,
            lock,
            Arc::new(|_: &Event| {}),
            &options(),
        ))
        .unwrap();
    assert_eq!(report.failed().count(), 0, "{report:?}");
    assert_eq!(plans_of("net-a"), 2, "a was updated by a new plan");
    assert_eq!(plans_of("net-b"), 1, "b's update had nothing to do");
    assert!(rt
        .block_on(pending(&desired, &state, &providers))
        .is_empty());
}

/// A `moved` block naming whole plans moves every instance to the same key under the new name,
/// as Terraform moves a whole resource (found by a second look at the trial: `moved { from =
/// plan.app to = plan.server }` of a counted plan terminated and launched every instance); a
/// move onto an address already managed is refused, never overwrites it.
#[test]
fn a_whole_plan_moved_takes_its_instances_along() {
    let rt = runtime();
    let (providers, _) = sandbox();
    let instances: Vec<DesiredPlan> = ["a", "b"]
        .iter()
        .map(|k| vpc(k, "10.1.0.0/16", BTreeMap::new(), true))
        .collect();
    let state = rt.block_on(converge(
        &desired_of(instances.clone()),
        State::new("test", "lin".into()),
        &providers,
    ));
    let renamed: Vec<DesiredPlan> = instances
        .iter()
        .map(|p| DesiredPlan {
            address: Address::with_key("server", p.address.key.clone()),
            ..p.clone()
        })
        .collect();
    let mut desired = desired_of(renamed);
    desired.moved.push(planform_model::Moved {
        from: Address::new("net"),
        to: Address::new("server"),
    });
    let (live, _) = rt.block_on(refresh(&desired, &state, &providers)).unwrap();
    let changes = diff(&desired, &state, &live, &DiffOptions::default()).unwrap();
    assert!(changes.changes.is_empty(), "{:?}", changes.changes);
    let moved: Vec<String> = changes
        .moved
        .iter()
        .map(|(f, t)| format!("{f} -> {t}"))
        .collect();
    assert_eq!(
        moved,
        [
            "plan.net[\"a\"] -> plan.server[\"a\"]",
            "plan.net[\"b\"] -> plan.server[\"b\"]"
        ]
    );

    // Onto an address the state already manages: refused.
    let mut taken = state.clone();
    let a = taken.plans[&instances[0].address].clone();
    taken.plans.insert(
        Address::with_key("server", instances[1].address.key.clone()),
        a,
    );
    let errors = diff(&desired, &taken, &live, &DiffOptions::default()).unwrap_err();
    assert!(
        errors
            .iter()
            .any(|e| e.to_string().contains("is managed already")),
        "{errors:?}"
    );
}

/// A plan that never ran, at an address whose product this workspace launched, is replaced by a
/// plan that updates that product, also where plans do not say which operation they are (AWS:
/// a failed update plan reads as a launch). Found by a second trial: reverting after a failed
/// AWS update was planned as "2 to create, 2 to terminate".
#[test]
fn a_failed_plan_of_a_launched_product_is_replaced_by_an_update() {
    let d = vpc("a", "10.1.0.0/16", BTreeMap::new(), true);
    let mut state = State::new("test", "lin".into());
    let mut failed = live_of(&d, planform_model::PlanStatus::PreviewFailed);
    failed.operation_type = planform_model::OperationType::LaunchProduct;
    failed.inputs.product_version_id = "pv-other".into();
    let mut managed = planform_state::ManagedPlan::new(
        ProviderRef::default_for(ProviderKind::Sandbox),
        failed.id.clone(),
    );
    managed.launched = true;
    state.plans.insert(d.address.clone(), managed);
    let mut live = LiveSnapshot::default();
    live.plans
        .insert(d.address.clone(), LiveEntry::Present(failed));
    let options = DiffOptions {
        capabilities: [(d.provider.clone(), planform_model::Capabilities::AWS)].into(),
        ..DiffOptions::default()
    };
    let changes = diff(&desired_of(vec![d.clone()]), &state, &live, &options).unwrap();
    assert_eq!(
        changes.changes[0].action,
        Action::Replace {
            update_existing: true,
            execute: true
        }
    );
}

/// Adding `count` to a plan keeps its plan as instance 0, and removing it moves instance 0 back,
/// as Terraform does; a new address taking over a product another address terminates is
/// refused (found by a second trial: both ran, and the products were lost).
#[test]
fn count_added_or_removed_keeps_the_plan_and_a_takeover_of_a_terminated_product_is_refused() {
    let rt = runtime();
    let (providers, _) = sandbox();
    let mut single = vpc("a", "10.1.0.0/16", BTreeMap::new(), true);
    single.address = Address::new("solo");
    let state = rt.block_on(converge(
        &desired_of(vec![single.clone()]),
        State::new("test", "lin".into()),
        &providers,
    ));
    let mut counted = single.clone();
    counted.address = Address::with_key("solo", InstanceKey::Int(0));
    for (from, to) in [(&single, &counted), (&counted, &single)] {
        let mut before = state.clone();
        let p = before.plans.remove(&single.address).unwrap();
        before.plans.insert(from.address.clone(), p);
        let desired = desired_of(vec![to.clone()]);
        let (live, _) = rt.block_on(refresh(&desired, &before, &providers)).unwrap();
        let changes = diff(&desired, &before, &live, &DiffOptions::default()).unwrap();
        assert!(changes.changes.is_empty(), "{:?}", changes.changes);
        assert_eq!(
            changes.moved,
            vec![(from.address.clone(), to.address.clone())]
        );
    }

    // Another name, no moved block: the new address would update the product the old one
    // terminates.
    let mut renamed = single.clone();
    renamed.address = Address::new("other");
    let desired = desired_of(vec![renamed]);
    let (live, _) = rt.block_on(refresh(&desired, &state, &providers)).unwrap();
    let errors = diff(&desired, &state, &live, &DiffOptions::default()).unwrap_err();
    assert!(
        errors.iter().any(|e| e.to_string().contains(
            "would take over the existing product \"net-a\" while plan.solo terminates it"
        )),
        "{errors:?}"
    );
}

/// `--target` names a whole plan or one instance by its exact key: a mistyped key is an error,
/// never a quiet "no changes" (found by a second trial).
#[test]
fn a_target_with_a_key_no_instance_has_is_an_error() {
    let desired = desired_of(vec![vpc("a", "10.1.0.0/16", BTreeMap::new(), true)]);
    let state = State::new("test", "lin".into());
    let target = |t: Address| DiffOptions {
        targets: vec![t],
        ..DiffOptions::default()
    };
    let live = LiveSnapshot::default();
    let errors = diff(
        &desired,
        &state,
        &live,
        &target(Address::with_key("net", InstanceKey::Str("zzz".into()))),
    )
    .unwrap_err();
    assert_eq!(
        errors[0].to_string(),
        "--target plan.net[\"zzz\"]: no such address in the manifests or the state"
    );
    assert!(diff(&desired, &state, &live, &target(Address::new("net"))).is_ok());
    assert!(diff(
        &desired,
        &state,
        &live,
        &target(Address::with_key("net", InstanceKey::Str("a".into())))
    )
    .is_ok());
}

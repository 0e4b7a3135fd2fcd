//! Status-machine and persistence tests, driven by a manual clock (no sleeping).

use std::sync::Arc;

use crate::catalog::Catalog;
use crate::clock::ManualClock;
use crate::core::{CreatePlan, ListPlans, Sandbox, Settings, UpdatePlan};
use crate::store::Store;

fn sandbox(clock: &Arc<ManualClock>, store: Store) -> Sandbox {
    Sandbox::new(
        Catalog::demo(),
        Settings {
            preview_ms: 1000,
            execute_ms: 5000,
            ..Settings::default()
        },
        clock.clone(),
        store,
    )
    .unwrap()
}

fn vpc(name: &str) -> CreatePlan {
    CreatePlan {
        name: name.into(),
        product_id: "prod-sbxvpc0000001".into(),
        product_version_id: "pv-sbxvpc0000001".into(),
        provisioned_product_name: name.into(),
        stack_region_id: Some("cn-hangzhou".into()),
        parameters: vec![("cidr_block".into(), "10.0.0.0/16".into())],
        ..CreatePlan::default()
    }
}

#[test]
fn preview_then_execute_produces_outputs() {
    let clock = Arc::new(ManualClock::new(1_700_000_000_000));
    let mut sb = sandbox(&clock, Store::memory());
    let p = sb.create_plan(vpc("net")).unwrap();
    assert_eq!(p.status.as_str(), "PreviewInProgress");
    assert!(p.id.starts_with("plan-") && p.id.len() == 19, "{}", p.id);
    clock.advance(999);
    assert_eq!(
        sb.get_plan(&p.id).unwrap().status.as_str(),
        "PreviewInProgress"
    );
    clock.advance(1);
    let p = sb.get_plan(&p.id).unwrap();
    assert_eq!(p.status.as_str(), "PreviewSuccess");
    assert_eq!(
        p.resource_changes
            .iter()
            .map(|r| r.action.as_str())
            .collect::<Vec<_>>(),
        ["Add", "Add"]
    );
    assert_eq!(
        sb.execute_plan(&p.id).unwrap().status.as_str(),
        "ExecuteInProgress"
    );
    assert!(sb
        .execute_plan(&p.id)
        .unwrap_err()
        .code
        .starts_with("InvalidStatus"));
    clock.advance(5000);
    let p = sb.get_plan(&p.id).unwrap();
    assert_eq!(p.status.as_str(), "ExecuteSuccess");
    let pp = sb.provisioned_product(&p.provisioned_product_id).unwrap();
    assert_eq!(pp.status.as_str(), "Available");
    let outputs: Vec<&str> = pp.outputs.iter().map(|(k, _, _)| k.as_str()).collect();
    assert_eq!(outputs, ["vpc_id", "vswitch_id", "cidr_block"]);
    assert!(pp.outputs[0].1.starts_with("vpc-"));
    assert_eq!(pp.outputs[2].1, "10.0.0.0/16");
    let task = sb.task(pp.last_task_id.as_deref().unwrap()).unwrap();
    assert_eq!(task.status.as_str(), "Succeeded");
    assert_eq!(task.outputs, pp.outputs);
}

#[test]
fn invalid_parameters_fail_the_preview_with_a_message() {
    let clock = Arc::new(ManualClock::new(0));
    let mut sb = sandbox(&clock, Store::memory());
    let mut req = vpc("app");
    req.product_id = "prod-sbxecs0000001".into();
    req.product_version_id = "pv-sbxecs0000002".into();
    req.parameters = vec![
        ("vpc_id".into(), "vpc-1".into()),
        ("instance_type".into(), "huge".into()),
    ];
    let p = sb.create_plan(req).unwrap();
    clock.advance(1000);
    let p = sb.get_plan(&p.id).unwrap();
    assert_eq!(p.status.as_str(), "PreviewFailed");
    assert!(p
        .status_message
        .unwrap()
        .contains("'instance_type' value 'huge' is not one of the AllowedValues"));
    // Fix it with an update: a new preview.
    let fixed = sb
        .update_plan(UpdatePlan {
            plan_id: p.id.clone(),
            product_id: p.product_id.clone(),
            product_version_id: p.product_version_id.clone(),
            parameters: vec![
                ("vpc_id".into(), "vpc-1".into()),
                ("instance_type".into(), "ecs.g7.large".into()),
            ],
            ..UpdatePlan::default()
        })
        .unwrap();
    assert_eq!(fixed.status.as_str(), "PreviewInProgress");
    clock.advance(1000);
    assert_eq!(
        sb.get_plan(&p.id).unwrap().status.as_str(),
        "PreviewSuccess"
    );
}

#[test]
fn approval_flow_and_records() {
    let clock = Arc::new(ManualClock::new(0));
    let mut sb = sandbox(&clock, Store::memory());
    let mut req = vpc("db");
    req.product_id = "prod-sbxrds0000001".into();
    req.product_version_id = "pv-sbxrds0000001".into();
    req.parameters = vec![("engine".into(), "MySQL".into())];
    let p = sb.create_plan(req).unwrap();
    clock.advance(1000);
    let p = sb.execute_plan(&p.id).unwrap();
    assert_eq!(p.status.as_str(), "ApplicationInProgress");
    assert_eq!(p.approvers, ["RamUser:dba"]);
    let listed = sb
        .list_plans(&ListPlans {
            approver_names: vec!["dba".into()],
            page_number: 1,
            page_size: 10,
            ..ListPlans::default()
        })
        .unwrap();
    assert_eq!(listed.1, 1);
    let p = sb
        .approve_plan(&p.id, "Approve", "ok", "RamUser:dba")
        .unwrap();
    assert_eq!(p.status.as_str(), "ApplicationApproved");
    assert_eq!(
        sb.execute_plan(&p.id).unwrap().status.as_str(),
        "ExecuteInProgress"
    );
    clock.advance(5000);
    let p = sb.get_plan(&p.id).unwrap();
    assert_eq!(p.status.as_str(), "ExecuteSuccess");
    assert_eq!(
        p.records
            .iter()
            .map(|r| r.action.as_str())
            .collect::<Vec<_>>(),
        ["Submit", "Approve"]
    );
}

#[test]
fn validation_errors_use_the_documented_codes() {
    let clock = Arc::new(ManualClock::new(0));
    let mut sb = sandbox(&clock, Store::memory());
    let code = |sb: &mut Sandbox, f: &dyn Fn(&mut CreatePlan)| {
        let mut r = vpc("x");
        f(&mut r);
        sb.create_plan(r).unwrap_err().code
    };
    assert_eq!(code(&mut sb, &|r| r.name.clear()), "MissingPlanName");
    assert_eq!(
        code(&mut sb, &|r| r.stack_region_id = None),
        "MissingStackRegionId"
    );
    assert_eq!(
        code(&mut sb, &|r| r.product_id = "prod-nope".into()),
        "InvalidProduct.NotFound"
    );
    assert_eq!(
        code(&mut sb, &|r| r.product_version_id = "pv-nope".into()),
        "InvalidProductVersion.NotFound"
    );
    assert_eq!(
        code(&mut sb, &|r| r.tags = vec![("aliyun:x".into(), "v".into())]),
        "InvalidTagKey"
    );
    assert_eq!(
        code(&mut sb, &|r| r.operation_type =
            Some("UpdateProvisionedProduct".into())),
        "InvalidProvisionedProduct.NotFound"
    );
    assert_eq!(
        sb.get_plan("plan-nope").unwrap_err().code,
        "InvalidProvisionedProductPlan.NotFound"
    );
}

#[test]
fn idempotency_token_returns_the_first_plan() {
    let clock = Arc::new(ManualClock::new(0));
    let mut sb = sandbox(&clock, Store::memory());
    let mut r = vpc("a");
    r.idempotency_token = Some("tok-1".into());
    let first = sb.create_plan(r.clone()).unwrap();
    let second = sb.create_plan(r).unwrap();
    assert_eq!(first.id, second.id);
    assert_eq!(
        sb.list_plans(&ListPlans {
            page_number: 1,
            page_size: 100,
            ..ListPlans::default()
        })
        .unwrap()
        .1,
        1
    );
}

#[test]
fn pages_filters_and_sorting() {
    let clock = Arc::new(ManualClock::new(0));
    let mut sb = sandbox(&clock, Store::memory());
    for i in 0..25 {
        sb.create_plan(vpc(&format!("net-{i:02}"))).unwrap();
        clock.advance(10);
    }
    let q = |n, asc| ListPlans {
        page_number: n,
        page_size: 10,
        ascending: asc,
        ..ListPlans::default()
    };
    let (p1, total) = sb.list_plans(&q(1, false)).unwrap();
    assert_eq!((p1.len(), total, p1[0].name.as_str()), (10, 25, "net-24"));
    let (p3, _) = sb.list_plans(&q(3, true)).unwrap();
    assert_eq!(
        p3.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(),
        ["net-20", "net-21", "net-22", "net-23", "net-24"]
    );
    let (named, total) = sb
        .list_plans(&ListPlans {
            names: vec!["NET-03".into()],
            page_number: 1,
            page_size: 10,
            ..ListPlans::default()
        })
        .unwrap();
    assert_eq!((named.len(), total), (1, 1));
    let (fuzzy, _) = sb
        .list_plans(&ListPlans {
            full_text: Some("t-1".into()),
            page_number: 1,
            page_size: 100,
            ..ListPlans::default()
        })
        .unwrap();
    assert_eq!(fuzzy.len(), 10);
    assert_eq!(
        sb.list_plans(&ListPlans {
            page_number: 1,
            page_size: 101,
            ..ListPlans::default()
        })
        .unwrap_err()
        .code,
        "InvalidPageSize"
    );
}

#[test]
fn data_survives_reopening_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sb.redb");
    let clock = Arc::new(ManualClock::new(0));
    let id = {
        let mut sb = sandbox(&clock, Store::open(&path).unwrap());
        let p = sb.create_plan(vpc("keep")).unwrap();
        clock.advance(1000);
        sb.execute_plan(&p.id).unwrap();
        p.id
    };
    clock.advance(5000);
    let mut sb = sandbox(&clock, Store::open(&path).unwrap());
    let p = sb.get_plan(&id).unwrap();
    assert_eq!(
        p.status.as_str(),
        "ExecuteSuccess",
        "the pending execution finished after the restart"
    );
    assert_eq!(sb.list_provisioned_products().unwrap().len(), 1);
    // New ids never collide with old ones.
    let q = sb.create_plan(vpc("other")).unwrap();
    assert_ne!(q.id, id);
}

/// Two launches of one name made before either executed: the first to execute takes the name,
/// the second's execution is refused as its creation would be now (found by a new user: two
/// addresses launched two products named "same").
#[test]
fn a_launch_whose_name_was_taken_since_is_refused_at_execution() {
    let clock = Arc::new(ManualClock::new(1_700_000_000_000));
    let mut sb = sandbox(&clock, Store::memory());
    let mut first = vpc("same");
    first.name = "a".into();
    let mut second = vpc("same");
    second.name = "b".into();
    let a = sb.create_plan(first).unwrap();
    let b = sb.create_plan(second).unwrap();
    clock.advance(1000);
    sb.execute_plan(&a.id).unwrap();
    let refused = sb.execute_plan(&b.id).unwrap_err();
    assert_eq!(
        (refused.status, refused.code.as_str()),
        (400, "InvalidProvisionedProductName.Duplicate")
    );
    assert_eq!(
        sb.get_plan(&b.id).unwrap().status.as_str(),
        "PreviewSuccess"
    );
    clock.advance(5000);
    // Still refused once the first launch is done; the first plan is unaffected.
    assert!(sb.execute_plan(&b.id).is_err());
    assert_eq!(
        sb.get_plan(&a.id).unwrap().status.as_str(),
        "ExecuteSuccess"
    );
}

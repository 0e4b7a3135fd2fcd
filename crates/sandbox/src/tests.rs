//! Status-machine and persistence tests, driven by a manual clock (no sleeping).

use std::sync::Arc;

use crate::catalog::Catalog;
use crate::clock::ManualClock;
use crate::core::{
    CreatePlan, ListPlans, Partition, PlanRecord, ProductRecord, Sandbox, Settings, TaskRecord,
    UpdatePlan,
};
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

fn list_all(sb: &mut Sandbox) -> Vec<String> {
    let (items, _) = sb
        .list_plans(&ListPlans {
            page_number: 1,
            page_size: 100,
            ..ListPlans::default()
        })
        .unwrap();
    items.into_iter().map(|p| p.name).collect()
}

/// Issue 13: each face and region keeps its own plans, products, tasks and idempotency tokens,
/// as the real clouds do; the sandbox's owner, calling it directly, sees them all.
#[test]
fn each_face_and_region_is_its_own_store() {
    let clock = Arc::new(ManualClock::new(0));
    let mut sb = sandbox(&clock, Store::memory());
    let us = Partition::aws("us-east-1");
    let eu = Partition::aws("eu-west-1");
    let hz = Partition::alibaba("cn-hangzhou");
    let token = |name: &str| CreatePlan {
        idempotency_token: Some("same-token".into()),
        ..vpc(name)
    };
    let made = sb.within(us.clone(), |sb| {
        sb.create_plan(CreatePlan {
            aws: true,
            ..token("net")
        })
    });
    let made = made.unwrap();
    assert!(
        made.id.starts_with("plan-") && made.id.len() == 18,
        "AWS: 13 characters: {}",
        made.id
    );
    // The same token and the same product name are another plan and another product elsewhere.
    let other = sb
        .within(eu.clone(), |sb| {
            sb.create_plan(CreatePlan {
                aws: true,
                ..token("net")
            })
        })
        .unwrap();
    assert_ne!(other.id, made.id);
    let ali = sb
        .within(hz.clone(), |sb| sb.create_plan(token("net")))
        .unwrap();
    assert!(ali.id.len() == 19, "Alibaba: 14 characters: {}", ali.id);
    let embedded = sb
        .within(Partition::Embedded, |sb| sb.create_plan(vpc("quick")))
        .unwrap();
    for (p, seen) in [
        (&us, vec!["net"]),
        (&eu, vec!["net"]),
        (&hz, vec!["net"]),
        (&Partition::Embedded, vec!["quick"]),
        (&Partition::aws("ap-south-1"), vec![]),
    ] {
        assert_eq!(sb.within(p.clone(), list_all), seen, "{p}");
    }
    assert_eq!(list_all(&mut sb).len(), 4, "the owner sees every partition");
    // A plan is not found from another partition, nor can it be executed or deleted there.
    let err = sb
        .within(eu.clone(), |sb| sb.get_plan(&made.id))
        .unwrap_err();
    assert_eq!(err.code, "InvalidProvisionedProductPlan.NotFound");
    assert_eq!(
        sb.within(hz.clone(), |sb| sb.delete_plan(&embedded.id))
            .unwrap_err()
            .status,
        404
    );
    // Executed, each makes its own product and task (AWS: a record, `rec-`).
    clock.advance(1000);
    for (p, id) in [(&us, &made.id), (&hz, &ali.id)] {
        sb.within(p.clone(), |sb| sb.execute_plan(id)).unwrap();
    }
    clock.advance(5000);
    let pp = sb
        .within(us.clone(), |sb| sb.provisioned_product_named("net"))
        .unwrap()
        .unwrap();
    let task = pp.last_task_id.clone().unwrap();
    assert!(task.starts_with("rec-") && task.len() == 17, "{task}");
    assert!(pp.id.starts_with("pp-") && pp.id.len() == 16, "{}", pp.id);
    assert!(sb.within(us.clone(), |sb| sb.task(&task)).is_ok());
    assert_eq!(
        sb.within(hz.clone(), |sb| sb.task(&task)).unwrap_err().code,
        "InvalidTask.NotFound"
    );
    assert!(sb
        .within(eu.clone(), |sb| sb.provisioned_product(&pp.id))
        .is_err());
    assert_eq!(
        sb.within(eu.clone(), |sb| sb.list_provisioned_products())
            .unwrap()
            .len(),
        0
    );
    let hz_products = sb
        .within(hz.clone(), |sb| sb.list_provisioned_products())
        .unwrap();
    assert_eq!(hz_products.len(), 1);
    assert!(hz_products[0]
        .last_task_id
        .as_deref()
        .unwrap()
        .starts_with("task-"));
}

/// A data directory written before partitions keeps working: each record goes to the partition
/// it was made in (an AWS plan to its signing region, an account-owned one to the embedded
/// provider, a key's Alibaba plan to `sandbox serve`'s cn-hangzhou), with its product, task and
/// token, and stays there once rewritten.
#[test]
fn records_written_before_partitions_stay_where_they_were_made() {
    use crate::store::encode;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sb.redb");
    let clock = Arc::new(ManualClock::new(0));
    // Yesterday's records: made, then stripped of their partition as the old sandbox wrote them.
    let (aws_id, ali_id, emb_id) = {
        let mut sb = sandbox(&clock, Store::memory());
        let aws = sb
            .create_plan(CreatePlan {
                aws: true,
                owner: Some("AKIDOLD".into()),
                stack_region_id: Some("eu-west-1".into()),
                idempotency_token: Some("t1".into()),
                ..vpc("aws-net")
            })
            .unwrap();
        let ali = sb
            .create_plan(CreatePlan {
                owner: Some("LTAIold".into()),
                ..vpc("ali-net")
            })
            .unwrap();
        let emb = sb.create_plan(vpc("quick")).unwrap();
        clock.advance(1000);
        sb.execute_plan(&aws.id).unwrap();
        clock.advance(5000);
        let aws = sb.get_plan(&aws.id).unwrap();
        let pp = sb.provisioned_product(&aws.provisioned_product_id).unwrap();
        let task = sb.task(pp.last_task_id.as_deref().unwrap()).unwrap();
        let store = Store::open(&path).unwrap();
        let mut writes = vec![];
        for p in [
            aws.clone(),
            sb.get_plan(&ali.id).unwrap(),
            sb.get_plan(&emb.id).unwrap(),
        ] {
            let p = PlanRecord {
                partition: None,
                ..p
            };
            writes.push(encode(format!("plan/{}", p.id), &p));
        }
        writes.push(encode(
            format!("pp/{}", pp.id),
            &ProductRecord {
                partition: None,
                ..pp
            },
        ));
        writes.push(encode(
            format!("task/{}", task.id),
            &TaskRecord {
                partition: None,
                ..task
            },
        ));
        writes.push(encode(
            "token/t1".into(),
            &serde_json::json!({"token": "t1", "plan_id": aws.id}),
        ));
        store.commit(writes).unwrap();
        drop(store);
        (aws.id, ali.id, emb.id)
    };
    for _ in 0..2 {
        let mut sb = sandbox(&clock, Store::open(&path).unwrap());
        let eu = Partition::aws("eu-west-1");
        assert_eq!(sb.within(eu.clone(), list_all), ["aws-net"]);
        assert_eq!(
            sb.within(Partition::alibaba("cn-hangzhou"), list_all),
            ["ali-net"]
        );
        assert_eq!(sb.within(Partition::Embedded, list_all), ["quick"]);
        assert!(sb.within(Partition::aws("us-east-1"), list_all).is_empty());
        let pp = sb
            .within(eu.clone(), |sb| sb.provisioned_product_named("aws-net"))
            .unwrap()
            .expect("the product went with its plan");
        assert!(sb
            .within(eu.clone(), |sb| sb
                .task(pp.last_task_id.as_deref().unwrap()))
            .is_ok());
        assert!(sb
            .within(Partition::Embedded, |sb| sb.provisioned_product(&pp.id))
            .is_err());
        // The token still answers with its plan, in its partition.
        let again = sb
            .within(eu.clone(), |sb| {
                sb.create_plan(CreatePlan {
                    aws: true,
                    idempotency_token: Some("t1".into()),
                    stack_region_id: Some("eu-west-1".into()),
                    ..vpc("aws-net")
                })
            })
            .unwrap();
        assert_eq!(again.id, aws_id);
        assert!(sb
            .within(Partition::alibaba("cn-hangzhou"), |sb| sb.get_plan(&ali_id))
            .is_ok());
        assert!(sb
            .within(Partition::Embedded, |sb| sb.get_plan(&emb_id))
            .is_ok());
        assert!(sb
            .within(Partition::Embedded, |sb| sb.get_plan(&ali_id))
            .is_err());
        drop(sb);
    }
}

/// Issue 14: only an assigned approver approves or rejects, and the record names who did.
#[test]
fn only_an_assigned_approver_reviews_and_the_record_names_them() {
    let clock = Arc::new(ManualClock::new(0));
    let mut sb = sandbox(&clock, Store::memory());
    let mut req = vpc("db");
    req.product_id = "prod-sbxrds0000001".into();
    req.product_version_id = "pv-sbxrds0000001".into();
    req.parameters = vec![("engine".into(), "MySQL".into())];
    req.owner = Some("RamUser:alice".into());
    let p = sb.create_plan(req.clone()).unwrap();
    clock.advance(1000);
    sb.execute_plan(&p.id).unwrap();
    for who in ["RamUser:alice", "RamUser:mallory", "RamRole:dba", "dba"] {
        let e = sb.approve_plan(&p.id, "Reject", "no", who).unwrap_err();
        assert_eq!((e.status, e.code.as_str()), (403, "Forbidden"), "{who}");
        assert!(
            e.message.contains(who) && e.message.contains("RamUser:dba"),
            "{}",
            e.message
        );
    }
    assert_eq!(
        sb.get_plan(&p.id).unwrap().status.as_str(),
        "ApplicationInProgress",
        "a refused review changes nothing"
    );
    let p = sb
        .approve_plan(&p.id, "Reject", "not now", "RamUser:dba")
        .unwrap();
    assert_eq!(p.status.as_str(), "ApplicationRejected");
    let last = p.records.last().unwrap();
    assert_eq!(
        (last.principal.as_str(), last.comment.as_str()),
        ("RamUser:dba", "not now")
    );
    // A plan not under review is refused for its status first.
    let e = sb
        .approve_plan(&p.id, "Approve", "", "RamUser:dba")
        .unwrap_err();
    assert!(e.code.starts_with("InvalidStatus"), "{e}");
    // `planform sandbox approve` acts as the assigned approver, in whatever partition.
    let q = sb
        .within(Partition::alibaba("cn-shanghai"), |sb| {
            sb.create_plan(CreatePlan {
                name: "db2".into(),
                provisioned_product_name: "db2".into(),
                ..req.clone()
            })
        })
        .unwrap();
    clock.advance(1000);
    sb.within(Partition::alibaba("cn-shanghai"), |sb| {
        sb.execute_plan(&q.id)
    })
    .unwrap();
    let q = sb
        .approve_as_assigned_approver(&q.id, "Approve", "ok")
        .unwrap();
    assert_eq!(q.status.as_str(), "ApplicationApproved");
    assert_eq!(q.records.last().unwrap().principal, "RamUser:dba");
}

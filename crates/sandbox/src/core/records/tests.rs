//! The stored records decode from the JSON the sandbox has always written, and encode back to
//! the same bytes, so an existing `sandbox.redb` keeps loading.

use planform_model::OperationType;

use super::{ApprovalAction, Event, PlanRecord, ProductRecord, TaskRecord};
use crate::core::status::{PlanStatus, ProductStatus, TaskStatus};

/// Decodes `json` as `T`, checks it with `expect`, and checks that it encodes to `json` again.
fn check<T>(json: &str, expect: impl FnOnce(&T))
where
    T: serde::de::DeserializeOwned + serde::Serialize,
{
    let record: T = serde_json::from_str(json).expect("today's record decodes");
    expect(&record);
    assert_eq!(serde_json::to_string(&record).unwrap(), json);
}

#[test]
fn plan_record_in_todays_form() {
    let json = concat!(
        r#"{"id":"plan-0a1b2c3d4e5f6g","seq":3,"name":"net","description":null,"#,
        r#""operation_type":"UpdateProvisionedProduct","status":"ApplicationInProgress","#,
        r#""status_message":null,"portfolio_id":"port-sbxnet0000001","#,
        r#""product_id":"prod-sbxvpc0000001","product_version_id":"pv-sbxvpc0000001","#,
        r#""provisioned_product_id":"pp-0a1b2c3d4e5f6g","provisioned_product_name":"net","#,
        r#""stack_region_id":"cn-hangzhou","stack_id":null,"#,
        r#""parameters":[["cidr_block","10.0.0.0/16"]],"tags":[["team","core"]],"#,
        r#""notification_arns":[],"create_ms":1700000000000,"update_ms":1700000001000,"#,
        r#""due":{"at_ms":1700000006000,"event":"ExecuteDone"},"#,
        r#""approvers":["RamUser:alice"],"#,
        r#""records":[{"action":"Submit","comment":"","principal":"1234567890123456","time_ms":1700000001000},"#,
        r#"{"action":"reject","comment":"no","principal":"RamUser:alice","time_ms":1700000002000}],"#,
        r#""resource_changes":[{"action":"Modify","logical_resource_id":"Vpc","#,
        r#""physical_resource_id":"vpc-x","resource_type":"ALIYUN::ECS::VPC","replacement":"False"}],"#,
        r#""idempotency_token":"tok-1","owner":"1234567890123456","aws":false}"#
    );
    check(json, |p: &PlanRecord| {
        assert_eq!(p.operation_type, OperationType::UpdateProvisionedProduct);
        assert_eq!(p.status, PlanStatus::ApplicationInProgress);
        assert_eq!(p.due.as_ref().unwrap().event, Event::ExecuteDone);
        assert_eq!(p.records[0].action, ApprovalAction::Submit);
        assert_eq!(p.records[1].action, ApprovalAction::Reject);
    });
}

#[test]
fn plan_record_from_before_the_aws_face() {
    // Records written before the AWS face had no `aws` field.
    let json = concat!(
        r#"{"id":"plan-1","seq":1,"name":"n","description":"d","#,
        r#""operation_type":"LaunchProduct","status":"ExecuteSuccess","status_message":null,"#,
        r#""portfolio_id":null,"product_id":"prod-1","product_version_id":"pv-1","#,
        r#""provisioned_product_id":"pp-1","provisioned_product_name":"n","#,
        r#""stack_region_id":null,"stack_id":"s","parameters":[],"tags":[],"#,
        r#""notification_arns":[],"create_ms":0,"update_ms":0,"due":null,"approvers":[],"#,
        r#""records":[],"resource_changes":[],"idempotency_token":null,"owner":"o"}"#
    );
    let p: PlanRecord = serde_json::from_str(json).unwrap();
    assert_eq!(p.status, PlanStatus::ExecuteSuccess);
    assert_eq!(p.operation_type, OperationType::LaunchProduct);
    assert!(!p.aws);
}

#[test]
fn product_record_in_todays_form() {
    for (spelling, status) in [
        ("UnderChange", ProductStatus::UnderChange),
        ("Available", ProductStatus::Available),
        ("Error", ProductStatus::Error),
        ("Terminated", ProductStatus::Terminated),
    ] {
        let json = format!(
            concat!(
                r#"{{"id":"pp-1","seq":2,"name":"net","status":"{}","status_message":null,"#,
                r#""product_id":"prod-1","product_version_id":"pv-1","portfolio_id":null,"#,
                r#""stack_id":"0a1b2c3d-0a1b-4c3d-a1b2-0a1b2c3d4e5f","stack_region_id":"cn-hangzhou","#,
                r#""parameters":[["k","v"]],"outputs":[["VpcId","vpc-1","The VPC"]],"#,
                r#""last_task_id":"task-1","last_provisioning_task_id":"task-1","#,
                r#""last_successful_task_id":null,"create_ms":5,"terminated":false}}"#
            ),
            spelling
        );
        check(&json, |p: &ProductRecord| assert_eq!(p.status, status));
    }
}

#[test]
fn task_record_in_todays_form() {
    for (spelling, status) in [
        ("InProgress", TaskStatus::InProgress),
        ("Succeeded", TaskStatus::Succeeded),
        ("Failed", TaskStatus::Failed),
    ] {
        let json = format!(
            concat!(
                r#"{{"id":"task-1","task_type":"TerminateProvisionedProduct","status":"{}","#,
                r#""status_message":null,"outputs":[],"parameters":[],"provisioned_product_id":"pp-1","#,
                r#""provisioned_product_name":"net","product_id":"prod-1","product_version_id":"pv-1","#,
                r#""portfolio_id":null,"plan_id":"","create_ms":1,"update_ms":2}}"#
            ),
            spelling
        );
        check(&json, |t: &TaskRecord| {
            assert_eq!(t.status, status);
            assert_eq!(t.task_type, OperationType::TerminateProvisionedProduct);
        });
    }
}

#[test]
fn every_plan_status_keeps_its_spelling() {
    #[derive(serde::Serialize, serde::Deserialize)]
    struct Stored {
        #[serde(with = "super::plan_status")]
        status: PlanStatus,
    }
    for status in PlanStatus::ALL {
        let json = serde_json::to_string(&Stored { status }).unwrap();
        assert_eq!(json, format!("{{\"status\":\"{}\"}}", status.as_str()));
        assert_eq!(
            serde_json::from_str::<Stored>(&json).unwrap().status,
            status
        );
        assert_eq!(
            crate::core::status::parse_alibaba(status.as_str()),
            Some(status)
        );
    }
    // AWS's spelling is the AWS face's to translate; stored records never hold it.
    assert_eq!(crate::core::status::parse_alibaba("CREATE_SUCCESS"), None);
}

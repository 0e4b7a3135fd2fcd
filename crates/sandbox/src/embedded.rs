//! The `sandbox` provider: the emulator behind the engine's `PlanService`, in process.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use planform_model::{
    Capabilities, ErrorKind, LivePlan, NewPlan, Page, PlanFilter, PlanInputs, PlanService,
    PlanUpdate, ProviderError, ProvisionedProduct, ResourceChange, Sent,
};

use crate::catalog::Catalog;
use crate::clock::{iso8601, Clock, SystemClock};
use crate::core::{
    CreatePlan, ListPlans, Partition, PlanRecord, ProductRecord, Sandbox, SandboxError, Settings,
    UpdatePlan,
};
use crate::store::Store;

/// The sandbox as a provider. Cloning shares the same emulator.
#[derive(Clone)]
pub struct Embedded {
    pub sandbox: Arc<Mutex<Sandbox>>,
}

impl Embedded {
    /// Opens (or creates) the persistent sandbox in `dir` with the demo catalog.
    pub fn open(dir: &Path, settings: Settings) -> Result<Embedded, SandboxError> {
        crate::data_dir::prepare(dir).map_err(|e| {
            SandboxError::new(500, "InternalError", format!("{}: {e}", dir.display()))
        })?;
        let store = Store::open(&dir.join(crate::data_dir::SANDBOX_DB))?;
        Ok(Embedded::with(Sandbox::new(
            Catalog::demo(),
            settings,
            Arc::new(SystemClock),
            store,
        )?))
    }

    /// A sandbox that keeps nothing, with its own clock.
    pub fn memory(catalog: Catalog, settings: Settings, clock: Arc<dyn Clock>) -> Embedded {
        Embedded::with(
            Sandbox::new(catalog, settings, clock, Store::memory()).expect("an empty store loads"),
        )
    }

    pub fn with(sandbox: Sandbox) -> Embedded {
        Embedded {
            sandbox: Arc::new(Mutex::new(sandbox)),
        }
    }

    /// Runs `f` on the sandbox, then (outside its mutex, so concurrent operations share an
    /// fsync) waits until what it changed, and anything it saw, is durable.
    fn run<T>(
        &self,
        f: impl FnOnce(&mut Sandbox) -> Result<T, SandboxError>,
    ) -> Result<T, ProviderError> {
        let (answer, durability) = {
            let mut sb = self.sandbox.lock().unwrap_or_else(|e| e.into_inner());
            // The embedded provider's records are its own, apart from any `sandbox serve`
            // face's that share the data directory.
            (sb.within(Partition::Embedded, f), sb.durability())
        };
        if let Some(d) = durability {
            d.settle().map_err(|e| provider_error(e.into()))?;
        }
        answer.map_err(provider_error)
    }
}

/// Maps a sandbox error to the engine's typed error, as a client would map the cloud's.
pub fn provider_error(e: SandboxError) -> ProviderError {
    let kind = if e.code.starts_with("Throttling") {
        ErrorKind::Throttled { retry_after: None }
    } else if e.status >= 500 {
        ErrorKind::Transient
    } else if e.status == 404 {
        ErrorKind::NotFound
    } else if e.code.starts_with("InvalidStatus") || e.code.ends_with(".Duplicate") {
        ErrorKind::Conflict
    } else if e.status == 403
        || e.code.starts_with("InvalidAccessKeyId")
        || e.code.starts_with("Signature")
    {
        ErrorKind::Auth
    } else {
        ErrorKind::Invalid
    };
    ProviderError {
        kind,
        sent: Sent::Yes,
        code: e.code,
        message: e.message,
        request_id: None,
    }
}

pub fn live_plan(p: &PlanRecord) -> LivePlan {
    LivePlan {
        id: p.id.clone(),
        inputs: PlanInputs {
            name: p.name.clone(),
            description: p.description.clone(),
            product_id: p.product_id.clone(),
            product_version_id: p.product_version_id.clone(),
            portfolio_id: p.portfolio_id.clone(),
            provisioned_product_name: p.provisioned_product_name.clone(),
            stack_region_id: p.stack_region_id.clone(),
            parameters: p.parameters.iter().cloned().collect(),
            tags: p.tags.iter().cloned().collect(),
            notification_arns: p.notification_arns.clone(),
        },
        operation_type: p.operation_type,
        status: p.status,
        raw_status: p.status.as_str().to_string(),
        status_message: p.status_message.clone(),
        provisioned_product_id: Some(p.provisioned_product_id.clone()),
        stack_id: p.stack_id.clone(),
        create_time: iso8601(p.create_ms),
        update_time: iso8601(p.update_ms),
    }
}

fn provisioned(p: &ProductRecord) -> ProvisionedProduct {
    ProvisionedProduct {
        id: p.id.clone(),
        name: p.name.clone(),
        status: p.status.as_str().to_string(),
        status_message: p.status_message.clone(),
        stack_id: Some(p.stack_id.clone()),
        product_id: p.product_id.clone(),
        product_version_id: p.product_version_id.clone(),
        outputs: p
            .outputs
            .iter()
            .map(|(k, v, _)| (k.clone(), v.clone()))
            .collect::<BTreeMap<_, _>>(),
    }
}

fn pairs(m: &BTreeMap<String, String>) -> Vec<(String, String)> {
    m.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

#[async_trait::async_trait]
impl PlanService for Embedded {
    async fn list_plans(
        &self,
        filter: &PlanFilter,
        page: usize,
        page_size: usize,
    ) -> Result<Page<LivePlan>, ProviderError> {
        let q = ListPlans {
            names: filter.name.iter().cloned().collect(),
            statuses: filter
                .statuses
                .iter()
                .map(|s| s.as_str().to_string())
                .collect(),
            page_number: page,
            page_size,
            ..ListPlans::default()
        };
        self.run(|sb| sb.list_plans(&q)).map(|(items, total)| Page {
            items: items.iter().map(live_plan).collect(),
            total_count: total,
        })
    }

    async fn get_plan(&self, plan_id: &str) -> Result<LivePlan, ProviderError> {
        self.run(|sb| sb.get_plan(plan_id)).map(|p| live_plan(&p))
    }

    async fn create_plan(&self, r: &NewPlan) -> Result<LivePlan, ProviderError> {
        let i = &r.inputs;
        let req = CreatePlan {
            name: i.name.clone(),
            description: i.description.clone(),
            operation_type: Some(r.operation_type.as_str().to_string()),
            portfolio_id: i.portfolio_id.clone(),
            product_id: i.product_id.clone(),
            product_version_id: i.product_version_id.clone(),
            provisioned_product_name: i.provisioned_product_name.clone(),
            stack_region_id: i.stack_region_id.clone(),
            parameters: pairs(&i.parameters),
            tags: pairs(&i.tags),
            notification_arns: i.notification_arns.clone(),
            idempotency_token: Some(r.idempotency_token.clone()),
            aws: false,
            // The embedded sandbox has one principal: the account.
            owner: None,
        };
        self.run(|sb| sb.create_plan(req)).map(|p| live_plan(&p))
    }

    async fn update_plan(&self, r: &PlanUpdate) -> Result<LivePlan, ProviderError> {
        let i = &r.inputs;
        let req = UpdatePlan {
            plan_id: r.plan_id.clone(),
            product_id: i.product_id.clone(),
            product_version_id: i.product_version_id.clone(),
            portfolio_id: i.portfolio_id.clone(),
            description: i.description.clone(),
            parameters: pairs(&i.parameters),
            tags: pairs(&i.tags),
        };
        self.run(|sb| sb.update_plan(req)).map(|p| live_plan(&p))
    }

    async fn execute_plan(&self, plan_id: &str) -> Result<(), ProviderError> {
        self.run(|sb| sb.execute_plan(plan_id)).map(|_| ())
    }

    async fn cancel_plan(&self, plan_id: &str) -> Result<(), ProviderError> {
        self.run(|sb| sb.cancel_plan(plan_id)).map(|_| ())
    }

    async fn delete_plan(&self, plan_id: &str) -> Result<(), ProviderError> {
        self.run(|sb| sb.delete_plan(plan_id))
    }

    async fn resource_changes(&self, plan_id: &str) -> Result<Vec<ResourceChange>, ProviderError> {
        self.run(|sb| sb.get_plan(plan_id)).map(|p| {
            p.resource_changes
                .iter()
                .map(|r| ResourceChange {
                    action: r.action.clone(),
                    logical_resource_id: r.logical_resource_id.clone(),
                    physical_resource_id: r.physical_resource_id.clone(),
                    resource_type: r.resource_type.clone(),
                    replacement: r.replacement.clone(),
                })
                .collect()
        })
    }

    async fn find_provisioned_product(
        &self,
        name: &str,
    ) -> Result<Option<ProvisionedProduct>, ProviderError> {
        self.run(|sb| sb.provisioned_product_named(name))
            .map(|p| p.as_ref().map(provisioned))
    }

    async fn provisioned_product(&self, id: &str) -> Result<ProvisionedProduct, ProviderError> {
        self.run(|sb| sb.provisioned_product(id))
            .map(|p| provisioned(&p))
    }

    /// The embedded sandbox speaks Alibaba's dialect.
    fn capabilities(&self) -> Capabilities {
        Capabilities::ALIBABA
    }

    /// Every workspace's embedded sandbox lives in its own `.planform/sandbox`.
    fn location(&self) -> String {
        "embedded sandbox".to_string()
    }

    /// The embedded sandbox acts as its configured account (`Settings::account_id`).
    async fn account(&self) -> Result<String, ProviderError> {
        self.run(|sb| Ok(sb.settings.account_id.clone()))
    }
}

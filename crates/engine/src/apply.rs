//! The executor: runs a change set in dependency order with bounded parallelism, waits on each
//! plan's asynchronous status, and saves the state after every cloud operation. It makes no
//! choice the change set did not make: each step re-reads the live status and carries out the
//! planned action.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use planform_model::{
    is_known, references_in, Address, LivePlan, NewPlan, OperationType, PlanInputs, PlanService,
    PlanStatus, PlanUpdate, ProviderError, TAG_ADDRESS, TAG_WORKSPACE,
};
use planform_state::{redact, State};
use tokio::task::JoinSet;

use crate::diff::{resolve_inputs, Action, Change, ChangeSet};
use crate::events::{Event, Observer};
use crate::graph::{order, OrderError};
use crate::refresh::Providers;

/// Where the executor saves the state after each cloud operation.
pub trait StateSink: Send + Sync {
    fn save(&self, state: &State) -> Result<(), String>;
}

#[derive(Clone)]
pub struct ApplyOptions {
    pub parallelism: usize,
    pub workspace: String,
    /// First poll interval; it grows by half each poll up to `poll_max`.
    pub poll_initial: Duration,
    pub poll_max: Duration,
    /// Set (e.g. by Ctrl-C) to start nothing new; operations in flight finish.
    pub interrupt: Arc<AtomicBool>,
}

impl Default for ApplyOptions {
    fn default() -> Self {
        ApplyOptions {
            parallelism: 10,
            workspace: "default".into(),
            poll_initial: Duration::from_millis(50),
            poll_max: Duration::from_secs(5),
            interrupt: Arc::new(AtomicBool::new(false)),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Done(String),
    Failed(String),
    AwaitingApproval {
        plan_id: String,
    },
    /// Not started: a dependency failed or waits for approval.
    Deferred {
        because: Address,
    },
    /// Not started: apply was interrupted.
    Interrupted,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ApplyReport {
    pub results: Vec<(Address, Outcome)>,
    pub state_errors: Vec<String>,
}

impl ApplyReport {
    pub fn failed(&self) -> impl Iterator<Item = (&Address, &str)> {
        self.results.iter().filter_map(|(a, o)| match o {
            Outcome::Failed(m) => Some((a, m.as_str())),
            _ => None,
        })
    }

    pub fn awaiting(&self) -> impl Iterator<Item = (&Address, &str)> {
        self.results.iter().filter_map(|(a, o)| match o {
            Outcome::AwaitingApproval { plan_id } => Some((a, plan_id.as_str())),
            _ => None,
        })
    }

    pub fn interrupted(&self) -> bool {
        self.results.iter().any(|(_, o)| *o == Outcome::Interrupted)
    }
}

struct Ctx {
    state: Mutex<State>,
    sink: Arc<dyn StateSink>,
    observer: Arc<dyn Observer>,
    options: ApplyOptions,
    state_errors: Mutex<Vec<String>>,
    /// One status board per provider service (keyed by the service's address).
    boards: Mutex<std::collections::HashMap<usize, Arc<Board>>>,
}

/// Rate-aware polling: while several plans wait on one provider, a list call (newest 100 plans,
/// full details) answers all of them at once instead of one read per plan.
#[derive(Default)]
struct Board {
    waiting: std::sync::atomic::AtomicUsize,
    seen: Mutex<std::collections::HashMap<String, (Instant, LivePlan)>>,
    listing: tokio::sync::Mutex<()>,
}

/// Waiters on one provider from which a shared list call replaces single reads.
const SHARE_AT: usize = 4;

impl Ctx {
    fn board(&self, service: &dyn PlanService) -> Arc<Board> {
        let key = service as *const dyn PlanService as *const () as usize;
        self.boards
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(key)
            .or_default()
            .clone()
    }
}

/// The plan's status as read no earlier than `since`: from a shared list when many wait.
async fn poll(
    board: &Board,
    service: &dyn PlanService,
    plan_id: &str,
    since: Instant,
) -> Result<LivePlan, ProviderError> {
    if board.waiting.load(Ordering::SeqCst) >= SHARE_AT && service.lists_with_details() {
        let fresh = || {
            board
                .seen
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(plan_id)
                .filter(|(t, _)| *t >= since)
                .map(|(_, l)| l.clone())
        };
        if let Some(l) = fresh() {
            return Ok(l);
        }
        let _one_list_at_a_time = board.listing.lock().await;
        if let Some(l) = fresh() {
            return Ok(l);
        }
        let fetched = Instant::now();
        let all = planform_model::PlanFilter::default();
        let page = call(|| service.list_plans(&all, 1, 100)).await?;
        {
            let mut seen = board.seen.lock().unwrap_or_else(|e| e.into_inner());
            for l in page.items {
                seen.insert(l.id.clone(), (fetched, l));
            }
        }
        if let Some(l) = fresh() {
            return Ok(l);
        }
    }
    call(|| service.get_plan(plan_id)).await
}

impl Ctx {
    fn emit(&self, e: Event) {
        self.observer.event(&e);
    }

    fn update(&self, f: impl FnOnce(&mut State)) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut s);
        s.serial += 1;
        if let Err(e) = self.sink.save(&s) {
            self.state_errors
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(e);
        }
    }

    fn snapshot(&self) -> State {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// Runs `changes`. Returns the final state and what happened to each change.
pub async fn apply(
    changes: &ChangeSet,
    state: State,
    providers: &Providers,
    sink: Arc<dyn StateSink>,
    observer: Arc<dyn Observer>,
    options: &ApplyOptions,
) -> Result<(State, ApplyReport), OrderError> {
    let (topo, waits) = order(changes)?;
    let ctx = Arc::new(Ctx {
        state: Mutex::new(state),
        sink,
        observer,
        options: options.clone(),
        state_errors: Mutex::new(vec![]),
        boards: Mutex::new(Default::default()),
    });
    if !changes.moved.is_empty() {
        ctx.update(|s| {
            for (from, to) in &changes.moved {
                if let Some(p) = s.plans.remove(from) {
                    s.plans.insert(to.clone(), p);
                }
            }
        });
    }
    let n = changes.changes.len();
    let mut outcome: Vec<Option<Outcome>> = vec![None; n];
    let mut started = vec![false; n];
    let mut running = 0usize;
    let mut set: JoinSet<(usize, Outcome)> = JoinSet::new();
    loop {
        // Settle what can no longer run.
        let mut progressed = true;
        while progressed {
            progressed = false;
            for &i in &topo {
                if started[i] || outcome[i].is_some() {
                    continue;
                }
                if let Some(&j) = waits[i]
                    .iter()
                    .find(|&&j| matches!(outcome[j], Some(ref o) if !matches!(o, Outcome::Done(_))))
                {
                    let because = changes.changes[j].address.clone();
                    ctx.emit(Event::Deferred {
                        address: changes.changes[i].address.clone(),
                        because: because.clone(),
                    });
                    outcome[i] = Some(Outcome::Deferred { because });
                    progressed = true;
                }
            }
        }
        for &i in &topo {
            if running >= options.parallelism.max(1) {
                break;
            }
            if started[i]
                || outcome[i].is_some()
                || !waits[i]
                    .iter()
                    .all(|&j| matches!(outcome[j], Some(Outcome::Done(_))))
            {
                continue;
            }
            if options.interrupt.load(Ordering::SeqCst) {
                outcome[i] = Some(Outcome::Interrupted);
                continue;
            }
            started[i] = true;
            running += 1;
            let change = changes.changes[i].clone();
            let service = providers.get(&change.provider).cloned();
            let ctx = ctx.clone();
            set.spawn(async move {
                ctx.emit(Event::Started {
                    address: change.address.clone(),
                    action: change.action.label().to_string(),
                });
                let o = match service {
                    Some(s) => run(&ctx, s.as_ref(), &change).await,
                    None => {
                        Outcome::Failed(format!("provider {} is not configured", change.provider))
                    }
                };
                match &o {
                    Outcome::Done(m) => ctx.emit(Event::Finished {
                        address: change.address.clone(),
                        message: m.clone(),
                    }),
                    Outcome::Failed(m) => ctx.emit(Event::Failed {
                        address: change.address.clone(),
                        message: m.clone(),
                    }),
                    Outcome::AwaitingApproval { plan_id } => ctx.emit(Event::AwaitingApproval {
                        address: change.address.clone(),
                        plan_id: plan_id.clone(),
                    }),
                    _ => {}
                }
                (i, o)
            });
        }
        if running == 0 {
            break;
        }
        let (i, o) = set
            .join_next()
            .await
            .expect("a task is running")
            .expect("apply tasks do not panic");
        running -= 1;
        outcome[i] = Some(o);
    }
    let results = changes
        .changes
        .iter()
        .zip(outcome)
        .map(|(c, o)| (c.address.clone(), o.unwrap_or(Outcome::Interrupted)))
        .collect();
    let state_errors =
        std::mem::take(&mut *ctx.state_errors.lock().unwrap_or_else(|e| e.into_inner()));
    Ok((
        ctx.snapshot(),
        ApplyReport {
            results,
            state_errors,
        },
    ))
}

/// Retries throttled and transient errors with exponential backoff (honouring retry-after).
async fn call<T, F, Fut>(mut f: F) -> Result<T, ProviderError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, ProviderError>>,
{
    let mut delay = Duration::from_millis(100);
    for attempt in 0.. {
        match f().await {
            Err(e) if e.kind.retryable() && attempt < 5 => {
                let wait = match e.kind {
                    planform_model::ErrorKind::Throttled {
                        retry_after: Some(d),
                    } => d,
                    _ => delay,
                };
                tokio::time::sleep(wait).await;
                delay = (delay * 2).min(Duration::from_secs(10));
            }
            r => return r,
        }
    }
    unreachable!("the loop returns")
}

fn describe(e: &ProviderError) -> String {
    e.to_string()
}

/// Polls until `done(status)` or the timeout; returns the last plan seen and whether it is done.
async fn wait(
    ctx: &Ctx,
    service: &dyn PlanService,
    address: &Address,
    plan_id: &str,
    timeout: Duration,
    done: impl Fn(PlanStatus) -> bool,
) -> Result<(LivePlan, bool), String> {
    let start = Instant::now();
    let mut delay = ctx.options.poll_initial;
    let mut last: Option<PlanStatus> = None;
    let board = ctx.board(service);
    board.waiting.fetch_add(1, Ordering::SeqCst);
    struct Leave<'a>(&'a Board);
    impl Drop for Leave<'_> {
        fn drop(&mut self) {
            self.0.waiting.fetch_sub(1, Ordering::SeqCst);
        }
    }
    let _leave = Leave(&board);
    loop {
        // A shared answer may be up to a quarter of the poll interval old, but never older than
        // this wait (which starts after the request whose effect it waits for).
        let since = Instant::now()
            .checked_sub(delay / 4)
            .map_or(start, |t| t.max(start));
        let l = poll(&board, service, plan_id, since)
            .await
            .map_err(|e| describe(&e))?;
        if last != Some(l.status) {
            ctx.emit(Event::Progress {
                address: address.clone(),
                message: format!("{} is {}", l.id, l.status),
            });
            last = Some(l.status);
        }
        if done(l.status) {
            return Ok((l, true));
        }
        if start.elapsed() >= timeout {
            return Ok((l, false));
        }
        tokio::time::sleep(
            delay
                .min(timeout.saturating_sub(start.elapsed()))
                .max(Duration::from_millis(1)),
        )
        .await;
        // Poll again after a tenth of the time waited so far: the wait overshoots the moment
        // the plan is done by at most ~10%, with a logarithmic number of polls.
        delay = (start.elapsed() / 10).clamp(ctx.options.poll_initial, ctx.options.poll_max);
    }
}

fn with_ownership(inputs: &PlanInputs, workspace: &str, address: &Address) -> PlanInputs {
    let mut i = inputs.clone();
    i.tags.insert(TAG_WORKSPACE.into(), workspace.into());
    i.tags.insert(TAG_ADDRESS.into(), address.to_string());
    i
}

/// The change's inputs with the outputs of the plans it depends on filled in.
fn inputs_to_send(ctx: &Ctx, change: &Change) -> Result<PlanInputs, String> {
    let after = change.after.as_ref().ok_or("nothing to send")?;
    let resolved = resolve_inputs(after, &ctx.snapshot(), &BTreeSet::new());
    let unknown: Vec<&str> = resolved
        .parameters
        .values()
        .chain(resolved.tags.values())
        .chain(resolved.description.iter())
        .filter(|v| !is_known(v))
        .flat_map(|v| references_in(v))
        .collect();
    if let Some(r) = unknown.first() {
        return Err(format!(
            "{r} is still unknown after its plan ran (is the output name right?)"
        ));
    }
    Ok(with_ownership(
        &resolved,
        &ctx.options.workspace,
        &change.address,
    ))
}

fn record(
    ctx: &Ctx,
    change: &Change,
    l: &LivePlan,
    applied: Option<&PlanInputs>,
    outputs: Option<std::collections::BTreeMap<String, String>>,
) {
    ctx.update(|s| {
        let lineage = s.lineage.clone();
        let m = s.plans.entry(change.address.clone()).or_insert_with(|| {
            planform_state::ManagedPlan::new(change.provider.clone(), l.id.clone())
        });
        if m.plan_id != l.id {
            let old = std::mem::replace(&mut m.plan_id, l.id.clone());
            m.history.push(old);
        }
        m.provider = change.provider.clone();
        m.pending_token = None;
        m.status = l.raw_status.clone();
        m.provisioned_product_id = l
            .provisioned_product_id
            .clone()
            .or(m.provisioned_product_id.take());
        m.stack_id = l.stack_id.clone().or(m.stack_id.take());
        m.depends_on = change.depends_on.clone();
        m.sensitive_parameters = change.sensitive_parameters.clone();
        if let Some(a) = applied {
            let mut a = a.clone();
            a.tags.remove(TAG_WORKSPACE);
            a.tags.remove(TAG_ADDRESS);
            m.applied = Some(redact(&lineage, &a, &change.sensitive_parameters));
        }
        if l.status == PlanStatus::ExecuteSuccess
            && l.operation_type != OperationType::TerminateProvisionedProduct
        {
            m.launched = true;
        }
        if let Some(o) = outputs {
            m.outputs = o;
        }
    });
}

fn forget(ctx: &Ctx, address: &Address) {
    ctx.update(|s| {
        s.plans.remove(address);
    });
}

async fn run(ctx: &Ctx, service: &dyn PlanService, change: &Change) -> Outcome {
    match run_steps(ctx, service, change).await {
        Ok(o) => o,
        Err(message) => Outcome::Failed(message),
    }
}

async fn run_steps(ctx: &Ctx, service: &dyn PlanService, c: &Change) -> Result<Outcome, String> {
    let live_id = c.live_plan_id.clone();
    match &c.action {
        Action::Create {
            update_existing,
            execute,
        } => {
            let op = if *update_existing {
                OperationType::UpdateProvisionedProduct
            } else {
                OperationType::LaunchProduct
            };
            create(ctx, service, c, op, *execute).await
        }
        Action::UpdateProduct { execute } => {
            create(
                ctx,
                service,
                c,
                OperationType::UpdateProvisionedProduct,
                *execute,
            )
            .await
        }
        Action::Replace {
            update_existing,
            execute,
        } => {
            let id = live_id.ok_or("no live plan to replace")?;
            remove_plan(ctx, service, c, &id).await?;
            let op = if *update_existing {
                OperationType::UpdateProvisionedProduct
            } else {
                OperationType::LaunchProduct
            };
            create(ctx, service, c, op, *execute).await
        }
        Action::UpdateInPlace { execute } => {
            let id = live_id.ok_or("no live plan to update")?;
            update(ctx, service, c, &id, *execute).await
        }
        Action::Retry => {
            let id = live_id.ok_or("no live plan to retry")?;
            if service.can_update_in_place() {
                update(ctx, service, c, &id, true).await
            } else {
                remove_plan(ctx, service, c, &id).await?;
                create(
                    ctx,
                    service,
                    c,
                    OperationType::UpdateProvisionedProduct,
                    true,
                )
                .await
            }
        }
        Action::Execute | Action::AwaitApproval => {
            let id = live_id.ok_or("no live plan to execute")?;
            let l = call(|| service.get_plan(&id))
                .await
                .map_err(|e| describe(&e))?;
            let inputs = inputs_to_send(ctx, c)?;
            execute(ctx, service, c, l, &inputs).await
        }
        Action::Wait {
            execute: execute_after,
        } => {
            let id = live_id.ok_or("no live plan to wait for")?;
            let t = c.timeouts.preview.max(c.timeouts.execute);
            let (l, done) = wait(ctx, service, &c.address, &id, t, |s| {
                !s.in_progress() || s == PlanStatus::ApplicationInProgress
            })
            .await?;
            record(ctx, c, &l, None, None);
            if !done {
                return Err(format!("{id} still {} after {}s", l.status, t.as_secs()));
            }
            if l.status == PlanStatus::PreviewFailed {
                return Err(format!(
                    "preview failed: {}",
                    l.status_message.clone().unwrap_or_default()
                ));
            }
            let inputs = inputs_to_send(ctx, c)?;
            if *execute_after || l.status == PlanStatus::ExecuteSuccess {
                return execute(ctx, service, c, l, &inputs).await;
            }
            record(ctx, c, &l, Some(&inputs), None);
            Ok(Outcome::Done(format!("{id} reached {}", l.status)))
        }
        Action::Terminate => terminate(ctx, service, c).await,
        Action::Delete { .. } => {
            let id = live_id.ok_or("no live plan to delete")?;
            remove_plan(ctx, service, c, &id).await?;
            forget(ctx, &c.address);
            Ok(Outcome::Done(format!("deleted {id}")))
        }
        Action::Forget => {
            forget(ctx, &c.address);
            Ok(Outcome::Done("removed from the state".into()))
        }
        Action::Blocked { message } => Err(message.clone()),
    }
}

/// Cancels (if under review) and deletes a plan; a plan already gone counts as deleted.
async fn remove_plan(
    ctx: &Ctx,
    service: &dyn PlanService,
    c: &Change,
    id: &str,
) -> Result<(), String> {
    let l = match call(|| service.get_plan(id)).await {
        Ok(l) => l,
        Err(e) if e.kind == planform_model::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(describe(&e)),
    };
    let l = if l.status.in_progress() && l.status != PlanStatus::ApplicationInProgress {
        wait(ctx, service, &c.address, id, c.timeouts.execute, |s| {
            !s.in_progress() || s == PlanStatus::ApplicationInProgress
        })
        .await?
        .0
    } else {
        l
    };
    if l.status == PlanStatus::ApplicationInProgress {
        call(|| service.cancel_plan(id))
            .await
            .map_err(|e| describe(&e))?;
        ctx.emit(Event::Progress {
            address: c.address.clone(),
            message: format!("{id} canceled"),
        });
    }
    match call(|| service.delete_plan(id)).await {
        Ok(()) => {}
        Err(e) if e.kind == planform_model::ErrorKind::NotFound => {}
        Err(e) => return Err(describe(&e)),
    }
    ctx.emit(Event::Progress {
        address: c.address.clone(),
        message: format!("{id} deleted"),
    });
    Ok(())
}

async fn create(
    ctx: &Ctx,
    service: &dyn PlanService,
    c: &Change,
    op: OperationType,
    execute_after: bool,
) -> Result<Outcome, String> {
    let inputs = inputs_to_send(ctx, c)?;
    // Record the token first: if we die before the answer is recorded, the next run adopts the
    // plan by its ownership tags (and the token makes a resend return the same plan).
    ctx.update(|s| {
        if let Some(m) = s.plans.get_mut(&c.address) {
            m.pending_token = Some(c.idempotency_token.clone());
        }
    });
    let request = NewPlan {
        inputs: inputs.clone(),
        operation_type: op,
        idempotency_token: c.idempotency_token.clone(),
    };
    let l = call(|| service.create_plan(&request))
        .await
        .map_err(|e| describe(&e))?;
    ctx.emit(Event::Progress {
        address: c.address.clone(),
        message: format!("created {} ({})", l.id, op.as_str()),
    });
    record(ctx, c, &l, None, None);
    preview_then_execute(ctx, service, c, &l.id, &inputs, execute_after).await
}

async fn update(
    ctx: &Ctx,
    service: &dyn PlanService,
    c: &Change,
    id: &str,
    execute_after: bool,
) -> Result<Outcome, String> {
    let inputs = inputs_to_send(ctx, c)?;
    // A preview still running cannot be updated: let it finish first.
    wait(ctx, service, &c.address, id, c.timeouts.preview, |s| {
        s != PlanStatus::PreviewInProgress
    })
    .await?;
    let request = PlanUpdate {
        plan_id: id.to_string(),
        inputs: inputs.clone(),
    };
    let l = call(|| service.update_plan(&request))
        .await
        .map_err(|e| describe(&e))?;
    ctx.emit(Event::Progress {
        address: c.address.clone(),
        message: format!("updated {}", l.id),
    });
    record(ctx, c, &l, None, None);
    preview_then_execute(ctx, service, c, id, &inputs, execute_after).await
}

async fn preview_then_execute(
    ctx: &Ctx,
    service: &dyn PlanService,
    c: &Change,
    id: &str,
    inputs: &PlanInputs,
    execute_after: bool,
) -> Result<Outcome, String> {
    let (l, done) = wait(ctx, service, &c.address, id, c.timeouts.preview, |s| {
        s != PlanStatus::PreviewInProgress
    })
    .await?;
    if !done {
        record(ctx, c, &l, None, None);
        return Err(format!(
            "preview of {id} did not finish within {}s",
            c.timeouts.preview.as_secs()
        ));
    }
    if l.status == PlanStatus::PreviewFailed {
        record(ctx, c, &l, None, None);
        return Err(format!(
            "preview failed: {}",
            l.status_message.clone().unwrap_or_default()
        ));
    }
    if !execute_after {
        // The cloud accepted these inputs: record them as applied.
        record(ctx, c, &l, Some(inputs), None);
        return Ok(Outcome::Done(format!("{id} previewed ({})", l.status)));
    }
    execute(ctx, service, c, l, inputs).await
}

async fn execute(
    ctx: &Ctx,
    service: &dyn PlanService,
    c: &Change,
    l: LivePlan,
    inputs: &PlanInputs,
) -> Result<Outcome, String> {
    let id = l.id.clone();
    let mut l = l;
    if matches!(
        l.status,
        PlanStatus::PreviewSuccess | PlanStatus::ApplicationApproved
    ) {
        call(|| service.execute_plan(&id))
            .await
            .map_err(|e| describe(&e))?;
        l = call(|| service.get_plan(&id))
            .await
            .map_err(|e| describe(&e))?;
        record(ctx, c, &l, None, None);
    }
    if l.status == PlanStatus::ApplicationInProgress {
        let (a, done) = wait(ctx, service, &c.address, &id, c.timeouts.approval, |s| {
            s != PlanStatus::ApplicationInProgress
        })
        .await?;
        record(ctx, c, &a, None, None);
        if !done {
            return Ok(Outcome::AwaitingApproval { plan_id: id });
        }
        match a.status {
            PlanStatus::ApplicationApproved => {
                call(|| service.execute_plan(&id))
                    .await
                    .map_err(|e| describe(&e))?;
            }
            PlanStatus::ApplicationRejected => {
                return Err(format!("the approval of {id} was rejected"))
            }
            other => return Err(format!("{id} left review as {other}")),
        }
    }
    let (l, done) = wait(ctx, service, &c.address, &id, c.timeouts.execute, |s| {
        !s.in_progress()
    })
    .await?;
    if !done {
        record(ctx, c, &l, None, None);
        return Err(format!(
            "execution of {id} did not finish within {}s",
            c.timeouts.execute.as_secs()
        ));
    }
    match l.status {
        PlanStatus::ExecuteSuccess => {
            let outputs = match &l.provisioned_product_id {
                Some(pp) if l.operation_type != OperationType::TerminateProvisionedProduct => Some(
                    call(|| service.provisioned_product(pp))
                        .await
                        .map_err(|e| describe(&e))?
                        .outputs,
                ),
                _ => None,
            };
            record(ctx, c, &l, Some(inputs), outputs);
            Ok(Outcome::Done(format!("{id} executed")))
        }
        other => {
            record(ctx, c, &l, None, None);
            Err(format!(
                "execution ended {other}: {}",
                l.status_message.unwrap_or_default()
            ))
        }
    }
}

async fn terminate(ctx: &Ctx, service: &dyn PlanService, c: &Change) -> Result<Outcome, String> {
    let before = c.before.clone().ok_or("no live plan to terminate")?;
    if service
        .find_provisioned_product(&before.provisioned_product_name)
        .await
        .map_err(|e| describe(&e))?
        .is_none()
    {
        forget(ctx, &c.address);
        return Ok(Outcome::Done("the product was already gone".into()));
    }
    if !service.terminates_with_plans() {
        // AWS: TerminateProvisionedProduct, then wait until the product is gone.
        call(|| service.terminate_product(&before.provisioned_product_name, &c.idempotency_token))
            .await
            .map_err(|e| describe(&e))?;
        ctx.emit(Event::Progress {
            address: c.address.clone(),
            message: format!("terminating {}", before.provisioned_product_name),
        });
        let start = Instant::now();
        let mut delay = ctx.options.poll_initial;
        while call(|| service.find_provisioned_product(&before.provisioned_product_name))
            .await
            .map_err(|e| describe(&e))?
            .is_some()
        {
            if start.elapsed() >= c.timeouts.execute {
                return Err(format!(
                    "{} was not terminated within {}s",
                    before.provisioned_product_name,
                    c.timeouts.execute.as_secs()
                ));
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 3 / 2).min(ctx.options.poll_max);
        }
        forget(ctx, &c.address);
        return Ok(Outcome::Done(format!(
            "terminated {}",
            before.provisioned_product_name
        )));
    }
    let mut inputs = with_ownership(&before, &ctx.options.workspace, &c.address);
    inputs.name = format!("terminate-{}", before.name)
        .chars()
        .take(128)
        .collect();
    ctx.update(|s| {
        if let Some(m) = s.plans.get_mut(&c.address) {
            m.pending_token = Some(c.idempotency_token.clone());
        }
    });
    let request = NewPlan {
        inputs: inputs.clone(),
        operation_type: OperationType::TerminateProvisionedProduct,
        idempotency_token: c.idempotency_token.clone(),
    };
    let l = call(|| service.create_plan(&request))
        .await
        .map_err(|e| describe(&e))?;
    ctx.emit(Event::Progress {
        address: c.address.clone(),
        message: format!("created {} (TerminateProvisionedProduct)", l.id),
    });
    record(ctx, c, &l, None, None);
    match preview_then_execute(ctx, service, c, &l.id.clone(), &inputs, true).await? {
        Outcome::Done(_) => {
            forget(ctx, &c.address);
            Ok(Outcome::Done(format!(
                "terminated {}",
                before.provisioned_product_name
            )))
        }
        other => Ok(other),
    }
}

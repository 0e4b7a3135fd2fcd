//! The steps of each action: create, update, preview, approval, execution, terminate, delete.
//! Each step re-reads the live status it depends on and carries out what the change set
//! decided; it records every cloud operation in the state before the next one.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use planform_model::{
    is_known, ownership, Address, ErrorKind, LivePlan, NewPlan, OperationType, PlanInputs,
    PlanService, PlanStatus, PlanUpdate, ProviderError,
};

use super::error::{ApplyError, Phase};
use super::poll::{backoff, poll_until, watch_plan};
use super::{Ctx, Outcome};
use crate::diff::{Action, Change, Termination};
use crate::events::Event;
use crate::resolve::{resolve_inputs, resolve_value, unresolved};

pub(super) async fn run(ctx: &Ctx, service: &dyn PlanService, change: &Change) -> Outcome {
    match run_steps(ctx, service, change).await {
        Ok(o) => o,
        Err(e @ ApplyError::Interrupted { .. }) => {
            ctx.emit(Event::Progress {
                address: change.address.clone(),
                message: e.to_string(),
            });
            Outcome::Interrupted
        }
        Err(e) => Outcome::Failed(e),
    }
}

/// One read that a throttled or transient failure (after the client's attempts) does not end:
/// it is made again later, until `timeout` (see [`patiently`]).
async fn read_patiently<T, Fut>(
    ctx: &Ctx,
    service: &dyn PlanService,
    timeout: Duration,
    read: impl FnMut() -> Fut,
) -> Result<T, ApplyError>
where
    Fut: Future<Output = Result<T, ProviderError>>,
{
    patiently(ctx, service, timeout, ErrorKind::retryable, read).await
}

/// One request that changes something, not sent once apply is interrupted. If the cloud
/// refuses it as throttled (after the client's attempts), it is sent again later, until
/// `timeout`: a throttled request did nothing. A transient failure may have taken
/// effect, so it is the answer, as every other error is (see docs/retries.md).
async fn send_patiently<T, Fut>(
    ctx: &Ctx,
    service: &dyn PlanService,
    timeout: Duration,
    send: impl FnMut() -> Fut,
) -> Result<T, ApplyError>
where
    Fut: Future<Output = Result<T, ProviderError>>,
{
    // After an interrupt nothing new is sent: the change stops between its steps, each of which
    // is recorded, so the next run carries on from there.
    if ctx.options.interrupt.is_set() {
        return Err(ApplyError::Interrupted {
            what: "stopped before its next request".into(),
            why: ctx.options.interrupt.reason(),
        });
    }
    let throttled = |k: &ErrorKind| matches!(k, ErrorKind::Throttled { .. });
    patiently(ctx, service, timeout, throttled, send).await
}

/// Makes `call` until it answers, or fails other than `again` says, or `timeout` has passed.
/// The provider's request budget is shared: a call waits while the provider's waiters hold off
/// after a throttled read, and a call failing as `again` says makes them all hold off
/// ([`backoff`], at least the cloud's retry-after). An interrupt while holding off ends it
/// ([`ApplyError::Interrupted`]).
async fn patiently<T, Fut>(
    ctx: &Ctx,
    service: &dyn PlanService,
    timeout: Duration,
    again: impl Fn(&ErrorKind) -> bool,
    mut call: impl FnMut() -> Fut,
) -> Result<T, ApplyError>
where
    Fut: Future<Output = Result<T, ProviderError>>,
{
    let board = ctx.boards.of(service);
    let deadline = tokio::time::Instant::now() + timeout;
    let interrupt = &ctx.options.interrupt;
    let mut failures = 0;
    let held_off = || ApplyError::Interrupted {
        what: "stopped waiting for the cloud to stop throttling".into(),
        why: interrupt.reason(),
    };
    loop {
        if let Some(quiet) = board.quiet() {
            tokio::select! {
                _ = tokio::time::sleep_until(quiet.min(deadline)) => {}
                _ = interrupt.triggered() => return Err(held_off()),
            }
        }
        let e = match call().await {
            Ok(v) => return Ok(v),
            Err(e) if again(&e.kind) => e,
            Err(e) => return Err(e.into()),
        };
        failures += 1;
        let pause = backoff(&e, ctx.schedule(), failures);
        board.quiet_for(pause);
        let until = tokio::time::Instant::now() + pause;
        if until > deadline {
            return Err(e.into());
        }
        if interrupt.is_set() {
            return Err(held_off());
        }
        tokio::select! {
            _ = tokio::time::sleep_until(until) => {}
            _ = interrupt.triggered() => return Err(held_off()),
        }
    }
}

fn live_id(c: &Change, to: &'static str) -> Result<String, ApplyError> {
    c.live_plan_id.clone().ok_or(ApplyError::NoLivePlan(to))
}

async fn run_steps(
    ctx: &Ctx,
    service: &dyn PlanService,
    c: &Change,
) -> Result<Outcome, ApplyError> {
    match &c.action {
        Action::Create {
            update_existing,
            execute,
        } => {
            create(
                ctx,
                service,
                c,
                launch_or_update(*update_existing),
                *execute,
            )
            .await
        }
        Action::UpdateProduct {
            execute,
            delete_executed_first,
        } => {
            if let Some(id) = unchanged_once_known(ctx, c) {
                return Ok(Outcome::Done(format!(
                    "unchanged once its references were known; {id} stays"
                )));
            }
            if *delete_executed_first {
                let id = live_id(c, "update")?;
                remove_plan(ctx, service, c, &id).await?;
            }
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
            let id = live_id(c, "replace")?;
            remove_plan(ctx, service, c, &id).await?;
            create(
                ctx,
                service,
                c,
                launch_or_update(*update_existing),
                *execute,
            )
            .await
        }
        Action::UpdateInPlace { execute } => {
            let id = live_id(c, "update")?;
            update(ctx, service, c, &id, *execute).await
        }
        Action::Retry => {
            let id = live_id(c, "retry")?;
            update(ctx, service, c, &id, true).await
        }
        Action::Execute | Action::AwaitApproval => {
            let id = live_id(c, "execute")?;
            let l =
                read_patiently(ctx, service, c.timeouts.execute, || service.get_plan(&id)).await?;
            let inputs = inputs_to_send(ctx, c)?;
            execute(ctx, service, c, l, &inputs).await
        }
        Action::Wait {
            execute: execute_after,
        } => {
            let id = live_id(c, "wait for")?;
            let t = c.timeouts.preview.max(c.timeouts.execute);
            let (l, done) = wait(ctx, service, &c.address, &id, t, |s| {
                !s.in_progress() || s == PlanStatus::ApplicationInProgress
            })
            .await?;
            record(ctx, c, &l, None, None).await;
            if !done {
                return Err(timed_out(Phase::Running, &l, t));
            }
            if l.status == PlanStatus::PreviewFailed {
                return Err(preview_failed(&l));
            }
            let inputs = inputs_to_send(ctx, c)?;
            if *execute_after || l.status == PlanStatus::ExecuteSuccess {
                return execute(ctx, service, c, l, &inputs).await;
            }
            record(ctx, c, &l, Some(&inputs), None).await;
            Ok(Outcome::Done(format!("{id} reached {}", l.status)))
        }
        Action::Terminate { via } => terminate(ctx, service, c, via).await,
        Action::Delete { .. } => {
            let id = live_id(c, "delete")?;
            remove_plan(ctx, service, c, &id).await?;
            forget(ctx, &c.address).await;
            Ok(Outcome::Done(format!("deleted {id}")))
        }
        Action::Forget => {
            forget(ctx, &c.address).await;
            Ok(Outcome::Done("removed from the state".into()))
        }
        Action::Blocked { message } => Err(ApplyError::Blocked(message.clone())),
    }
}

fn launch_or_update(update_existing: bool) -> OperationType {
    if update_existing {
        OperationType::UpdateProvisionedProduct
    } else {
        OperationType::LaunchProduct
    }
}

fn timed_out(phase: Phase, l: &LivePlan, after: Duration) -> ApplyError {
    ApplyError::TimedOut {
        phase,
        plan_id: l.id.clone(),
        status: l.status,
        after,
    }
}

fn preview_failed(l: &LivePlan) -> ApplyError {
    ApplyError::PreviewFailed {
        message: l.status_message.clone().unwrap_or_default(),
    }
}

/// Polls a plan until `done(status)` or the timeout; returns the last plan seen and whether it
/// is done. Every status change is reported. An interrupt ends the wait with
/// [`ApplyError::Interrupted`].
async fn wait(
    ctx: &Ctx,
    service: &dyn PlanService,
    address: &Address,
    plan_id: &str,
    timeout: Duration,
    done: impl Fn(PlanStatus) -> bool,
) -> Result<(LivePlan, bool), ApplyError> {
    let board = ctx.boards.of(service);
    let mut last = None::<PlanStatus>;
    let seen = |l: &LivePlan| {
        if last != Some(l.status) {
            ctx.emit(Event::Progress {
                address: address.clone(),
                message: format!("{} is {}", l.id, l.status),
            });
            last = Some(l.status);
        }
    };
    let interrupt = &ctx.options.interrupt;
    let waited = watch_plan(
        &board,
        service,
        plan_id,
        ctx.schedule(),
        timeout,
        interrupt,
        |l: &LivePlan| done(l.status),
        seen,
    )
    .await;
    match waited {
        // A wait the interrupt ended; an error stays the error it is.
        Ok((_, false)) if interrupt.is_set() => Err(ApplyError::Interrupted {
            what: format!("stopped waiting for {plan_id} (it goes on in the cloud)"),
            why: interrupt.reason(),
        }),
        Ok(w) => Ok(w),
        Err(e) => Err(e.into()),
    }
}

/// The change's inputs with the outputs of the plans it depends on filled in, and the
/// ownership tags added.
/// The live plan's id when every difference the plan found was a value known only once its
/// dependencies applied, and each of those values, now known, is what the live plan already
/// has: the update has nothing to do (as Terraform's apply turns such an update into a no-op).
/// A change with any other difference, or a sensitive one, is run as planned.
fn unchanged_once_known(ctx: &Ctx, change: &Change) -> Option<String> {
    let id = change.live_plan_id.as_ref()?;
    let unknown_only = !change.diffs.is_empty()
        && change
            .diffs
            .iter()
            .all(|d| !d.sensitive && d.after.as_deref().is_some_and(|v| !is_known(v)));
    if !unknown_only {
        return None;
    }
    let same = ctx.read(|s| {
        change.diffs.iter().all(|d| {
            let now = resolve_value(d.after.as_deref().unwrap_or_default(), s, &BTreeSet::new());
            is_known(&now) && d.before.as_deref() == Some(now.as_str())
        })
    });
    same.then(|| id.clone())
}

fn inputs_to_send(ctx: &Ctx, change: &Change) -> Result<PlanInputs, ApplyError> {
    let after = change.after.as_ref().ok_or(ApplyError::NothingToSend)?;
    let resolved = ctx.read(|s| resolve_inputs(after, s, &BTreeSet::new()));
    if let Some(r) = unresolved(&resolved).first() {
        return Err(ApplyError::Unresolved {
            reference: r.to_string(),
        });
    }
    Ok(ownership::tag(
        &resolved,
        &ctx.options.workspace,
        &change.address,
    ))
}

/// A record queued in the state, durable once this ends.
type Recorded<'a> = Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

/// Records what the cloud said of the change's plan (and, once accepted, the inputs applied and
/// the outputs) in the state, durably.
async fn record(
    ctx: &Ctx,
    change: &Change,
    l: &LivePlan,
    applied: Option<&PlanInputs>,
    outputs: Option<BTreeMap<String, String>>,
) {
    record_queued(ctx, change, l, applied, outputs, None).await
}

/// [`record`], queued now and durable once the returned future ends (awaited before the
/// change's next cloud operation).
fn record_queued<'a>(
    ctx: &'a Ctx,
    change: &Change,
    l: &LivePlan,
    applied: Option<&PlanInputs>,
    outputs: Option<BTreeMap<String, String>>,
    asked: Option<&PlanInputs>,
) -> Recorded<'a> {
    Box::pin(ctx.update_queued(&change.address, |s| {
        let m = s.observe(&change.address, &change.provider, l);
        m.provider = change.provider.clone();
        m.location = ctx.locations.get(&change.provider).cloned();
        if let Some(a) = ctx.options.accounts.get(&change.provider) {
            m.account = Some(a.clone());
        }
        m.depends_on = change.depends_on.clone();
        m.sensitive_parameters = change.sensitive_parameters.clone();
        if let Some(a) = applied {
            // Sensitive values stay in memory; the backend keeps them only when it encrypts.
            m.applied = Some(ownership::strip(a.clone()));
            m.asked = None;
        }
        if let Some(a) = asked {
            // What this run sent for the plan the cloud just answered with, until accepted.
            m.asked = Some(ownership::strip(a.clone()));
        }
        if let Some(o) = outputs {
            m.outputs = o;
        }
    }))
}

async fn forget(ctx: &Ctx, address: &Address) {
    ctx.update(address, |s| {
        s.plans.remove(address);
    })
    .await;
}

/// Records the create's token before sending it: if we die before the answer is recorded, the
/// next run adopts the plan by its ownership tags (and the token makes a resend return it).
async fn remember_token(ctx: &Ctx, c: &Change) {
    ctx.update(&c.address, |s| {
        if let Some(m) = s.plans.get_mut(&c.address) {
            m.pending_token = Some(c.idempotency_token.clone());
        }
    })
    .await;
}

/// Cancels (if under review) and deletes a plan; a plan already gone counts as deleted.
async fn remove_plan(
    ctx: &Ctx,
    service: &dyn PlanService,
    c: &Change,
    id: &str,
) -> Result<(), ApplyError> {
    let l = match read_patiently(ctx, service, c.timeouts.execute, || service.get_plan(id)).await {
        Ok(l) => l,
        Err(ApplyError::Provider(e)) if e.kind == ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
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
        send_patiently(ctx, service, c.timeouts.execute, || service.cancel_plan(id)).await?;
        ctx.emit(Event::Progress {
            address: c.address.clone(),
            message: format!("{id} canceled"),
        });
    }
    match send_patiently(ctx, service, c.timeouts.execute, || service.delete_plan(id)).await {
        Ok(()) => {}
        Err(ApplyError::Provider(e)) if e.kind == ErrorKind::NotFound => {}
        Err(e) => return Err(e),
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
) -> Result<Outcome, ApplyError> {
    let inputs = inputs_to_send(ctx, c)?;
    let (l, recorded) = send_create(ctx, service, c, &inputs, op).await?;
    preview_then_execute(ctx, service, c, &l.id, &inputs, execute_after, recorded).await
}

/// Creates the plan (its token recorded durably first) and queues the record of what the
/// create answered, durable once the returned future ends: the preview's wait needs no record,
/// so the two overlap, and the record is durable before the next cloud operation.
async fn send_create<'a>(
    ctx: &'a Ctx,
    service: &dyn PlanService,
    c: &Change,
    inputs: &PlanInputs,
    op: OperationType,
) -> Result<(LivePlan, Recorded<'a>), ApplyError> {
    remember_token(ctx, c).await;
    let request = NewPlan {
        inputs: inputs.clone(),
        operation_type: op,
        idempotency_token: c.idempotency_token.clone(),
    };
    let l = send_patiently(ctx, service, c.timeouts.preview, || {
        service.create_plan(&request)
    })
    .await?;
    ctx.emit(Event::Progress {
        address: c.address.clone(),
        message: format!("created {} ({})", l.id, op.as_str()),
    });
    let recorded = record_queued(ctx, c, &l, None, None, Some(inputs));
    Ok((l, recorded))
}

async fn update(
    ctx: &Ctx,
    service: &dyn PlanService,
    c: &Change,
    id: &str,
    execute_after: bool,
) -> Result<Outcome, ApplyError> {
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
    let l = send_patiently(ctx, service, c.timeouts.preview, || {
        service.update_plan(&request)
    })
    .await?;
    ctx.emit(Event::Progress {
        address: c.address.clone(),
        message: format!("updated {}", l.id),
    });
    let recorded = record_queued(ctx, c, &l, None, None, Some(&inputs));
    preview_then_execute(ctx, service, c, id, &inputs, execute_after, recorded).await
}

/// Waits for the preview (while `recorded`, the record of the operation that started it,
/// becomes durable), then executes if asked.
async fn preview_then_execute(
    ctx: &Ctx,
    service: &dyn PlanService,
    c: &Change,
    id: &str,
    inputs: &PlanInputs,
    execute_after: bool,
    recorded: Recorded<'_>,
) -> Result<Outcome, ApplyError> {
    let (waited, ()) = tokio::join!(
        wait(ctx, service, &c.address, id, c.timeouts.preview, |s| {
            s != PlanStatus::PreviewInProgress
        }),
        recorded
    );
    let (l, done) = waited?;
    if !done {
        record(ctx, c, &l, None, None).await;
        return Err(timed_out(Phase::Preview, &l, c.timeouts.preview));
    }
    if l.status == PlanStatus::PreviewFailed {
        record(ctx, c, &l, None, None).await;
        return Err(preview_failed(&l));
    }
    if !execute_after {
        // The cloud accepted these inputs: record them as applied.
        record(ctx, c, &l, Some(inputs), None).await;
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
) -> Result<Outcome, ApplyError> {
    let id = l.id.clone();
    let mut l = l;
    // Whether `l` already shows how the execution ended (read after it), so no wait is needed.
    let mut settled = false;
    if matches!(
        l.status,
        PlanStatus::PreviewSuccess | PlanStatus::ApplicationApproved
    ) {
        let before = l.status;
        send_patiently(ctx, service, c.timeouts.execute, || {
            service.execute_plan(&id)
        })
        .await?;
        // The answer carries no status: the first reads tell review from execution, and an
        // execution seen to end needs no further wait.
        let (seen, done) = wait(ctx, service, &c.address, &id, c.timeouts.execute, |s| {
            s != before && (!s.in_progress() || s == PlanStatus::ApplicationInProgress)
        })
        .await?;
        if !done {
            record(ctx, c, &seen, None, None).await;
            return Err(timed_out(Phase::Execution, &seen, c.timeouts.execute));
        }
        settled = !seen.status.in_progress();
        l = seen;
    }
    if l.status == PlanStatus::ApplicationInProgress {
        record(ctx, c, &l, None, None).await;
        let waited = wait(ctx, service, &c.address, &id, c.timeouts.approval, |s| {
            s != PlanStatus::ApplicationInProgress
        })
        .await;
        let (a, done) = match waited {
            // Waiting for a reviewer is not an operation to finish: the plan is recorded as
            // under review, so an interrupt leaves it awaiting approval.
            Err(ApplyError::Interrupted { .. }) => {
                return Ok(Outcome::AwaitingApproval { plan_id: id })
            }
            w => w?,
        };
        record(ctx, c, &a, None, None).await;
        if !done {
            return Ok(Outcome::AwaitingApproval { plan_id: id });
        }
        match a.status {
            PlanStatus::ApplicationApproved => {
                send_patiently(ctx, service, c.timeouts.execute, || {
                    service.execute_plan(&id)
                })
                .await?
            }
            PlanStatus::ApplicationRejected => return Err(ApplyError::Rejected { plan_id: id }),
            status => {
                return Err(ApplyError::LeftReview {
                    plan_id: id,
                    status,
                })
            }
        }
        settled = false;
    }
    if !settled {
        let (w, done) = wait(ctx, service, &c.address, &id, c.timeouts.execute, |s| {
            !s.in_progress()
        })
        .await?;
        if !done {
            record(ctx, c, &w, None, None).await;
            return Err(timed_out(Phase::Execution, &w, c.timeouts.execute));
        }
        l = w;
    }
    match l.status {
        PlanStatus::ExecuteSuccess => {
            let outputs = match &l.provisioned_product_id {
                Some(pp) if l.operation_type != OperationType::TerminateProvisionedProduct => Some(
                    read_patiently(ctx, service, c.timeouts.execute, || {
                        service.product_outputs(pp)
                    })
                    .await?,
                ),
                _ => None,
            };
            record(ctx, c, &l, Some(inputs), outputs).await;
            Ok(Outcome::Done(format!("{id} executed")))
        }
        status => {
            record(ctx, c, &l, None, None).await;
            Err(ApplyError::ExecutionFailed {
                status,
                message: l.status_message.unwrap_or_default(),
            })
        }
    }
}

async fn terminate(
    ctx: &Ctx,
    service: &dyn PlanService,
    c: &Change,
    via: &Termination,
) -> Result<Outcome, ApplyError> {
    let before = c
        .before
        .clone()
        .ok_or(ApplyError::NoLivePlan("terminate"))?;
    let product = before.provisioned_product_name.clone();
    let found = read_patiently(ctx, service, c.timeouts.execute, || {
        service.find_provisioned_product(&product)
    })
    .await?;
    if found.is_none() {
        forget(ctx, &c.address).await;
        return Ok(Outcome::Done("the product was already gone".into()));
    }
    match via {
        Termination::Direct => {
            send_patiently(ctx, service, c.timeouts.execute, || {
                service.terminate_product(&product, &c.idempotency_token)
            })
            .await?;
            ctx.emit(Event::Progress {
                address: c.address.clone(),
                message: format!("terminating {product}"),
            });
            // The provider's waits hold off together after a throttled read: this one too.
            let board = ctx.boards.of(service);
            let schedule = ctx.schedule();
            let (_, gone) = poll_until(
                schedule,
                c.timeouts.execute,
                &ctx.options.interrupt,
                |_, _| {
                    let (board, product) = (board.clone(), &product);
                    async move {
                        if let Some(quiet) = board.quiet() {
                            tokio::time::sleep_until(quiet).await;
                        }
                        let read = service.find_provisioned_product(product).await;
                        if let Err(e) = &read {
                            if e.kind.retryable() {
                                board.quiet_for(backoff(e, schedule, 1));
                            }
                        }
                        read
                    }
                },
                Option::is_none,
            )
            .await?;
            if !gone && ctx.options.interrupt.is_set() {
                return Err(ApplyError::Interrupted {
                    what: format!(
                        "stopped waiting for the termination of {product} (it goes on in the cloud)"
                    ),
                    why: ctx.options.interrupt.reason(),
                });
            }
            if !gone {
                return Err(ApplyError::NotTerminated {
                    product,
                    after: c.timeouts.execute,
                });
            }
        }
        Termination::Resume { plan_id } => {
            let inputs = read_patiently(ctx, service, c.timeouts.execute, || {
                service.get_plan(plan_id)
            })
            .await?
            .inputs;
            let nothing_to_record = Box::pin(std::future::ready(()));
            match preview_then_execute(ctx, service, c, plan_id, &inputs, true, nothing_to_record)
                .await?
            {
                Outcome::Done(_) => {}
                other => return Ok(other),
            }
        }
        Termination::Plan { name } => {
            let mut inputs = ownership::tag(&before, &ctx.options.workspace, &c.address);
            inputs.name = name.clone();
            let (l, recorded) = send_create(
                ctx,
                service,
                c,
                &inputs,
                OperationType::TerminateProvisionedProduct,
            )
            .await?;
            match preview_then_execute(ctx, service, c, &l.id, &inputs, true, recorded).await? {
                Outcome::Done(_) => {}
                other => return Ok(other),
            }
        }
    }
    forget(ctx, &c.address).await;
    Ok(Outcome::Done(format!("terminated {product}")))
}

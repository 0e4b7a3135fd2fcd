//! The executor: runs a change set in dependency order with bounded parallelism and records
//! each cloud operation's change (one address) through the held state lock before the next. It makes no choice the change set did not make: each
//! change's steps (`steps.rs`) re-read the live status and carry out the planned action; waits
//! go through the one poller (`poll.rs`); failures are typed (`error.rs`).
//!
//! Requests are not retried here: the clients retry what is retryable (see `docs/retries.md`).
//! Waiting is not retrying, though: a status read that still fails throttled or transient after
//! the client's attempts makes a wait look again later, until the wait's own timeout (`poll.rs`).
//! An interrupt stops every wait at once and starts nothing new.

mod error;
mod poll;
mod steps;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use planform_model::Address as Addr;
use planform_model::{Address, ProviderRef};
use planform_state::{Change as StateChange, Locked, Record, State, StateError};
use tokio::task::JoinSet;

pub use error::{ApplyError, Phase};

use crate::diff::ChangeSet;
use crate::events::{Event, Observer};
use crate::graph::{order, OrderError};
use crate::refresh::Providers;
use poll::{Boards, Schedule};

#[derive(Clone)]
pub struct ApplyOptions {
    pub parallelism: usize,
    pub workspace: String,
    /// First poll interval; later polls come after a tenth of the time waited, up to `poll_max`.
    pub poll_initial: Duration,
    pub poll_max: Duration,
    /// Triggered (e.g. by Ctrl-C) to start nothing new and stop waiting; requests in flight
    /// finish and are recorded.
    pub interrupt: Interrupt,
    /// The account each provider acts in (the refresh's [`crate::LiveSnapshot::accounts`]),
    /// recorded with every plan it makes or changes; a provider missing here records none (the
    /// next refresh records it).
    pub accounts: BTreeMap<ProviderRef, String>,
}

/// A shared interrupt: once triggered, apply starts no change and every wait ends at once
/// (what a plan was doing goes on in the cloud; the state holds the plan, and the next run
/// picks it up). Clones share it.
#[derive(Clone, Default)]
pub struct Interrupt(
    Arc<tokio::sync::watch::Sender<bool>>,
    Arc<std::sync::OnceLock<&'static str>>,
);

impl Interrupt {
    /// The user interrupted (Ctrl-C).
    pub fn trigger(&self) {
        self.stop_because("interrupted");
    }

    /// Stops the run for `why` (the first reason given is kept), e.g. a state write failed.
    pub fn stop_because(&self, why: &'static str) {
        let _ = self.1.set(why);
        self.0.send_replace(true);
    }

    /// Why the run stopped: `interrupted` unless another reason was given.
    pub fn reason(&self) -> &'static str {
        self.1.get().copied().unwrap_or("interrupted")
    }

    pub fn is_set(&self) -> bool {
        *self.0.borrow()
    }

    /// Ends once the interrupt is triggered (at once if it already was).
    pub async fn triggered(&self) {
        let mut rx = self.0.subscribe();
        // The sender lives as long as `self`, so this only ends when triggered.
        let _ = rx.wait_for(|set| *set).await;
    }
}

impl Default for ApplyOptions {
    fn default() -> Self {
        ApplyOptions {
            parallelism: 10,
            workspace: "default".into(),
            poll_initial: Duration::from_millis(50),
            poll_max: Duration::from_secs(5),
            interrupt: Interrupt::default(),
            accounts: BTreeMap::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Done(String),
    Failed(ApplyError),
    AwaitingApproval {
        plan_id: String,
    },
    /// Not started: a dependency failed or waits for approval.
    Deferred {
        because: Address,
    },
    /// Not started, or stopped waiting: apply was interrupted. A plan it stopped waiting for
    /// goes on in the cloud; the state holds it and the next run picks it up.
    Interrupted,
}

#[derive(Debug, Default)]
pub struct ApplyReport {
    pub results: Vec<(Address, Outcome)>,
    pub state_errors: Vec<StateError>,
}

impl ApplyReport {
    pub fn failed(&self) -> impl Iterator<Item = (&Address, &ApplyError)> {
        self.results.iter().filter_map(|(a, o)| match o {
            Outcome::Failed(e) => Some((a, e)),
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

/// What every running change shares: the state and the lock it is recorded through, the
/// observer, the options and the pollers' boards.
pub(crate) struct Ctx {
    state: Mutex<State>,
    /// Where each provider keeps its plans, recorded with every plan it makes or changes.
    locations: BTreeMap<ProviderRef, String>,
    locked: Arc<dyn Locked>,
    observer: Arc<dyn Observer>,
    options: ApplyOptions,
    state_errors: Mutex<Vec<StateError>>,
    boards: Boards,
}

impl Ctx {
    fn emit(&self, e: Event) {
        self.observer.event(&e);
    }

    /// One cloud operation's change: `f` changes `address` in the state under the mutex, the
    /// serial is stamped and the record of that address alone is queued before the mutex is
    /// released (so records are stored in serial order); durability is awaited outside it. A
    /// record that fails stops new changes from starting (their effects could not be kept).
    async fn update(&self, address: &Addr, f: impl FnOnce(&mut State)) {
        self.update_queued(address, f).await
    }

    /// [`Ctx::update`] whose durability is awaited later: the record is queued (and its serial
    /// stamped) now, and the returned future ends once it is durable. The caller awaits it
    /// before the change's next cloud operation.
    fn update_queued(
        &self,
        address: &Addr,
        f: impl FnOnce(&mut State),
    ) -> impl std::future::Future<Output = ()> + '_ {
        let durable = {
            let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
            f(&mut s);
            s.serial += 1;
            let change = match s.plans.get(address) {
                Some(m) => StateChange::Put {
                    address: address.clone(),
                    plan: Box::new(m.clone()),
                },
                None => StateChange::Remove {
                    address: address.clone(),
                },
            };
            self.locked.record(Record {
                serial: s.serial,
                changes: vec![change],
            })
        };
        async move {
            if let Err(e) = durable.await {
                self.options
                    .interrupt
                    .stop_because("stopped because the state could not be saved");
                self.state_errors
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(e);
            }
        }
    }

    /// Renames addresses (`moved` blocks), all in one record.
    async fn rename(&self, moved: &[(Addr, Addr)]) {
        let durable = {
            let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
            let mut changes = vec![];
            for (from, to) in moved {
                if let Some(p) = s.plans.remove(from) {
                    changes.push(StateChange::Remove {
                        address: from.clone(),
                    });
                    changes.push(StateChange::Put {
                        address: to.clone(),
                        plan: Box::new(p.clone()),
                    });
                    s.plans.insert(to.clone(), p);
                }
            }
            if changes.is_empty() {
                return;
            }
            s.serial += 1;
            self.locked.record(Record {
                serial: s.serial,
                changes,
            })
        };
        if let Err(e) = durable.await {
            self.options
                .interrupt
                .stop_because("stopped because the state could not be saved");
            self.state_errors
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(e);
        }
    }

    /// `f` of the state as it is now, borrowed under the mutex (no copy).
    fn read<T>(&self, f: impl FnOnce(&State) -> T) -> T {
        f(&self.state.lock().unwrap_or_else(|e| e.into_inner()))
    }

    fn schedule(&self) -> Schedule {
        Schedule {
            initial: self.options.poll_initial,
            max: self.options.poll_max,
        }
    }
}

/// Runs `changes` on `state` (as stored: its serial is the one `locked` holds), recording
/// every cloud operation through `locked`. Returns the final state and what happened to each
/// change; a record that failed is in the report's `state_errors` and stopped new changes.
pub async fn apply(
    changes: &ChangeSet,
    state: State,
    providers: &Providers,
    locked: Arc<dyn Locked>,
    observer: Arc<dyn Observer>,
    options: &ApplyOptions,
) -> Result<(State, ApplyReport), OrderError> {
    let (topo, waits) = order(changes)?;
    let ctx = Arc::new(Ctx {
        state: Mutex::new(state),
        locations: crate::locations(providers),
        locked,
        observer,
        options: options.clone(),
        state_errors: Mutex::new(vec![]),
        boards: Boards::default(),
    });
    if !changes.moved.is_empty() {
        ctx.rename(&changes.moved).await;
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
            if options.interrupt.is_set() {
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
                    Some(s) => steps::run(&ctx, s.as_ref(), &change).await,
                    None => Outcome::Failed(ApplyError::NotConfigured(change.provider.clone())),
                };
                match &o {
                    Outcome::Done(m) => ctx.emit(Event::Finished {
                        address: change.address.clone(),
                        message: m.clone(),
                    }),
                    Outcome::Failed(e) => ctx.emit(Event::Failed {
                        address: change.address.clone(),
                        message: e.to_string(),
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
    // Every task has ended, so this is the last reference: the state is moved out, not copied.
    let state = match Arc::try_unwrap(ctx) {
        Ok(ctx) => ctx.state.into_inner().unwrap_or_else(|e| e.into_inner()),
        Err(ctx) => ctx.read(State::clone),
    };
    Ok((
        state,
        ApplyReport {
            results,
            state_errors,
        },
    ))
}

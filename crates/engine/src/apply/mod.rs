//! The executor: runs a change set in dependency order with bounded parallelism and saves the
//! state after every cloud operation. It makes no choice the change set did not make: each
//! change's steps (`steps.rs`) re-read the live status and carry out the planned action; waits
//! go through the one poller (`poll.rs`); failures are typed (`error.rs`).
//!
//! Retries are not made here: the clients retry what is retryable (see `docs/retries.md`).

mod error;
mod poll;
mod steps;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use planform_model::Address;
use planform_state::{State, StateError};
use tokio::task::JoinSet;

pub use error::{ApplyError, Phase};

use crate::diff::ChangeSet;
use crate::events::{Event, Observer};
use crate::graph::{order, OrderError};
use crate::refresh::Providers;
use poll::{Boards, Schedule};

/// Where the executor saves the state after each cloud operation.
pub trait StateSink: Send + Sync {
    fn save(&self, state: &State) -> Result<(), StateError>;
}

#[derive(Clone)]
pub struct ApplyOptions {
    pub parallelism: usize,
    pub workspace: String,
    /// First poll interval; later polls come after a tenth of the time waited, up to `poll_max`.
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
    Failed(ApplyError),
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

/// What every running change shares: the state and where it is saved, the observer, the
/// options and the pollers' boards.
pub(crate) struct Ctx {
    state: Mutex<State>,
    sink: Arc<dyn StateSink>,
    observer: Arc<dyn Observer>,
    options: ApplyOptions,
    state_errors: Mutex<Vec<StateError>>,
    boards: Boards,
}

impl Ctx {
    fn emit(&self, e: Event) {
        self.observer.event(&e);
    }

    /// Changes the state and saves it durably (one cloud operation, one save).
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

    fn schedule(&self) -> Schedule {
        Schedule {
            initial: self.options.poll_initial,
            max: self.options.poll_max,
        }
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
        boards: Boards::default(),
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
    Ok((
        ctx.snapshot(),
        ApplyReport {
            results,
            state_errors,
        },
    ))
}

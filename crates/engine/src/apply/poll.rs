//! The one waiter: polls until a condition holds or a timeout passes, on tokio's clock (which
//! tests pause and advance, so no engine test waits on wall-clock time), and rate-aware status
//! reads that let one list call answer many waiting plans, each page offered to every waiter.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use planform_model::{LivePlan, PlanFilter, PlanService, ProviderError};
use tokio::time::Instant;

/// When to poll again: after a tenth of the time waited so far, within `[initial, max]`, so a
/// wait overshoots the moment its condition holds by about 10% with a logarithmic number of polls.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Schedule {
    pub initial: Duration,
    pub max: Duration,
}

impl Schedule {
    fn next(&self, waited: Duration) -> Duration {
        (waited / 10).clamp(self.initial, self.max.max(self.initial))
    }
}

/// Reads with `read` until `done` holds for what it returns or `timeout` has passed. `read` gets
/// the current poll interval. Returns the last value read and whether `done` held.
pub(crate) async fn poll_until<T, E, F, Fut>(
    schedule: Schedule,
    timeout: Duration,
    mut read: F,
    done: impl Fn(&T) -> bool,
) -> Result<(T, bool), E>
where
    F: FnMut(Instant, Duration) -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let start = Instant::now();
    let mut delay = schedule.initial;
    loop {
        let value = read(start, delay).await?;
        if done(&value) {
            return Ok((value, true));
        }
        if start.elapsed() >= timeout {
            return Ok((value, false));
        }
        tokio::time::sleep(
            delay
                .min(timeout.saturating_sub(start.elapsed()))
                .max(Duration::from_millis(1)),
        )
        .await;
        delay = schedule.next(start.elapsed());
    }
}

/// Waiters on one provider from which a shared list call replaces single reads.
const SHARE_AT: usize = 4;

/// Rate-aware polling: while several plans wait on one provider, a list call (newest 100 plans,
/// full details) answers all of them at once instead of one read per plan, and every page
/// fetched is offered to every waiter the moment it arrives, so a waiter learns of its plan's
/// change from whichever poll comes first, its own or another's.
pub(crate) struct Board {
    waiting: AtomicUsize,
    seen: Mutex<HashMap<String, (Instant, LivePlan)>>,
    listing: tokio::sync::Mutex<()>,
    /// Bumped after each page is stored in `seen`.
    pages: tokio::sync::watch::Sender<()>,
}

impl Default for Board {
    fn default() -> Self {
        Board {
            waiting: AtomicUsize::new(0),
            seen: Mutex::new(HashMap::new()),
            listing: tokio::sync::Mutex::new(()),
            pages: tokio::sync::watch::Sender::new(()),
        }
    }
}

impl Board {
    /// The plan as the newest page fetched (its request sent) no earlier than `since` shows it.
    fn fresh(&self, plan_id: &str, since: Instant) -> Option<LivePlan> {
        self.seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(plan_id)
            .filter(|(t, _)| *t >= since)
            .map(|(_, l)| l.clone())
    }
}

/// One board per provider service, keyed by the service's address.
#[derive(Default)]
pub(crate) struct Boards(Mutex<HashMap<usize, Arc<Board>>>);

impl Boards {
    pub fn of(&self, service: &dyn PlanService) -> Arc<Board> {
        let key = service as *const dyn PlanService as *const () as usize;
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(key)
            .or_default()
            .clone()
    }
}

/// Counts a waiter on a board for as long as it lives.
struct Waiting<'a>(&'a Board);

impl<'a> Waiting<'a> {
    fn on(board: &'a Board) -> Waiting<'a> {
        board.waiting.fetch_add(1, Ordering::SeqCst);
        Waiting(board)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.waiting.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The plan's status as read no earlier than `since`: from a shared list when many wait and
/// the plan is among the newest (`listed`, cleared once a page fetched after `since` lacks
/// it: a plan that is not among the newest 100 never becomes so), else by a single read.
async fn read_status(
    board: &Board,
    service: &dyn PlanService,
    plan_id: &str,
    since: Instant,
    listed: &mut bool,
) -> Result<LivePlan, ProviderError> {
    if *listed
        && board.waiting.load(Ordering::SeqCst) >= SHARE_AT
        && service.capabilities().lists_with_details
    {
        if let Some(l) = board.fresh(plan_id, since) {
            return Ok(l);
        }
        let _one_list_at_a_time = board.listing.lock().await;
        if let Some(l) = board.fresh(plan_id, since) {
            return Ok(l);
        }
        let fetched = Instant::now();
        let page = service.list_plans(&PlanFilter::default(), 1, 100).await?;
        {
            let mut seen = board.seen.lock().unwrap_or_else(|e| e.into_inner());
            for l in page.items {
                seen.insert(l.id.clone(), (fetched, l));
            }
        }
        board.pages.send_replace(());
        if let Some(l) = board.fresh(plan_id, since) {
            return Ok(l);
        }
        *listed = false;
    }
    service.get_plan(plan_id).await
}

/// Watches one plan until `done` holds for it or `timeout` passes: reads it on `schedule`
/// (shared lists when many wait, [`read_status`]), and between its own reads looks at every
/// page another waiter fetches, so the change is seen at the first poll of anyone after it.
/// `seen` is called with every status read. Returns the last plan read and whether it is done.
pub(crate) async fn watch_plan(
    board: &Board,
    service: &dyn PlanService,
    plan_id: &str,
    schedule: Schedule,
    timeout: Duration,
    done: impl Fn(&LivePlan) -> bool,
    mut seen: impl FnMut(&LivePlan),
) -> Result<(LivePlan, bool), ProviderError> {
    let start = Instant::now();
    let _waiting = Waiting::on(board);
    let mut pages = board.pages.subscribe();
    let mut listed = true;
    let mut delay = schedule.initial;
    loop {
        // A shared answer may be up to a quarter of the poll interval old, but never older than
        // this wait (which starts after the request whose effect it waits for).
        let since = Instant::now()
            .checked_sub(delay / 4)
            .map_or(start, |t| t.max(start));
        pages.mark_unchanged();
        let l = read_status(board, service, plan_id, since, &mut listed).await?;
        seen(&l);
        if done(&l) {
            return Ok((l, true));
        }
        if start.elapsed() >= timeout {
            return Ok((l, false));
        }
        let due = Instant::now()
            + delay
                .min(timeout.saturating_sub(start.elapsed()))
                .max(Duration::from_millis(1));
        while listed {
            tokio::select! {
                _ = tokio::time::sleep_until(due) => break,
                changed = pages.changed() => {
                    if changed.is_err() {
                        break;
                    }
                    if let Some(l) = board.fresh(plan_id, start) {
                        seen(&l);
                        if done(&l) {
                            return Ok((l, true));
                        }
                    }
                }
            }
        }
        tokio::time::sleep_until(due).await;
        delay = schedule.next(start.elapsed());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn polls_after_a_tenth_of_the_time_waited_and_stops_at_the_timeout() {
        let schedule = Schedule {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(5),
        };
        let start = Instant::now();
        let mut reads = Vec::new();
        let (last, done) = poll_until(
            schedule,
            Duration::from_secs(60),
            |_, _| {
                reads.push(start.elapsed());
                async { Ok::<_, ()>(start.elapsed()) }
            },
            |t| *t >= Duration::from_secs(30),
        )
        .await
        .unwrap();
        assert!(done);
        // Overshoot of at most ~10% (plus one initial interval), with few reads.
        assert!(last <= Duration::from_millis(33_100), "{last:?}");
        assert!(reads.len() < 60, "{} reads", reads.len());
        let (_, done) = poll_until(
            schedule,
            Duration::from_secs(2),
            |_, _| async { Ok::<_, ()>(()) },
            |_| false,
        )
        .await
        .unwrap();
        assert!(!done);
    }

    #[tokio::test(start_paused = true)]
    async fn a_read_error_ends_the_wait() {
        let schedule = Schedule {
            initial: Duration::from_millis(1),
            max: Duration::from_millis(1),
        };
        let r = poll_until(
            schedule,
            Duration::from_secs(1),
            |_, _| async { Err::<(), _>("boom") },
            |_| true,
        )
        .await;
        assert_eq!(r, Err("boom"));
    }
}

//! The one waiter: polls until a condition holds or a timeout passes, on tokio's clock (which
//! tests pause and advance, so no engine test waits on wall-clock time), and rate-aware status
//! reads that let one list call answer many waiting plans.

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
/// full details) answers all of them at once instead of one read per plan.
#[derive(Default)]
pub(crate) struct Board {
    waiting: AtomicUsize,
    seen: Mutex<HashMap<String, (Instant, LivePlan)>>,
    listing: tokio::sync::Mutex<()>,
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
pub(crate) struct Waiting<'a>(&'a Board);

impl<'a> Waiting<'a> {
    pub fn on(board: &'a Board) -> Waiting<'a> {
        board.waiting.fetch_add(1, Ordering::SeqCst);
        Waiting(board)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.waiting.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The plan's status as read no earlier than `since`: from a shared list when many wait.
pub(crate) async fn read_status(
    board: &Board,
    service: &dyn PlanService,
    plan_id: &str,
    since: Instant,
) -> Result<LivePlan, ProviderError> {
    if board.waiting.load(Ordering::SeqCst) >= SHARE_AT && service.capabilities().lists_with_details
    {
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
        let page = service.list_plans(&PlanFilter::default(), 1, 100).await?;
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
    service.get_plan(plan_id).await
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

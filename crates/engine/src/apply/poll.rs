//! The one waiter: polls until a condition holds or a timeout passes, on tokio's clock (which
//! tests pause and advance, so no engine test waits on wall-clock time), and rate-aware status
//! reads that let one list call answer many waiting plans, each page offered to every waiter.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use planform_model::{ErrorKind, LivePlan, PlanFilter, PlanService, ProviderError};
use tokio::time::Instant;

use super::Interrupt;

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

/// How long to hold off after a read failed throttled or transient (after the client's own
/// attempts): at least the cloud's retry-after when it gave one, else the poll interval doubled
/// for each failure in a row, from `schedule.initial` up to `schedule.max`.
pub(crate) fn backoff(error: &ProviderError, schedule: Schedule, failures: u32) -> Duration {
    let doubled = schedule
        .initial
        .saturating_mul(1u32 << failures.min(16))
        .min(schedule.max.max(schedule.initial));
    match error.kind {
        ErrorKind::Throttled {
            retry_after: Some(after),
        } => doubled.max(after),
        _ => doubled,
    }
}

/// Reads with `read` until `done` holds for what it returns or `timeout` has passed. `read` gets
/// the current poll interval. A read that fails throttled or transient is a reason to look again
/// later ([`backoff`]), not the end of the wait; other errors end it, as does a failure at the
/// timeout before anything was read. An interrupt ends the wait at once, as a timeout does.
/// Returns the last value read and whether `done` held.
pub(crate) async fn poll_until<T, F, Fut>(
    schedule: Schedule,
    timeout: Duration,
    interrupt: &Interrupt,
    mut read: F,
    done: impl Fn(&T) -> bool,
) -> Result<(T, bool), ProviderError>
where
    F: FnMut(Instant, Duration) -> Fut,
    Fut: Future<Output = Result<T, ProviderError>>,
{
    let start = Instant::now();
    let mut delay = schedule.initial;
    let mut last = None;
    let mut failures = 0;
    loop {
        // The pause before the next read, and the error of this one if it failed.
        let (pause, failed) = match read(start, delay).await {
            Ok(value) => {
                failures = 0;
                if done(&value) {
                    return Ok((value, true));
                }
                last = Some(value);
                (delay, None)
            }
            Err(e) if e.kind.retryable() => {
                failures += 1;
                (backoff(&e, schedule, failures), Some(e))
            }
            Err(e) => return Err(e),
        };
        if start.elapsed() >= timeout || interrupt.is_set() {
            return unfinished(last, failed);
        }
        tokio::select! {
            _ = tokio::time::sleep(
                pause
                    .min(timeout.saturating_sub(start.elapsed()))
                    .max(Duration::from_millis(1)),
            ) => {}
            _ = interrupt.triggered() => return unfinished(last, failed),
        }
        delay = schedule.next(start.elapsed());
    }
}

/// How a wait that ran out (or was interrupted) ends: with the last value read, not done, or,
/// when no read succeeded, with the last read's error.
fn unfinished<T>(
    last: Option<T>,
    failed: Option<ProviderError>,
) -> Result<(T, bool), ProviderError> {
    match (last, failed) {
        (Some(v), _) => Ok((v, false)),
        (None, Some(e)) => Err(e),
        (None, None) => unreachable!("a wait ends after at least one read"),
    }
}

/// Waiters on one provider from which a shared list call replaces single reads.
const SHARE_AT: usize = 4;

/// Rate-aware polling: while several plans wait on one provider, a list call (newest 100 plans,
/// full details) answers all of them at once instead of one read per plan, and every page
/// fetched is offered to every waiter the moment it arrives, so a waiter learns of its plan's
/// change from whichever poll comes first, its own or another's. Lists are staggered: a new one
/// may go out half a list's duration after the previous one (so at most about two are under way),
/// and a waiter whose poll a list already under way will answer waits for that page instead.
pub(crate) struct Board {
    waiting: AtomicUsize,
    seen: Mutex<HashMap<String, (Instant, LivePlan)>>,
    lists: Mutex<Lists>,
    listing: tokio::sync::Mutex<()>,
    /// Bumped after each page is stored in `seen` (and when a list fails).
    pages: tokio::sync::watch::Sender<()>,
    /// Until when every waiter holds off: a read throttled (or failing transiently) slows all
    /// polls of the provider, which share its request budget, not only its own.
    quiet_until: Mutex<Option<Instant>>,
}

/// The lists under way (when each was sent) and how long the last one took.
#[derive(Default)]
struct Lists {
    under_way: Vec<Instant>,
    took: Duration,
}

impl Default for Board {
    fn default() -> Self {
        Board {
            waiting: AtomicUsize::new(0),
            seen: Mutex::new(HashMap::new()),
            lists: Mutex::new(Lists::default()),
            listing: tokio::sync::Mutex::new(()),
            pages: tokio::sync::watch::Sender::new(()),
            quiet_until: Mutex::new(None),
        }
    }
}

impl Board {
    /// Every waiter holds off for `pause` from now (or longer, if already asked).
    pub(crate) fn quiet_for(&self, pause: Duration) {
        let until = Instant::now() + pause;
        let mut quiet = self.quiet_until.lock().unwrap_or_else(|e| e.into_inner());
        if quiet.is_none_or(|q| q < until) {
            *quiet = Some(until);
        }
    }

    /// When the provider may be read again, if a hold-off is under way.
    pub(crate) fn quiet(&self) -> Option<Instant> {
        self.quiet_until
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .filter(|q| *q > Instant::now())
    }

    /// The plan as the newest page fetched (its request sent) no earlier than `since` shows it.
    fn fresh(&self, plan_id: &str, since: Instant) -> Option<LivePlan> {
        self.seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(plan_id)
            .filter(|(t, _)| *t >= since)
            .map(|(_, l)| l.clone())
    }

    fn lists(&self) -> std::sync::MutexGuard<'_, Lists> {
        self.lists.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether a list sent no earlier than `since` is under way (its page will answer).
    fn coming(&self, since: Instant) -> bool {
        self.lists().under_way.iter().any(|t| *t >= since)
    }

    /// One list call, stored in `seen` and announced to every waiter. The `listing` guard is
    /// let go half the last list's duration after sending (or when the answer comes, if sooner).
    async fn list(
        &self,
        service: &dyn PlanService,
        guard: tokio::sync::MutexGuard<'_, ()>,
    ) -> Result<(), ProviderError> {
        let fetched = Instant::now();
        let spacing = {
            let mut lists = self.lists();
            lists.under_way.push(fetched);
            lists.took / 2
        };
        let filter = PlanFilter::default();
        let call = service.list_plans(&filter, 1, 100);
        tokio::pin!(call);
        let mut guard = Some(guard);
        let page = loop {
            tokio::select! {
                page = &mut call => break page,
                _ = tokio::time::sleep(spacing), if guard.is_some() => guard = None,
            }
        };
        drop(guard);
        {
            let mut lists = self.lists();
            lists.under_way.retain(|t| *t != fetched);
            lists.took = fetched.elapsed();
        }
        if let Ok(page) = &page {
            let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
            for l in &page.items {
                seen.insert(l.id.clone(), (fetched, l.clone()));
            }
        }
        // Also on failure: whoever waits for this page looks again.
        self.pages.send_replace(());
        page.map(|_| ())
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

/// The plan's status as read no earlier than `since`, or, if it shows the wait `done`, no
/// earlier than `start` (the wait's start: a page read since then that shows the plan done
/// ends the wait, however old). From a shared list when many wait and the plan is among the
/// newest (`listed`, cleared once a page fetched after `since` lacks it: a plan that is not
/// among the newest 100 never becomes so), else by a single read.
async fn read_status(
    board: &Board,
    service: &dyn PlanService,
    plan_id: &str,
    (start, since): (Instant, Instant),
    done: &impl Fn(&LivePlan) -> bool,
    listed: &mut bool,
) -> Result<LivePlan, ProviderError> {
    if *listed
        && board.waiting.load(Ordering::SeqCst) >= SHARE_AT
        && service.capabilities().lists_with_details
    {
        let known = || {
            board
                .fresh(plan_id, since)
                .or_else(|| board.fresh(plan_id, start).filter(|l| done(l)))
        };
        // Subscribed before looking, so no page stored after the look goes unnoticed.
        let mut pages = board.pages.subscribe();
        loop {
            if let Some(l) = known() {
                return Ok(l);
            }
            if board.coming(since) {
                if pages.changed().await.is_err() {
                    break;
                }
                continue;
            }
            let guard = board.listing.lock().await;
            if known().is_some() || board.coming(since) {
                continue;
            }
            board.list(service, guard).await?;
            if let Some(l) = board.fresh(plan_id, since) {
                return Ok(l);
            }
            *listed = false;
            break;
        }
    }
    service.get_plan(plan_id).await
}

/// Watches one plan until `done` holds for it or `timeout` passes: reads it on `schedule`
/// (shared lists when many wait, [`read_status`]), and between its own reads looks at every
/// page another waiter fetches, so the change is seen at the first poll of anyone after it.
/// A read that fails throttled or transient (after the client's attempts) is a reason to look
/// again later: every waiter of the provider holds off ([`backoff`], at least the cloud's
/// retry-after) and the wait goes on until its timeout. An interrupt ends the wait at once, as
/// a timeout does. `seen` is called with every status read. Returns the last plan read and
/// whether it is done; an error when a read failed otherwise, or when nothing could be read at
/// all before the timeout or the interrupt.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn watch_plan(
    board: &Board,
    service: &dyn PlanService,
    plan_id: &str,
    schedule: Schedule,
    timeout: Duration,
    interrupt: &Interrupt,
    done: impl Fn(&LivePlan) -> bool,
    mut seen: impl FnMut(&LivePlan),
) -> Result<(LivePlan, bool), ProviderError> {
    let start = Instant::now();
    let deadline = start + timeout;
    let _waiting = Waiting::on(board);
    let mut pages = board.pages.subscribe();
    let mut listed = true;
    let mut delay = schedule.initial;
    let mut last: Option<LivePlan> = None;
    let mut failed: Option<ProviderError> = None;
    let mut failures = 0;
    loop {
        // Held off by a throttled read (this waiter's or another's), within this wait.
        if let Some(quiet) = board.quiet() {
            tokio::select! {
                _ = tokio::time::sleep_until(quiet.min(deadline)) => {}
                _ = interrupt.triggered(), if last.is_some() || failed.is_some() => {
                    return unfinished(last, failed);
                }
            }
        }
        // A shared answer may be up to a quarter of the poll interval old, but never older than
        // this wait (which starts after the request whose effect it waits for).
        let since = Instant::now()
            .checked_sub(delay / 4)
            .map_or(start, |t| t.max(start));
        pages.mark_unchanged();
        let l = match read_status(board, service, plan_id, (start, since), &done, &mut listed).await
        {
            Ok(l) => l,
            Err(e) if e.kind.retryable() => {
                failures += 1;
                let pause = backoff(&e, schedule, failures);
                board.quiet_for(pause);
                failed = Some(e);
                if start.elapsed() >= timeout || interrupt.is_set() {
                    return unfinished(last, failed);
                }
                tokio::select! {
                    _ = tokio::time::sleep_until((Instant::now() + pause).min(deadline)) => {}
                    _ = interrupt.triggered() => return unfinished(last, failed),
                }
                continue;
            }
            Err(e) => return Err(e),
        };
        failed = None;
        failures = 0;
        seen(&l);
        if done(&l) {
            return Ok((l, true));
        }
        if start.elapsed() >= timeout || interrupt.is_set() {
            return Ok((l, false));
        }
        let due = Instant::now()
            + delay
                .min(timeout.saturating_sub(start.elapsed()))
                .max(Duration::from_millis(1));
        last = Some(l);
        // Until the next own poll, every page another waiter fetches is looked at (a plan that
        // is not on the pages has nothing to look at).
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(due) => break,
                _ = interrupt.triggered() => {
                    return Ok((last.expect("read above"), false));
                }
                changed = pages.changed(), if listed => {
                    if changed.is_err() {
                        tokio::time::sleep_until(due).await;
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
        delay = schedule.next(start.elapsed());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use planform_model::{
        Capabilities, NewPlan, OperationType, Page, PlanInputs, PlanStatus, PlanUpdate,
        ProvisionedProduct, ResourceChange,
    };

    /// A cloud of plans whose statuses the test sets, listing only the plans it calls newest,
    /// counting list and single reads.
    #[derive(Default)]
    struct Cloud {
        status: Mutex<HashMap<String, PlanStatus>>,
        newest: Mutex<Vec<String>>,
        lists: AtomicUsize,
        gets: Mutex<HashMap<String, usize>>,
        /// How many more reads (lists or single) are refused as throttled, and the retry-after
        /// they carry.
        throttle: AtomicUsize,
        retry_after: Option<Duration>,
        /// When each read arrived, throttled or not.
        reads_at: Mutex<Vec<Instant>>,
    }

    impl Cloud {
        fn with(plans: &[&str], listed: &[&str]) -> Arc<Cloud> {
            let c = Cloud::default();
            for p in plans {
                c.status
                    .lock()
                    .unwrap()
                    .insert(p.to_string(), PlanStatus::PreviewInProgress);
            }
            *c.newest.lock().unwrap() = listed.iter().map(|p| p.to_string()).collect();
            Arc::new(c)
        }

        /// Refuses the next `n` reads as throttled.
        fn throttled(plans: &[&str], n: usize, retry_after: Option<Duration>) -> Arc<Cloud> {
            let c = Cloud {
                throttle: AtomicUsize::new(n),
                retry_after,
                ..Cloud::default()
            };
            for p in plans {
                c.status
                    .lock()
                    .unwrap()
                    .insert(p.to_string(), PlanStatus::PreviewInProgress);
            }
            Arc::new(c)
        }

        /// Counts a read; an error while it is to be throttled.
        fn read(&self) -> Result<(), ProviderError> {
            self.reads_at.lock().unwrap().push(Instant::now());
            let left = self.throttle.load(Ordering::SeqCst);
            if left == 0 {
                return Ok(());
            }
            self.throttle.store(left - 1, Ordering::SeqCst);
            Err(ProviderError::new(
                ErrorKind::Throttled {
                    retry_after: self.retry_after,
                },
                planform_model::Sent::Yes,
                "Throttling.User",
                "Request was denied due to user flow control.",
            ))
        }

        fn set(&self, plan: &str, status: PlanStatus) {
            self.status.lock().unwrap().insert(plan.into(), status);
        }

        fn plan(&self, id: &str) -> LivePlan {
            let status = self.status.lock().unwrap()[id];
            LivePlan {
                id: id.into(),
                inputs: PlanInputs::default(),
                operation_type: OperationType::LaunchProduct,
                status,
                raw_status: status.as_str().into(),
                status_message: None,
                provisioned_product_id: None,
                stack_id: None,
                create_time: String::new(),
                update_time: String::new(),
            }
        }
    }

    #[async_trait::async_trait]
    impl PlanService for Cloud {
        async fn list_plans(
            &self,
            _: &PlanFilter,
            _: usize,
            _: usize,
        ) -> Result<Page<LivePlan>, ProviderError> {
            self.lists.fetch_add(1, Ordering::SeqCst);
            self.read()?;
            let newest = self.newest.lock().unwrap().clone();
            Ok(Page {
                total_count: newest.len(),
                items: newest.iter().map(|id| self.plan(id)).collect(),
            })
        }
        async fn get_plan(&self, id: &str) -> Result<LivePlan, ProviderError> {
            *self.gets.lock().unwrap().entry(id.into()).or_default() += 1;
            self.read()?;
            Ok(self.plan(id))
        }
        async fn create_plan(&self, _: &NewPlan) -> Result<LivePlan, ProviderError> {
            unreachable!("the poller only reads")
        }
        async fn update_plan(&self, _: &PlanUpdate) -> Result<LivePlan, ProviderError> {
            unreachable!("the poller only reads")
        }
        async fn execute_plan(&self, _: &str) -> Result<(), ProviderError> {
            unreachable!("the poller only reads")
        }
        async fn cancel_plan(&self, _: &str) -> Result<(), ProviderError> {
            unreachable!("the poller only reads")
        }
        async fn delete_plan(&self, _: &str) -> Result<(), ProviderError> {
            unreachable!("the poller only reads")
        }
        async fn resource_changes(&self, _: &str) -> Result<Vec<ResourceChange>, ProviderError> {
            unreachable!("the poller reads statuses only")
        }
        async fn find_provisioned_product(
            &self,
            _: &str,
        ) -> Result<Option<ProvisionedProduct>, ProviderError> {
            unreachable!("the poller reads statuses only")
        }
        async fn provisioned_product(&self, _: &str) -> Result<ProvisionedProduct, ProviderError> {
            unreachable!("the poller reads statuses only")
        }
        fn capabilities(&self) -> Capabilities {
            Capabilities::ALIBABA
        }

        fn location(&self) -> String {
            "test cloud".into()
        }

        async fn account(&self) -> Result<String, ProviderError> {
            unreachable!("the poller reads statuses only")
        }
    }

    fn previewed(l: &LivePlan) -> bool {
        l.status != PlanStatus::PreviewInProgress
    }

    #[tokio::test(start_paused = true)]
    async fn every_page_wakes_every_waiter_so_all_see_the_change_at_the_first_poll_after_it() {
        let ids: Vec<String> = (0..8).map(|i| format!("plan-{i}")).collect();
        let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
        let cloud = Cloud::with(&refs, &refs);
        let board = Arc::new(Board::default());
        let schedule = Schedule {
            initial: Duration::from_millis(50),
            max: Duration::from_secs(5),
        };
        let t0 = Instant::now();
        let mut waiters = tokio::task::JoinSet::new();
        for (i, id) in ids.iter().enumerate() {
            let (cloud, board, id) = (cloud.clone(), board.clone(), id.clone());
            waiters.spawn(async move {
                // Started at different moments, so their own polls fall at different times.
                tokio::time::sleep(Duration::from_millis(7 * i as u64)).await;
                let (l, done) = watch_plan(
                    &board,
                    cloud.as_ref(),
                    &id,
                    schedule,
                    Duration::from_secs(60),
                    &Interrupt::default(),
                    previewed,
                    |_| {},
                )
                .await
                .unwrap();
                assert!(done && l.status == PlanStatus::PreviewSuccess);
                Instant::now()
            });
        }
        tokio::time::sleep(Duration::from_millis(1_000)).await;
        for id in &ids {
            cloud.set(id, PlanStatus::PreviewSuccess);
        }
        let mut ends = vec![];
        while let Some(end) = waiters.join_next().await {
            ends.push(end.unwrap() - t0);
        }
        let (first, last) = (ends.iter().min().unwrap(), ends.iter().max().unwrap());
        assert_eq!(first, last, "one page told every waiter: {ends:?}");
        assert!(*last <= Duration::from_millis(1_050), "{last:?}");
        // Eight waiters polling every 50-100 ms for a second would read about 130 times alone;
        // shared lists (a page serves every poll due within a quarter interval) take far fewer.
        let lists = cloud.lists.load(Ordering::SeqCst);
        let gets: usize = cloud.gets.lock().unwrap().values().sum();
        assert!(lists + gets <= 70, "{lists} lists, {gets} single reads");
    }

    #[tokio::test(start_paused = true)]
    async fn a_plan_missing_from_a_fresh_page_is_read_alone_from_then_on() {
        let cloud = Cloud::with(&["old", "a", "b", "c", "d"], &["a", "b", "c", "d"]);
        let board = Arc::new(Board::default());
        let schedule = Schedule {
            initial: Duration::from_millis(100),
            max: Duration::from_millis(100),
        };
        let mut waiters = tokio::task::JoinSet::new();
        for id in ["old", "a", "b", "c", "d"] {
            let (cloud, board) = (cloud.clone(), board.clone());
            waiters.spawn(async move {
                watch_plan(
                    &board,
                    cloud.as_ref(),
                    id,
                    schedule,
                    Duration::from_millis(1_000),
                    &Interrupt::default(),
                    previewed,
                    |_| {},
                )
                .await
                .unwrap()
            });
        }
        while let Some(r) = waiters.join_next().await {
            assert!(!r.unwrap().1, "nothing changed: every wait times out");
        }
        let lists = cloud.lists.load(Ordering::SeqCst);
        let gets = cloud.gets.lock().unwrap().clone();
        // One single read per poll of `old` (about 11 in a second at 100 ms); the others read
        // alone only while fewer than four wait (as the waiters start and as they end), and
        // otherwise share the lists, which `old` no longer asks for once a page lacked it.
        assert!((10..=12).contains(&gets["old"]), "{gets:?}");
        assert!(
            ["a", "b", "c", "d"]
                .iter()
                .all(|p| gets.get(*p).copied().unwrap_or(0) <= 2),
            "{gets:?}"
        );
        assert!(lists <= 12, "{lists} lists");
    }

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
            &Interrupt::default(),
            |_, _| {
                reads.push(start.elapsed());
                async { Ok(start.elapsed()) }
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
            &Interrupt::default(),
            |_, _| async { Ok(()) },
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
        let boom = ProviderError::invalid("Boom", "no");
        let r = poll_until(
            schedule,
            Duration::from_secs(1),
            &Interrupt::default(),
            |_, _| async { Err::<(), _>(ProviderError::invalid("Boom", "no")) },
            |_| true,
        )
        .await;
        assert_eq!(r, Err(boom));
    }

    /// Trial finding 10: a throttled status read (after the client's own attempts) is a reason
    /// to look again later, not the end of the plan: every waiter holds off, doubling the
    /// pause, and the waits see their plans finish within their timeouts.
    #[tokio::test(start_paused = true)]
    async fn throttled_reads_make_every_waiter_look_again_later_until_the_timeout() {
        let ids: Vec<String> = (0..6).map(|i| format!("plan-{i}")).collect();
        let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
        // The first 40 reads are throttled: far more than a plan's attempts.
        let cloud = Cloud::throttled(&refs, 40, None);
        let board = Arc::new(Board::default());
        let schedule = Schedule {
            initial: Duration::from_millis(50),
            max: Duration::from_secs(5),
        };
        let mut waiters = tokio::task::JoinSet::new();
        for id in &ids {
            let (cloud, board, id) = (cloud.clone(), board.clone(), id.clone());
            waiters.spawn(async move {
                watch_plan(
                    &board,
                    cloud.as_ref(),
                    &id,
                    schedule,
                    Duration::from_secs(600),
                    &Interrupt::default(),
                    previewed,
                    |_| {},
                )
                .await
            });
        }
        tokio::time::sleep(Duration::from_secs(30)).await;
        for id in &ids {
            cloud.set(id, PlanStatus::PreviewSuccess);
        }
        while let Some(r) = waiters.join_next().await {
            let (l, done) = r.unwrap().expect("throttling does not fail a wait");
            assert!(done && l.status == PlanStatus::PreviewSuccess);
        }
        assert_eq!(
            cloud.throttle.load(Ordering::SeqCst),
            0,
            "all 40 were refused"
        );
        // Held off together: the refusals did not come in a burst of polls at 50 ms.
        let reads = cloud.reads_at.lock().unwrap().clone();
        let fortieth = reads[39] - reads[0];
        assert!(fortieth >= Duration::from_secs(5), "{fortieth:?}");
    }

    /// A throttled read's retry-after is honoured: nothing is read again sooner; and a wait
    /// whose reads all fail ends at its timeout with the error (nothing was read).
    #[tokio::test(start_paused = true)]
    async fn a_retry_after_is_honoured_and_a_wait_with_nothing_read_ends_with_the_error() {
        let cloud = Cloud::throttled(&["p"], 1, Some(Duration::from_secs(3)));
        let board = Board::default();
        let schedule = Schedule {
            initial: Duration::from_millis(50),
            max: Duration::from_millis(500),
        };
        let start = Instant::now();
        let (_, done) = watch_plan(
            &board,
            cloud.as_ref(),
            "p",
            schedule,
            Duration::from_secs(10),
            &Interrupt::default(),
            |l| l.status == PlanStatus::PreviewInProgress,
            |_| {},
        )
        .await
        .unwrap();
        assert!(done);
        let reads = cloud.reads_at.lock().unwrap().clone();
        assert_eq!(reads.len(), 2);
        assert!(reads[1] - start >= Duration::from_secs(3), "{reads:?}");

        let always = Cloud::throttled(&["p"], usize::MAX, None);
        let r = watch_plan(
            &board,
            always.as_ref(),
            "p",
            schedule,
            Duration::from_secs(10),
            &Interrupt::default(),
            previewed,
            |_| {},
        )
        .await;
        assert!(
            matches!(r, Err(ref e) if e.code == "Throttling.User"),
            "{r:?}"
        );
        assert!(start.elapsed() >= Duration::from_secs(13));
        // A transient failure, too, is looked at again until the timeout.
        let before = Instant::now();
        let r = poll_until(
            schedule,
            Duration::from_secs(10),
            &Interrupt::default(),
            |_, _| async {
                Err::<(), _>(ProviderError::new(
                    ErrorKind::Transient,
                    planform_model::Sent::Yes,
                    "ServiceUnavailable",
                    "try later",
                ))
            },
            |_| true,
        )
        .await;
        assert!(matches!(r, Err(ref e) if e.code == "ServiceUnavailable"));
        assert!(before.elapsed() >= Duration::from_secs(10));
    }

    /// Trial finding 11: an interrupt ends a wait at once, long before its timeout (an approval
    /// wait of an hour), with the last status read.
    #[tokio::test(start_paused = true)]
    async fn an_interrupt_ends_a_long_wait_at_once() {
        let cloud = Cloud::with(&["p"], &["p"]);
        cloud.set("p", PlanStatus::ApplicationInProgress);
        let board = Board::default();
        let schedule = Schedule {
            initial: Duration::from_millis(50),
            max: Duration::from_secs(5),
        };
        let interrupt = Interrupt::default();
        let start = Instant::now();
        let stop = interrupt.clone();
        let (waited, ()) = tokio::join!(
            watch_plan(
                &board,
                cloud.as_ref(),
                "p",
                schedule,
                Duration::from_secs(3600),
                &interrupt,
                |l| l.status != PlanStatus::ApplicationInProgress,
                |_| {},
            ),
            async move {
                tokio::time::sleep(Duration::from_secs(100)).await;
                stop.trigger();
            }
        );
        let (l, done) = waited.unwrap();
        assert!(!done);
        assert_eq!(l.status, PlanStatus::ApplicationInProgress);
        assert_eq!(
            start.elapsed(),
            Duration::from_secs(100),
            "ended at the interrupt"
        );
        // Already interrupted: a wait reads once and ends.
        let (_, done) = poll_until(
            schedule,
            Duration::from_secs(3600),
            &interrupt,
            |_, _| async { Ok(()) },
            |_| false,
        )
        .await
        .unwrap();
        assert!(!done);
        assert_eq!(start.elapsed(), Duration::from_secs(100));
    }
}

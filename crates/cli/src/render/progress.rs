//! The live apply display: on a terminal, a spinner per running change under a summary line
//! (indicatif); otherwise one timestamped line per event.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use planform_engine::Event;
use planform_model::Address;

use super::escape::text;
use super::Out;

/// The display of one apply, alive while it runs.
pub enum Live {
    Terminal(TerminalProgress),
    Lines { start: Instant, out: Out },
}

impl Live {
    pub fn new(terminal: bool, total: usize, out: Out) -> Live {
        if terminal {
            Live::Terminal(TerminalProgress::new(total))
        } else {
            Live::Lines {
                start: Instant::now(),
                out,
            }
        }
    }

    pub fn event(&self, e: &Event) {
        match self {
            Live::Terminal(t) => t.event(e),
            Live::Lines { start, out } => out.line(&timestamped(start.elapsed(), e)),
        }
    }
}

/// One event as a line, stamped with the time since apply began.
fn timestamped(elapsed: Duration, e: &Event) -> String {
    let t = elapsed.as_secs();
    let stamp = format!("[{:02}:{:02}]", t / 60, t % 60);
    let line = match e {
        Event::Started { address, action } => format!("{address}: {action}…"),
        Event::Progress { address, message } => format!("{address}: {}", text(message)),
        Event::Finished { address, message } => format!("{address}: done ({})", text(message)),
        Event::Failed { address, message } => format!("{address}: FAILED: {}", text(message)),
        Event::AwaitingApproval { address, plan_id } => {
            format!("{address}: {} awaits approval", text(plan_id))
        }
        Event::Deferred { address, because } => {
            format!("{address}: deferred (waits on {because})")
        }
    };
    format!("{stamp} {line}")
}

/// Progress on a terminal: a line per running change (what it does now, for how long) under a
/// summary line; finished, failed and deferred changes are printed above as they happen.
pub struct TerminalProgress {
    multi: indicatif::MultiProgress,
    summary: indicatif::ProgressBar,
    running: Mutex<BTreeMap<Address, indicatif::ProgressBar>>,
    counts: Mutex<(usize, usize, usize, usize)>,
    total: usize,
}

impl TerminalProgress {
    fn new(total: usize) -> TerminalProgress {
        let multi = indicatif::MultiProgress::new();
        let summary = multi.add(indicatif::ProgressBar::new_spinner());
        summary.set_style(
            indicatif::ProgressStyle::with_template("{spinner} {msg} [{elapsed}]")
                .expect("valid template"),
        );
        summary.enable_steady_tick(Duration::from_millis(120));
        let p = TerminalProgress {
            multi,
            summary,
            running: Mutex::new(BTreeMap::new()),
            counts: Mutex::new((0, 0, 0, 0)),
            total,
        };
        p.refresh();
        p
    }

    fn refresh(&self) {
        let (done, failed, waiting, deferred) =
            *self.counts.lock().unwrap_or_else(|e| e.into_inner());
        let running = self.running.lock().unwrap_or_else(|e| e.into_inner()).len();
        let queued = self
            .total
            .saturating_sub(running + done + failed + waiting + deferred);
        self.summary.set_message(format!(
            "{running} running, {queued} waiting on dependencies, {done}/{} done, {failed} failed, {waiting} awaiting approval, {deferred} deferred",
            self.total
        ));
    }

    fn finish(
        &self,
        address: &Address,
        line: String,
        count: impl FnOnce(&mut (usize, usize, usize, usize)),
    ) {
        if let Some(bar) = self
            .running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(address)
        {
            bar.finish_and_clear();
            self.multi.remove(&bar);
        }
        let _ = self.multi.println(line);
        count(&mut self.counts.lock().unwrap_or_else(|e| e.into_inner()));
        self.refresh();
    }
}

impl Drop for TerminalProgress {
    fn drop(&mut self) {
        self.summary.finish_and_clear();
    }
}

impl TerminalProgress {
    fn event(&self, e: &Event) {
        match e {
            Event::Started { address, action } => {
                let bar = self.multi.add(indicatif::ProgressBar::new_spinner());
                bar.set_style(
                    indicatif::ProgressStyle::with_template(
                        "  {spinner} {prefix}: {msg} ({elapsed})",
                    )
                    .expect("valid template"),
                );
                bar.set_prefix(address.to_string());
                bar.set_message(format!("{action}…"));
                bar.enable_steady_tick(Duration::from_millis(120));
                self.running
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(address.clone(), bar);
                self.refresh();
            }
            Event::Progress { address, message } => {
                if let Some(bar) = self
                    .running
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .get(address)
                {
                    bar.set_message(text(message));
                }
            }
            Event::Finished { address, message } => self.finish(
                address,
                format!("  ✓ {address}: {}", text(message)),
                |c| c.0 += 1,
            ),
            Event::Failed { address, message } => self.finish(
                address,
                format!("  ✗ {address}: {}", text(message)),
                |c| c.1 += 1,
            ),
            Event::AwaitingApproval { address, plan_id } => self.finish(
                address,
                format!("  … {address}: {} awaits approval", text(plan_id)),
                |c| c.2 += 1,
            ),
            Event::Deferred { address, because } => self.finish(
                address,
                format!("  - {address}: deferred (waits on {because})"),
                |c| c.3 += 1,
            ),
        }
    }
}

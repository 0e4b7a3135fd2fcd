//! The commands: load, lock, refresh, diff, render, apply, with exit codes decided here.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use planform_engine::{
    absorb, apply, diff, refresh, ApplyOptions, ChangeSet, DiffOptions, Event, LiveEntry, Observer,
    Outcome, Providers, StateSink,
};
use planform_manifest::{Diagnostics, VarOption};
use planform_model::{
    resolve_unknowns, Address, DesiredState, OutputValue, PlanService, ProviderKind, StateBackend,
};
use planform_sandbox::{Embedded, Settings};
use planform_state::State;

use crate::args::{Cli, Command, Format, SandboxCommand, StateCommand, VarArgs};
use crate::exit;
use crate::render::{self, Style};

pub async fn run(cli: Cli, env: BTreeMap<String, String>, color: bool) -> Result<u8> {
    let dir = cli.dir.clone();
    let style = Style { color };
    match cli.command {
        Command::Validate { vars } => validate(&dir, &vars, &env),
        Command::Fmt { check, paths } => fmt(&dir, check, paths),
        Command::Graph { vars } => {
            let Some(desired) = load(&dir, &vars, &env)? else {
                return Ok(exit::ERROR);
            };
            print!("{}", planform_engine::dot(&desired));
            Ok(exit::OK)
        }
        Command::Plan {
            vars,
            detailed_exitcode,
            targets,
            out,
            cloud_preview,
            refresh_only,
            format,
        } => {
            let code = plan(
                &dir,
                &vars,
                &env,
                detailed_exitcode,
                &targets,
                out.as_deref(),
                refresh_only,
                format,
                &style,
                cloud_preview,
            )
            .await?;
            Ok(code)
        }
        Command::Apply {
            planfile: Some(file),
            vars,
            parallelism,
            format,
            ..
        } => apply_planfile(&dir, &env, &file, &vars, parallelism, format, &style).await,
        Command::Apply {
            planfile: None,
            vars,
            auto_approve,
            parallelism,
            targets,
            format,
        } => {
            run_apply(
                &dir,
                &vars,
                &env,
                auto_approve,
                parallelism,
                &targets,
                false,
                format,
                &style,
            )
            .await
        }
        Command::Drift {
            vars,
            format,
            out,
            ignore,
        } => drift_command(&dir, &vars, &env, format, out.as_deref(), &ignore).await,
        Command::Show { planfile, format } => show(&dir, &env, planfile.as_deref(), format, &style),
        Command::Destroy {
            vars,
            auto_approve,
            parallelism,
            targets,
        } => {
            run_apply(
                &dir,
                &vars,
                &env,
                auto_approve,
                parallelism,
                &targets,
                true,
                Format::Text,
                &style,
            )
            .await
        }
        Command::Output { name, vars, format } => output(&dir, &vars, &env, name, format),
        Command::Import {
            from_tags: true,
            vars,
            ..
        } => import_from_tags(&dir, &vars, &env).await,
        Command::Import {
            address,
            plan_id,
            vars,
            ..
        } => {
            import(
                &dir,
                &vars,
                &env,
                &address.unwrap_or_default(),
                &plan_id.unwrap_or_default(),
            )
            .await
        }
        Command::State { command } => state_command(&dir, &env, command),
        Command::Sandbox {
            command: SandboxCommand::Serve(args),
        } => serve(&dir, &env, args).await,
        Command::Sandbox { command } => sandbox_command(&dir, &env, command),
    }
}

/// The order in which `--var-file` (true) and `--var` (false) appeared on the command line, which
/// clap's derive does not keep; `main` records it from the raw arguments.
pub static VAR_ORDER: std::sync::OnceLock<Vec<bool>> = std::sync::OnceLock::new();

/// Which of the raw arguments are `--var-file` (true) or `--var` (false), in order.
pub fn var_order(args: &[String]) -> Vec<bool> {
    let mut out = Vec::new();
    for a in args {
        if a == "--" {
            break;
        }
        if a == "--var-file" || a.starts_with("--var-file=") {
            out.push(true);
        } else if a == "--var" || a.starts_with("--var=") {
            out.push(false);
        }
    }
    out
}

/// Variables from the command line, in command-line order (later wins), as Terraform takes them.
fn var_options(vars: &VarArgs) -> Vec<VarOption> {
    let mut files = vars.var_files.iter().cloned().map(VarOption::File);
    let mut assigns = vars.vars.iter().cloned().map(VarOption::Assign);
    let mut out = Vec::new();
    for is_file in VAR_ORDER.get().cloned().unwrap_or_default() {
        out.extend(if is_file {
            files.next()
        } else {
            assigns.next()
        });
    }
    out.extend(files);
    out.extend(assigns);
    out
}

fn print_diags(d: &Diagnostics) {
    for x in &d.0 {
        eprintln!(
            "{}{x}",
            if x.severity == planform_manifest::Severity::Error {
                "error: "
            } else {
                ""
            }
        );
    }
}

/// Loads the manifests, printing diagnostics; `None` when they are invalid.
fn load(
    dir: &Path,
    vars: &VarArgs,
    env: &BTreeMap<String, String>,
) -> Result<Option<DesiredState>> {
    match planform_manifest::load(dir, &var_options(vars), env) {
        Ok(l) => {
            print_diags(&l.warnings);
            Ok(Some(l.desired))
        }
        Err(d) => {
            print_diags(&d);
            let n = d.errors().count();
            eprintln!(
                "{n} error{} found; nothing was sent to any cloud.",
                if n == 1 { "" } else { "s" }
            );
            Ok(None)
        }
    }
}

fn validate(dir: &Path, vars: &VarArgs, env: &BTreeMap<String, String>) -> Result<u8> {
    match load(dir, vars, env)? {
        Some(d) => {
            println!(
                "The manifests are valid: {} plan{}, {} output{}.",
                d.plans.len(),
                if d.plans.len() == 1 { "" } else { "s" },
                d.outputs.len(),
                if d.outputs.len() == 1 { "" } else { "s" }
            );
            Ok(exit::OK)
        }
        None => Ok(exit::ERROR),
    }
}

fn fmt(dir: &Path, check: bool, paths: Vec<PathBuf>) -> Result<u8> {
    let roots = if paths.is_empty() {
        vec![dir.to_path_buf()]
    } else {
        paths
    };
    let mut files = Vec::new();
    for p in roots {
        if p.is_dir() {
            let mut entries: Vec<PathBuf> = std::fs::read_dir(&p)
                .with_context(|| format!("cannot read {}", p.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| f.extension().is_some_and(|x| x == "hcl" || x == "pfvars"))
                .collect();
            entries.sort();
            files.extend(entries);
        } else {
            files.push(p);
        }
    }
    let mut changed = Vec::new();
    let mut failed = false;
    for f in files {
        let text =
            std::fs::read_to_string(&f).with_context(|| format!("cannot read {}", f.display()))?;
        match planform_manifest::format_source(&text) {
            Ok(out) if out != text => {
                if !check {
                    write_atomic(&f, &out)?;
                }
                println!("{}", f.display());
                changed.push(f);
            }
            Ok(_) => {}
            Err(e) => {
                eprintln!("error: {}: {e}", f.display());
                failed = true;
            }
        }
    }
    if failed {
        return Ok(exit::ERROR);
    }
    if check && !changed.is_empty() {
        eprintln!(
            "{} file{} would be reformatted; run `planform fmt`.",
            changed.len(),
            if changed.len() == 1 { "" } else { "s" }
        );
        return Ok(exit::PENDING);
    }
    Ok(exit::OK)
}

fn write_atomic(path: &Path, text: &str) -> Result<()> {
    let tmp = path.with_extension("fmt-tmp");
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

fn state_path(dir: &Path, desired: Option<&DesiredState>) -> PathBuf {
    let p = match desired.map(|d| &d.backend) {
        Some(StateBackend::Local { path }) => path.clone(),
        None => ".planform/state.json".into(),
    };
    dir.join(p)
}

fn parse_duration(s: &str) -> Result<Duration> {
    planform_manifest::parse_duration(s)
        .ok_or_else(|| anyhow!("{s:?} is not a duration such as 30s or 2m"))
}

fn load_state(path: &Path, workspace: &str) -> Result<State> {
    Ok(match planform_state::load(path)? {
        Some(s) => {
            if s.workspace != workspace {
                bail!(
                    "the state at {} belongs to workspace {:?}, the manifests say {:?}",
                    path.display(),
                    s.workspace,
                    workspace
                );
            }
            s
        }
        None => State::new(workspace, planform_state::new_lineage()),
    })
}

/// The embedded sandbox's timings; `PLANFORM_SANDBOX_PREVIEW_MS` / `_EXECUTE_MS` override them.
fn sandbox_settings(env: &BTreeMap<String, String>) -> Settings {
    let mut s = Settings::default();
    if let Some(v) = env
        .get("PLANFORM_SANDBOX_PREVIEW_MS")
        .and_then(|v| v.parse().ok())
    {
        s.preview_ms = v;
    }
    if let Some(v) = env
        .get("PLANFORM_SANDBOX_EXECUTE_MS")
        .and_then(|v| v.parse().ok())
    {
        s.execute_ms = v;
    }
    s
}

/// Builds a service per provider configuration the manifests and state use.
async fn providers(
    dir: &Path,
    desired: &DesiredState,
    state: &State,
    env: &BTreeMap<String, String>,
) -> Result<Providers> {
    let mut refs: BTreeSet<planform_model::ProviderRef> =
        desired.plans.values().map(|p| p.provider.clone()).collect();
    refs.extend(state.plans.values().map(|m| m.provider.clone()));
    let mut out: Providers = BTreeMap::new();
    let mut sandbox: Option<Arc<dyn PlanService>> = None;
    for r in refs {
        match r.kind {
            ProviderKind::Sandbox => {
                if sandbox.is_none() {
                    let data = dir.join(".planform/sandbox");
                    let e = Embedded::open(&data, sandbox_settings(env)).map_err(|e| {
                        anyhow!("cannot open the sandbox in {}: {e}", data.display())
                    })?;
                    sandbox = Some(Arc::new(e));
                }
                out.insert(r, sandbox.clone().expect("opened above"));
            }
            ProviderKind::Alibaba => {
                let cfg = desired.providers.get(&r).ok_or_else(|| {
                    anyhow!("provider {r} is used by the state but not configured in the manifests")
                })?;
                let region = cfg
                    .region
                    .clone()
                    .or_else(|| env.get("ALIBABA_CLOUD_REGION").cloned())
                    .unwrap_or_default();
                if region.is_empty()
                    && cfg.endpoint.is_none()
                    && !env.contains_key("ALIBABA_CLOUD_ENDPOINT_SERVICECATALOG")
                {
                    bail!("provider {r}: set region (or endpoint)");
                }
                let mut options =
                    planform_client::AlibabaOptions::resolve(&region, cfg.endpoint.as_deref(), env);
                if let Some(n) = cfg.max_retries {
                    options.retry.max_attempts = n + 1;
                }
                options.requests_per_second = cfg.requests_per_second;
                if let Some(t) = cfg.timeout {
                    options.timeout = t;
                }
                let credentials =
                    planform_client::credentials::resolve(env, cfg.profile.as_deref())
                        .map_err(|e| anyhow!("provider {r}: {e}"))?;
                let client = planform_client::AlibabaClient::new(options, credentials)
                    .map_err(|e| anyhow!("provider {r}: {e}"))?;
                out.insert(r, Arc::new(client));
            }
            ProviderKind::Aws => {
                let cfg = desired.providers.get(&r).ok_or_else(|| {
                    anyhow!("provider {r} is used by the state but not configured in the manifests")
                })?;
                let options = planform_client::AwsOptions {
                    region: cfg.region.clone(),
                    profile: cfg.profile.clone(),
                    endpoint: cfg.endpoint.clone(),
                    max_attempts: cfg.max_retries.map(|n| n + 1),
                    requests_per_second: cfg.requests_per_second,
                    timeout: cfg.timeout,
                };
                out.insert(r, Arc::new(planform_client::AwsClient::new(options).await));
            }
        }
    }
    Ok(out)
}

fn targets(list: &[String]) -> Result<Vec<Address>> {
    list.iter()
        .map(|t| t.parse::<Address>().map_err(|e| anyhow!("--target: {e}")))
        .collect()
}

struct Prepared {
    desired: DesiredState,
    state: State,
    state_path: PathBuf,
    providers: Providers,
    changes: ChangeSet,
    live: planform_engine::LiveSnapshot,
    _lock: planform_state::StateLock,
}

async fn prepare(
    dir: &Path,
    vars: &VarArgs,
    env: &BTreeMap<String, String>,
    command: &str,
    target_list: &[String],
    destroy: bool,
) -> Result<Option<Prepared>> {
    let Some(desired) = load(dir, vars, env)? else {
        return Ok(None);
    };
    let path = state_path(dir, Some(&desired));
    let lock = planform_state::lock(
        &path,
        command,
        Duration::from_secs(60),
        parse_duration(&vars.lock_timeout)?,
    )?;
    let state = load_state(&path, &desired.workspace)?;
    let providers = providers(dir, &desired, &state, env).await?;
    let (live, _stats) = refresh(&desired, &state, &providers).await?;
    let state = absorb(&state, &live);
    let options = DiffOptions {
        destroy,
        targets: targets(target_list)?,
        capabilities: planform_engine::capabilities(&providers),
    };
    let changes = match diff(&desired, &state, &live, &options) {
        Ok(c) => c,
        Err(errors) => {
            for e in &errors {
                eprintln!("error: {e}");
            }
            return Ok(None);
        }
    };
    Ok(Some(Prepared {
        desired,
        state,
        state_path: path,
        providers,
        changes,
        live,
        _lock: lock,
    }))
}

#[allow(clippy::too_many_arguments)]
async fn plan(
    dir: &Path,
    vars: &VarArgs,
    env: &BTreeMap<String, String>,
    detailed: bool,
    target_list: &[String],
    out: Option<&Path>,
    refresh_only: bool,
    format: Format,
    style: &Style,
    cloud_preview: bool,
) -> Result<u8> {
    let Some(p) = prepare(dir, vars, env, "plan", target_list, false).await? else {
        return Ok(exit::ERROR);
    };
    if let Some(out) = out {
        let fingerprints =
            planform_engine::fingerprints(&p.live, p.changes.changes.iter().map(|c| &c.address));
        let state_path = match &p.desired.backend {
            StateBackend::Local { path } => path.clone(),
        };
        crate::planfile::write(
            out,
            &crate::planfile::PlanFile {
                workspace: p.desired.workspace.clone(),
                state_path,
                lineage: p.state.lineage.clone(),
                serial: p.state.serial,
                changes: p.changes.clone(),
                fingerprints,
                providers: p.desired.providers.values().cloned().collect(),
            },
        )?;
        eprintln!(
            "Saved the plan to {}; `planform apply {}` runs exactly these changes.",
            out.display(),
            out.display()
        );
    }
    if refresh_only {
        // Compare with the state as stored (the prepared state already holds what refresh saw).
        let stored = planform_state::load(&p.state_path)?.unwrap_or_default();
        let mut drifted = 0;
        for (a, e) in &p.live.plans {
            match e {
                LiveEntry::Gone => {
                    drifted += 1;
                    println!("  # {a} was deleted outside planform");
                }
                LiveEntry::Present(l) => {
                    let known = stored.plans.get(a).map(|m| m.status.clone());
                    if known.as_deref().is_some_and(|k| k != l.raw_status) {
                        drifted += 1;
                        println!(
                            "  # {a} status changed outside planform: {} -> {}",
                            known.unwrap_or_default(),
                            l.raw_status
                        );
                    }
                }
            }
        }
        if drifted == 0 {
            println!("No changes. The state matches the cloud.");
        }
        return Ok(if detailed && drifted > 0 {
            exit::CHANGES
        } else {
            exit::OK
        });
    }
    match format {
        Format::Text => print!("{}", render::text(&p.changes, style)),
        Format::Json => print!("{}", render::json_lines(&p.changes)),
        Format::Markdown => print!("{}", render::markdown(&p.changes)),
    }
    if cloud_preview && !p.changes.is_empty() {
        let code = cloud_preview_run(&p, format == Format::Json).await?;
        if code != exit::OK {
            return Ok(code);
        }
    }
    let blocked = p
        .changes
        .changes
        .iter()
        .any(|c| matches!(c.action, planform_engine::Action::Blocked { .. }));
    if blocked {
        return Ok(exit::ERROR);
    }
    Ok(if detailed && !p.changes.is_empty() {
        exit::CHANGES
    } else {
        exit::OK
    })
}

struct FileSink(PathBuf);

impl StateSink for FileSink {
    fn save(&self, state: &State) -> Result<(), planform_state::StateError> {
        planform_state::save(&self.0, state)
    }
}

struct Progress {
    start: Instant,
    json: bool,
}

/// Progress on a terminal: a line per running change (what it does now, for how long) under a
/// summary line; finished, failed and deferred changes are printed above as they happen.
struct TerminalProgress {
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

impl Observer for TerminalProgress {
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
                    bar.set_message(message.clone());
                }
            }
            Event::Finished { address, message } => {
                self.finish(address, format!("  ✓ {address}: {message}"), |c| c.0 += 1)
            }
            Event::Failed { address, message } => {
                self.finish(address, format!("  ✗ {address}: {message}"), |c| c.1 += 1)
            }
            Event::AwaitingApproval { address, plan_id } => self.finish(
                address,
                format!("  … {address}: {plan_id} awaits approval"),
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

impl Observer for Progress {
    fn event(&self, e: &Event) {
        let t = self.start.elapsed().as_secs();
        let stamp = format!("[{:02}:{:02}]", t / 60, t % 60);
        if self.json {
            let v = match e {
                Event::Started { address, action } => {
                    serde_json::json!({"type": "apply_start", "address": address.to_string(), "action": action})
                }
                Event::Progress { address, message } => {
                    serde_json::json!({"type": "apply_progress", "address": address.to_string(), "message": message})
                }
                Event::Finished { address, message } => {
                    serde_json::json!({"type": "apply_complete", "address": address.to_string(), "message": message})
                }
                Event::Failed { address, message } => {
                    serde_json::json!({"type": "apply_errored", "address": address.to_string(), "message": message})
                }
                Event::AwaitingApproval { address, plan_id } => {
                    serde_json::json!({"type": "awaiting_approval", "address": address.to_string(), "plan_id": plan_id})
                }
                Event::Deferred { address, because } => {
                    serde_json::json!({"type": "deferred", "address": address.to_string(), "because": because.to_string()})
                }
            };
            println!("{v}");
            return;
        }
        let line = match e {
            Event::Started { address, action } => format!("{address}: {action}…"),
            Event::Progress { address, message } => format!("{address}: {message}"),
            Event::Finished { address, message } => format!("{address}: done ({message})"),
            Event::Failed { address, message } => format!("{address}: FAILED: {message}"),
            Event::AwaitingApproval { address, plan_id } => {
                format!("{address}: {plan_id} awaits approval")
            }
            Event::Deferred { address, because } => {
                format!("{address}: deferred (waits on {because})")
            }
        };
        println!("{stamp} {line}");
    }
}

fn confirm(what: &str) -> Result<bool> {
    if !std::io::stdin().is_terminal() {
        bail!("{what} needs confirmation: there is no terminal to ask on, so pass --auto-approve");
    }
    print!("Do you want to perform these actions? Only 'yes' will be accepted.\n  Enter a value: ");
    std::io::stdout().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim() == "yes")
}

#[allow(clippy::too_many_arguments)]
async fn run_apply(
    dir: &Path,
    vars: &VarArgs,
    env: &BTreeMap<String, String>,
    auto_approve: bool,
    parallelism: usize,
    target_list: &[String],
    destroy: bool,
    format: Format,
    style: &Style,
) -> Result<u8> {
    let command = if destroy { "destroy" } else { "apply" };
    let Some(p) = prepare(dir, vars, env, command, target_list, destroy).await? else {
        return Ok(exit::ERROR);
    };
    let json = format == Format::Json;
    if json {
        print!("{}", render::json_lines(&p.changes));
    } else {
        print!("{}", render::text(&p.changes, style));
    }
    if !p.changes.is_empty() && !auto_approve && !confirm(command)? {
        println!("{command} cancelled.");
        return Ok(exit::ERROR);
    }
    execute(
        &p.changes,
        p.state,
        &p.state_path,
        &p.providers,
        Some(&p.desired),
        parallelism,
        destroy,
        json,
        style,
    )
    .await
}

/// Carries out a change set and reports; the exit code of `apply` / `destroy`.
#[allow(clippy::too_many_arguments)]
async fn execute(
    changes: &ChangeSet,
    state: State,
    state_path: &Path,
    providers: &Providers,
    desired: Option<&DesiredState>,
    parallelism: usize,
    destroy: bool,
    json: bool,
    style: &Style,
) -> Result<u8> {
    let sink: Arc<dyn StateSink> = Arc::new(FileSink(state_path.to_path_buf()));
    if changes.is_empty() {
        // Still record what the refresh learnt (adopted plans, outputs).
        if state != planform_state::load(state_path)?.unwrap_or_default() && !state.plans.is_empty()
        {
            sink.save(&state).map_err(|e| anyhow!(e))?;
        }
        if let Some(d) = desired {
            print_outputs(d, &state, style);
        }
        return Ok(exit::OK);
    }
    let interrupt = Arc::new(AtomicBool::new(false));
    {
        let flag = interrupt.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                eprintln!(
                    "Interrupt received: letting running operations finish, then saving the state."
                );
                flag.store(true, Ordering::SeqCst);
            }
        });
    }
    let workspace = state.workspace.clone();
    let options = ApplyOptions {
        parallelism,
        workspace,
        interrupt,
        ..ApplyOptions::default()
    };
    let observer: Arc<dyn Observer> = if !json && std::io::stdout().is_terminal() {
        Arc::new(TerminalProgress::new(changes.changes.len()))
    } else {
        Arc::new(Progress {
            start: Instant::now(),
            json,
        })
    };
    let (state, report) = apply(changes, state, providers, sink, observer, &options).await?;
    for e in &report.state_errors {
        eprintln!("error: saving the state failed: {e}");
    }
    let failed: Vec<_> = report.failed().collect();
    let awaiting: Vec<_> = report.awaiting().collect();
    let deferred = report
        .results
        .iter()
        .filter(|(_, o)| matches!(o, Outcome::Deferred { .. }))
        .count();
    let done = report
        .results
        .iter()
        .filter(|(_, o)| matches!(o, Outcome::Done(_)))
        .count();
    if json {
        println!(
            "{}",
            serde_json::json!({"type": "apply_summary", "done": done, "failed": failed.len(), "awaiting_approval": awaiting.len(), "deferred": deferred})
        );
    } else {
        println!();
        for (a, m) in &failed {
            println!("{} {a}: {m}", style.bold("Error:"));
        }
        for (a, id) in &awaiting {
            println!("Awaiting approval: {a} ({id}); approve it, then run `planform apply` again.");
        }
        let word = if destroy { "Destroy" } else { "Apply" };
        let status = if failed.is_empty() && awaiting.is_empty() && !report.interrupted() {
            "complete!"
        } else {
            "stopped."
        };
        println!(
            "{} {done} done, {} failed, {} awaiting approval, {deferred} deferred.",
            style.bold(&format!("{word} {status}")),
            failed.len(),
            awaiting.len()
        );
        if let (false, Some(d)) = (destroy, desired) {
            print_outputs(d, &state, style);
        }
    }
    if !failed.is_empty() || report.interrupted() || !report.state_errors.is_empty() {
        return Ok(exit::ERROR);
    }
    if !awaiting.is_empty() {
        return Ok(exit::PENDING);
    }
    Ok(exit::OK)
}

async fn apply_planfile(
    dir: &Path,
    env: &BTreeMap<String, String>,
    file: &Path,
    vars: &VarArgs,
    parallelism: usize,
    format: Format,
    style: &Style,
) -> Result<u8> {
    let pf = crate::planfile::read(file)?;
    let path = dir.join(&pf.state_path);
    let _lock = planform_state::lock(
        &path,
        "apply",
        Duration::from_secs(60),
        parse_duration(&vars.lock_timeout)?,
    )?;
    let state = match planform_state::load(&path)? {
        Some(s) if s.lineage != pf.lineage => bail!("{} is stale: it was made for another state (lineage {}, the state has {}); run `planform plan` again", file.display(), pf.lineage, s.lineage),
        Some(s) if s.serial != pf.serial => bail!("{} is stale: the state changed since it was made (serial {} -> {}); run `planform plan` again", file.display(), pf.serial, s.serial),
        Some(s) => s,
        None if pf.serial == 0 => State::new(&pf.workspace, pf.lineage.clone()),
        None => bail!("{} is stale: it was made from a state that no longer exists at {}", file.display(), path.display()),
    };
    // The desired state the refresh needs: providers and the plans the change set creates.
    let mut desired = DesiredState {
        workspace: pf.workspace.clone(),
        ..DesiredState::default()
    };
    for c in &pf.providers {
        desired.providers.insert(c.reference.clone(), c.clone());
    }
    for c in pf.changes.changes.iter().filter(|c| c.after.is_some()) {
        desired.plans.insert(
            c.address.clone(),
            planform_model::DesiredPlan {
                address: c.address.clone(),
                provider: c.provider.clone(),
                inputs: c.after.clone().expect("filtered"),
                sensitive_parameters: c.sensitive_parameters.clone(),
                execute: c.action.executes(),
                depends_on: c.depends_on.clone(),
                prevent_destroy: false,
                ignore_changes: vec![],
                timeouts: c.timeouts,
                location: Default::default(),
            },
        );
    }
    let providers = providers(dir, &desired, &state, env).await?;
    let (live, _) = refresh(&desired, &state, &providers).await?;
    let now = planform_engine::fingerprints(&live, pf.fingerprints.keys());
    let moved = planform_engine::staleness(&pf.fingerprints, &now);
    if !moved.is_empty() {
        eprintln!(
            "error: {} is stale: the cloud changed since it was made:",
            file.display()
        );
        for m in moved {
            eprintln!("  {m}");
        }
        eprintln!("Run `planform plan` again.");
        return Ok(exit::ERROR);
    }
    let state = absorb(&state, &live);
    let json = format == Format::Json;
    if json {
        print!("{}", render::json_lines(&pf.changes));
    } else {
        print!("{}", render::text(&pf.changes, style));
    }
    execute(
        &pf.changes,
        state,
        &path,
        &providers,
        None,
        parallelism,
        false,
        json,
        style,
    )
    .await
}

fn show(
    dir: &Path,
    env: &BTreeMap<String, String>,
    planfile: Option<&Path>,
    format: Format,
    style: &Style,
) -> Result<u8> {
    if let Some(f) = planfile {
        let pf = crate::planfile::read(f)?;
        match format {
            Format::Json => print!("{}", render::json_lines(&pf.changes)),
            Format::Markdown => print!("{}", render::markdown(&pf.changes)),
            Format::Text => print!("{}", render::text(&pf.changes, style)),
        }
        return Ok(exit::OK);
    }
    let desired = planform_manifest::load(dir, &[], env)
        .ok()
        .map(|l| l.desired);
    let state = planform_state::load(&state_path(dir, desired.as_ref()))?.unwrap_or_default();
    if state.plans.is_empty() {
        println!("The state is empty.");
    }
    for (a, m) in &state.plans {
        match format {
            Format::Json => println!(
                "{}",
                serde_json::json!({"address": a.to_string(), "provider": m.provider.to_string(), "plan_id": m.plan_id, "status": m.status, "provisioned_product_id": m.provisioned_product_id, "outputs": m.outputs})
            ),
            _ => println!("{a}  {}  {}  {}", m.provider, m.plan_id, m.status),
        }
    }
    Ok(exit::OK)
}

fn resolve_output(v: &OutputValue, state: &State) -> serde_json::Value {
    let empty = BTreeSet::new();
    match v {
        OutputValue::Null => serde_json::Value::Null,
        OutputValue::Bool(b) => (*b).into(),
        OutputValue::Number(n) => serde_json::json!(n),
        OutputValue::String(s) => {
            let probe = planform_model::PlanInputs {
                description: Some(s.clone()),
                ..Default::default()
            };
            let r = planform_engine::resolve_inputs(&probe, state, &empty)
                .description
                .unwrap_or_default();
            if planform_model::is_known(&r) {
                r.into()
            } else {
                resolve_unknowns(&r, |_| Some("(known after apply)".into())).into()
            }
        }
        OutputValue::List(l) => l
            .iter()
            .map(|x| resolve_output(x, state))
            .collect::<Vec<_>>()
            .into(),
        OutputValue::Map(m) => serde_json::Value::Object(
            m.iter()
                .map(|(k, x)| (k.clone(), resolve_output(x, state)))
                .collect(),
        ),
    }
}

fn print_outputs(desired: &DesiredState, state: &State, style: &Style) {
    if desired.outputs.is_empty() {
        return;
    }
    println!("\n{}", style.bold("Outputs:"));
    for (name, o) in &desired.outputs {
        let v = if o.sensitive {
            "(sensitive value)".to_string()
        } else {
            resolve_output(&o.value, state).to_string()
        };
        println!("{name} = {v}");
    }
}

fn output(
    dir: &Path,
    vars: &VarArgs,
    env: &BTreeMap<String, String>,
    name: Option<String>,
    format: Format,
) -> Result<u8> {
    let Some(desired) = load(dir, vars, env)? else {
        return Ok(exit::ERROR);
    };
    let state = planform_state::load(&state_path(dir, Some(&desired)))?.unwrap_or_default();
    let values: BTreeMap<&String, (serde_json::Value, bool)> = desired
        .outputs
        .iter()
        .map(|(n, o)| (n, (resolve_output(&o.value, &state), o.sensitive)))
        .collect();
    if let Some(n) = name {
        let Some((v, _)) = values.get(&n) else {
            bail!(
                "no output named {n:?}; outputs: {}",
                values
                    .keys()
                    .map(|k| k.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        };
        match v {
            serde_json::Value::String(s) if format == Format::Text => println!("{s}"),
            v => println!("{v}"),
        }
        return Ok(exit::OK);
    }
    match format {
        Format::Json => {
            let obj: serde_json::Map<String, serde_json::Value> = values
                .iter()
                .map(|(k, (v, s))| {
                    (
                        k.to_string(),
                        serde_json::json!({"value": v, "sensitive": s}),
                    )
                })
                .collect();
            println!("{}", serde_json::Value::Object(obj));
        }
        _ => {
            for (k, (v, s)) in values {
                println!(
                    "{k} = {}",
                    if s {
                        "(sensitive value)".to_string()
                    } else {
                        v.to_string()
                    }
                );
            }
        }
    }
    Ok(exit::OK)
}

async fn import(
    dir: &Path,
    vars: &VarArgs,
    env: &BTreeMap<String, String>,
    address: &str,
    plan_id: &str,
) -> Result<u8> {
    let Some(desired) = load(dir, vars, env)? else {
        return Ok(exit::ERROR);
    };
    let address: Address = address.parse()?;
    let Some(d) = desired.plans.get(&address) else {
        bail!("{address} is not in the manifests; add its plan block first");
    };
    let path = state_path(dir, Some(&desired));
    let _lock = planform_state::lock(
        &path,
        "import",
        Duration::from_secs(60),
        parse_duration(&vars.lock_timeout)?,
    )?;
    let mut state = load_state(&path, &desired.workspace)?;
    if let Some(m) = state.plans.get(&address) {
        bail!(
            "{address} is already managed (plan {}); `planform state rm` it first",
            m.plan_id
        );
    }
    let providers = providers(dir, &desired, &state, env).await?;
    let service = providers
        .get(&d.provider)
        .ok_or_else(|| anyhow!("provider {} is not configured", d.provider))?;
    let l = service
        .get_plan(plan_id)
        .await
        .map_err(|e| anyhow!("{plan_id}: {e}"))?;
    let mut outputs = BTreeMap::new();
    if let (planform_model::PlanStatus::ExecuteSuccess, Some(pp)) =
        (l.status, &l.provisioned_product_id)
    {
        outputs = service
            .provisioned_product(pp)
            .await
            .map(|p| p.outputs)
            .unwrap_or_default();
    }
    let mut managed = planform_state::ManagedPlan::new(d.provider.clone(), l.id.clone());
    managed.provisioned_product_id = l.provisioned_product_id.clone();
    managed.stack_id = l.stack_id.clone();
    managed.status = l.raw_status.clone();
    managed.sensitive_parameters = d.sensitive_parameters.clone();
    managed.launched = l.status == planform_model::PlanStatus::ExecuteSuccess;
    managed.outputs = outputs;
    managed.depends_on = d.depends_on.clone();
    state.plans.insert(address.clone(), managed);
    state.serial += 1;
    planform_state::save(&path, &state)?;
    println!("Imported {plan_id} as {address}. Run `planform plan` to see how it differs from the manifests.");
    Ok(exit::OK)
}

fn state_command(dir: &Path, env: &BTreeMap<String, String>, command: StateCommand) -> Result<u8> {
    let desired = planform_manifest::load(dir, &[], env)
        .ok()
        .map(|l| l.desired);
    let path = state_path(dir, desired.as_ref());
    match command {
        StateCommand::List => {
            for a in planform_state::load(&path)?
                .unwrap_or_default()
                .plans
                .keys()
            {
                println!("{a}");
            }
        }
        StateCommand::Show { address } => {
            let address: Address = address.parse()?;
            let state = planform_state::load(&path)?.unwrap_or_default();
            let m = state
                .plans
                .get(&address)
                .ok_or_else(|| anyhow!("{address} is not in the state"))?;
            println!("# {address}");
            println!("provider               = {}", m.provider);
            println!("plan_id                = {:?}", m.plan_id);
            println!("status                 = {:?}", m.status);
            if let Some(pp) = &m.provisioned_product_id {
                println!("provisioned_product_id = {pp:?}");
            }
            if let Some(s) = &m.stack_id {
                println!("stack_id               = {s:?}");
            }
            if let Some(a) = &m.applied {
                println!("product_version_id     = {:?}", a.product_version_id);
                for (k, v) in &a.parameters {
                    let shown = if m.sensitive_parameters.contains(k) {
                        "(sensitive value)".to_string()
                    } else {
                        format!("{v:?}")
                    };
                    println!("parameters[{k:?}] = {shown}");
                }
            }
            for (k, v) in &m.outputs {
                println!("outputs[{k:?}] = {v:?}");
            }
            if !m.history.is_empty() {
                println!("history                = {:?}", m.history);
            }
        }
        StateCommand::Rm { addresses } => {
            let _lock =
                planform_state::lock(&path, "state rm", Duration::from_secs(60), Duration::ZERO)?;
            let mut state = planform_state::load(&path)?
                .ok_or_else(|| anyhow!("there is no state at {}", path.display()))?;
            for a in addresses {
                let a: Address = a.parse()?;
                if state.plans.remove(&a).is_none() {
                    bail!("{a} is not in the state; nothing was removed");
                }
                println!("Removed {a} (the cloud plan is left as it is)");
            }
            state.serial += 1;
            planform_state::save(&path, &state)?;
        }
        StateCommand::Mv { from, to } => {
            let _lock =
                planform_state::lock(&path, "state mv", Duration::from_secs(60), Duration::ZERO)?;
            let mut state = planform_state::load(&path)?
                .ok_or_else(|| anyhow!("there is no state at {}", path.display()))?;
            let (from, to): (Address, Address) = (from.parse()?, to.parse()?);
            if state.plans.contains_key(&to) {
                bail!("{to} is already in the state");
            }
            let m = state
                .plans
                .remove(&from)
                .ok_or_else(|| anyhow!("{from} is not in the state"))?;
            state.plans.insert(to.clone(), m);
            state.serial += 1;
            planform_state::save(&path, &state)?;
            println!("Moved {from} to {to}");
        }
        StateCommand::Unlock { force } => match planform_state::unlock(&path, force)? {
            Some(held) => println!(
                "Removed the lock held by pid {} on {} ({})",
                held.pid, held.host, held.command
            ),
            None => println!("The state is not locked."),
        },
    }
    Ok(exit::OK)
}

fn sandbox_command(
    dir: &Path,
    env: &BTreeMap<String, String>,
    command: SandboxCommand,
) -> Result<u8> {
    let data = dir.join(".planform/sandbox");
    let e = Embedded::open(&data, sandbox_settings(env))
        .map_err(|e| anyhow!("cannot open the sandbox in {}: {e}", data.display()))?;
    let mut sb = e
        .sandbox
        .lock()
        .map_err(|_| anyhow!("sandbox lock poisoned"))?;
    let (id, action, comment) = match &command {
        SandboxCommand::Approve { plan_id, comment } => (plan_id, "Approve", comment),
        SandboxCommand::Reject { plan_id, comment } => (plan_id, "Reject", comment),
        SandboxCommand::Serve(_) => unreachable!("handled in run"),
    };
    let p = sb
        .approve_plan(id, action, comment, "RamUser:sandbox-admin")
        .map_err(|e| anyhow!("{e}"))?;
    println!("{} is now {}", p.id, p.status);
    Ok(exit::OK)
}

async fn serve(
    dir: &Path,
    env: &BTreeMap<String, String>,
    args: crate::args::ServeArgs,
) -> Result<u8> {
    use planform_sandbox::server::{AccessKey, ServerConfig};
    let crate::args::ServeArgs {
        listen,
        data,
        catalog,
        access_keys,
        latency_ms,
        preview_ms,
        execute_ms,
        fail_rate,
        throttle_rps,
    } = args;
    if !(0.0..=1.0).contains(&fail_rate) {
        bail!("--fail-rate must be from 0 to 1, got {fail_rate}");
    }
    if throttle_rps.is_some_and(|r| r <= 0.0) {
        bail!("--throttle-rps must be above 0");
    }
    let mut keys = Vec::new();
    for k in &access_keys {
        keys.push(AccessKey::parse(k).ok_or_else(|| {
            anyhow!(
                "--access-key {:?}: expected ID:SECRET or ID:SECRET:TOKEN",
                k.split(':').next().unwrap_or("")
            )
        })?);
    }
    if keys.is_empty() {
        let seed = planform_state::new_lineage().replace('-', "");
        let key = AccessKey {
            id: format!("LTAIsbx{}", &seed[..16]),
            secret: seed[16..].to_string(),
            token: None,
        };
        println!("access key: {}:{}", key.id, key.secret);
        keys.push(key);
    }
    let catalog = match catalog {
        Some(f) => planform_sandbox::Catalog::from_json(
            &std::fs::read_to_string(&f).with_context(|| format!("cannot read {}", f.display()))?,
        )
        .map_err(|e| anyhow!("{}: {e}", f.display()))?,
        None => planform_sandbox::Catalog::demo(),
    };
    let mut settings = sandbox_settings(env);
    if let Some(ms) = preview_ms {
        settings.preview_ms = ms;
    }
    if let Some(ms) = execute_ms {
        settings.execute_ms = ms;
    }
    let data = data.unwrap_or_else(|| dir.join(".planform/sandbox"));
    let store = planform_sandbox::store::Store::open(&data.join("sandbox.redb"))
        .map_err(|e| anyhow!("{e}"))?;
    let sandbox = planform_sandbox::Sandbox::new(
        catalog,
        settings,
        Arc::new(planform_sandbox::SystemClock),
        store,
    )
    .map_err(|e| anyhow!("{e}"))?;
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    println!("listening on http://{}", listener.local_addr()?);
    std::io::stdout().flush()?;
    let config = ServerConfig {
        keys,
        latency: Duration::from_millis(latency_ms),
        fail_rate,
        throttle_rps,
        ..ServerConfig::default()
    };
    let server =
        planform_sandbox::server::serve(listener, Arc::new(std::sync::Mutex::new(sandbox)), config);
    tokio::select! {
        r = server => r.context("the server stopped")?,
        _ = tokio::signal::ctrl_c() => println!("stopped"),
    }
    Ok(exit::OK)
}

async fn drift_command(
    dir: &Path,
    vars: &VarArgs,
    env: &BTreeMap<String, String>,
    format: Format,
    out: Option<&Path>,
    ignore: &[String],
) -> Result<u8> {
    // Read-only by construction: no lock taken, nothing written but the report.
    let Some(desired) = load(dir, vars, env)? else {
        return Ok(exit::ERROR);
    };
    let path = state_path(dir, Some(&desired));
    let state = match planform_state::load(&path)? {
        Some(s) => s,
        None => State::new(&desired.workspace, String::new()),
    };
    let providers = providers(dir, &desired, &state, env).await?;
    let (live, _) = refresh(&desired, &state, &providers).await?;
    let mut products = planform_engine::Products::new();
    for (address, m) in state.plans.iter().filter(|(_, m)| m.launched) {
        let (Some(LiveEntry::Present(_)), Some(pp), Some(service)) = (
            live.plans.get(address),
            &m.provisioned_product_id,
            providers.get(&m.provider),
        ) else {
            continue;
        };
        match service.provisioned_product(pp).await {
            Ok(p) => {
                products.insert(address.clone(), Some(p));
            }
            Err(e) if e.kind == planform_model::ErrorKind::NotFound => {
                products.insert(address.clone(), None);
            }
            Err(e) => bail!("{address}: reading product {pp}: {e}"),
        }
    }
    let items = planform_engine::drift(&desired, &state, &live, &products, ignore);
    let report = match format {
        Format::Text => render::drift_text(&items),
        Format::Json => render::drift_json(&items),
        Format::Markdown => render::drift_markdown(&items, &desired.workspace),
    };
    match out {
        Some(f) => {
            std::fs::write(f, &report).with_context(|| format!("cannot write {}", f.display()))?;
            eprintln!(
                "{} drift item{} written to {}",
                items.len(),
                if items.len() == 1 { "" } else { "s" },
                f.display()
            );
        }
        None => print!("{report}"),
    }
    Ok(if items.is_empty() {
        exit::OK
    } else {
        exit::CHANGES
    })
}

async fn import_from_tags(
    dir: &Path,
    vars: &VarArgs,
    env: &BTreeMap<String, String>,
) -> Result<u8> {
    let Some(desired) = load(dir, vars, env)? else {
        return Ok(exit::ERROR);
    };
    let path = state_path(dir, Some(&desired));
    let _lock = planform_state::lock(
        &path,
        "import --from-tags",
        Duration::from_secs(60),
        parse_duration(&vars.lock_timeout)?,
    )?;
    let state = load_state(&path, &desired.workspace)?;
    let providers = providers(dir, &desired, &state, env).await?;
    let (live, _) = refresh(&desired, &state, &providers).await?;
    let mut adopted = absorb(&state, &live);
    let new: Vec<&Address> = adopted
        .plans
        .keys()
        .filter(|a| !state.plans.contains_key(*a))
        .collect();
    for a in &new {
        println!("Imported {a} ({})", adopted.plans[*a].plan_id);
    }
    if new.is_empty() {
        println!("Nothing to import: no plan carries this workspace's ownership tags for an unmanaged address.");
        return Ok(exit::OK);
    }
    let n = new.len();
    adopted.serial += 1;
    planform_state::save(&path, &adopted)?;
    println!(
        "{n} plan{} imported. Run `planform plan` to see how they differ from the manifests.",
        if n == 1 { "" } else { "s" }
    );
    Ok(exit::OK)
}

/// `plan --cloud-preview`: creates or updates the cloud plans without executing them, waits for
/// their previews, and shows the cloud's ResourceChanges; the next `apply` executes those plans.
async fn cloud_preview_run(p: &Prepared, json: bool) -> Result<u8> {
    use planform_engine::Action;
    let mut preview = ChangeSet {
        changes: vec![],
        moved: p.changes.moved.clone(),
    };
    let changing: BTreeSet<Address> = p
        .changes
        .changes
        .iter()
        .map(|c| c.address.clone())
        .collect();
    let mut later = Vec::new();
    for c in &p.changes.changes {
        if let Some(after) = &c.after {
            let known = planform_engine::resolve_inputs(after, &p.state, &changing);
            if known
                .parameters
                .values()
                .chain(known.tags.values())
                .chain(known.description.iter())
                .any(|v| !planform_model::is_known(v))
            {
                later.push(c.address.clone());
                continue;
            }
        }
        let action = match &c.action {
            Action::Create {
                update_existing, ..
            } => Action::Create {
                update_existing: *update_existing,
                execute: false,
            },
            Action::UpdateInPlace { .. } => Action::UpdateInPlace { execute: false },
            Action::Replace {
                update_existing, ..
            } => Action::Replace {
                update_existing: *update_existing,
                execute: false,
            },
            Action::UpdateProduct { .. } => Action::UpdateProduct { execute: false },
            Action::Retry => Action::UpdateInPlace { execute: false },
            _ => continue,
        };
        preview.changes.push(planform_engine::Change {
            action,
            ..c.clone()
        });
    }
    if preview.changes.is_empty() {
        return Ok(exit::OK);
    }
    let sink: Arc<dyn StateSink> = Arc::new(FileSink(p.state_path.clone()));
    let options = ApplyOptions {
        workspace: p.desired.workspace.clone(),
        ..ApplyOptions::default()
    };
    let quiet: Arc<dyn Observer> = Arc::new(|_: &Event| {});
    let (state, report) = apply(
        &preview,
        p.state.clone(),
        &p.providers,
        sink,
        quiet,
        &options,
    )
    .await?;
    if !json {
        println!("\nCloud preview (the plans are created, not executed; `planform apply` executes them):\n");
    }
    for (address, outcome) in &report.results {
        let Some(m) = state.plans.get(address) else {
            continue;
        };
        let Some(service) = p.providers.get(&m.provider) else {
            continue;
        };
        let changes = match outcome {
            Outcome::Done(_) => service
                .resource_changes(&m.plan_id)
                .await
                .map_err(|e| anyhow!("{address}: {e}"))?,
            _ => vec![],
        };
        if json {
            let failed = match outcome {
                Outcome::Failed(e) => Some(e.to_string()),
                _ => None,
            };
            println!(
                "{}",
                serde_json::json!({"type": "cloud_preview", "address": address.to_string(), "plan_id": m.plan_id, "status": m.status, "error": failed,
                "resource_changes": changes.iter().map(|r| serde_json::json!({"action": r.action, "logical_resource_id": r.logical_resource_id, "physical_resource_id": r.physical_resource_id, "resource_type": r.resource_type, "replacement": r.replacement})).collect::<Vec<_>>()})
            );
            continue;
        }
        match outcome {
            Outcome::Done(_) => {
                println!("  # {address}: {} ({})", m.plan_id, m.status);
                for r in &changes {
                    let replacement = r
                        .replacement
                        .as_deref()
                        .map(|x| format!(" (replacement: {x})"))
                        .unwrap_or_default();
                    let physical = r
                        .physical_resource_id
                        .as_deref()
                        .map(|x| format!(" {x}"))
                        .unwrap_or_default();
                    println!(
                        "      {:<6} {} {}{physical}{replacement}",
                        r.action, r.resource_type, r.logical_resource_id
                    );
                }
            }
            Outcome::Failed(msg) => println!("  # {address}: preview failed: {msg}"),
            other => println!("  # {address}: {other:?}"),
        }
    }
    for a in &later {
        if json {
            println!(
                "{}",
                serde_json::json!({"type": "cloud_preview", "address": a.to_string(), "deferred": "its inputs are known only after its dependencies are executed"})
            );
        } else {
            println!("  # {a}: previewed by apply: its inputs are known only after its dependencies are executed");
        }
    }
    Ok(if report.failed().count() > 0 {
        exit::ERROR
    } else {
        exit::OK
    })
}

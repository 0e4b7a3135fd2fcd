//! `planform state`: read and edit the state through its backend; `pull` and `push` move a
//! whole state between backends, keeping its lineage and serial.

use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use planform_model::Address;
use planform_state::{Backend, Change, Locked, Record, State};

use crate::args::StateCommand;
use crate::exit;
use crate::invocation::Invocation;
use crate::ops::{self, Guard};

/// The stored state; asking for one that does not exist is an error, not an empty state.
async fn stored(backend: &dyn planform_state::Backend) -> Result<planform_state::State> {
    backend.load().await?.ok_or_else(|| {
        anyhow!(
            "there is no state in {}: nothing was applied in this workspace yet",
            backend.describe()
        )
    })
}

pub async fn run(inv: &Invocation, command: &StateCommand) -> Result<u8> {
    let (backend, workspace) = ops::read_backend(inv)?;
    let backend = &*backend;
    match command {
        StateCommand::List => {
            for a in stored(backend).await?.plans.keys() {
                outln!("{a}");
            }
        }
        StateCommand::Show { address } => {
            let address: Address = address.parse()?;
            let state = stored(backend).await?;
            let m = state
                .plans
                .get(&address)
                .ok_or_else(|| anyhow!("{address} is not in the state"))?;
            outln!("# {address}");
            outln!("provider               = {}", m.provider);
            outln!("plan_id                = {:?}", m.plan_id);
            // One spelling for both clouds, with AWS's own beside it.
            match planform_model::PlanStatus::parse(&m.status) {
                Some(s) if s.as_str() != m.status => outln!(
                    "status                 = {:?} # {}",
                    s.as_str(),
                    crate::render::escape::text(&m.status)
                ),
                _ => outln!("status                 = {:?}", m.status),
            }
            if let Some(pp) = &m.provisioned_product_id {
                outln!("provisioned_product_id = {pp:?}");
            }
            if let Some(s) = &m.stack_id {
                outln!("stack_id               = {s:?}");
            }
            if let Some(a) = &m.applied {
                outln!("product_version_id     = {:?}", a.product_version_id);
                // Sensitive parameters are listed even where the state keeps no value.
                let keys: std::collections::BTreeSet<&String> =
                    a.parameters.keys().chain(&m.sensitive_parameters).collect();
                for k in keys {
                    let shown = match a.parameters.get(k) {
                        _ if m.sensitive_parameters.contains(k) => "(sensitive value)".to_string(),
                        Some(v) => format!("{v:?}"),
                        None => continue,
                    };
                    outln!("parameters[{k:?}] = {shown}");
                }
            }
            for (k, v) in &m.outputs {
                outln!("outputs[{k:?}] = {v:?}");
            }
            if !m.history.is_empty() {
                outln!("history                = {:?}", m.history);
            }
        }
        StateCommand::Rm { addresses, .. } => {
            let addresses: Vec<Address> = addresses
                .iter()
                .map(|a| a.parse())
                .collect::<Result<_, _>>()?;
            edit(inv, backend, "state rm", |state| {
                let mut changes = vec![];
                for a in &addresses {
                    if state.plans.remove(a).is_none() {
                        bail!("{a} is not in the state; nothing was removed");
                    }
                    changes.push(Change::Remove { address: a.clone() });
                }
                Ok(changes)
            })
            .await?;
            for a in &addresses {
                outln!("Removed {a} (the cloud plan is left as it is)");
            }
        }
        StateCommand::Mv { from, to, .. } => {
            let (from, to): (Address, Address) = (from.parse()?, to.parse()?);
            edit(inv, backend, "state mv", |state| {
                if state.plans.contains_key(&to) {
                    bail!("{to} is already in the state");
                }
                let m = state
                    .plans
                    .remove(&from)
                    .ok_or_else(|| anyhow!("{from} is not in the state"))?;
                state.plans.insert(to.clone(), m.clone());
                Ok(vec![
                    Change::Remove {
                        address: from.clone(),
                    },
                    Change::Put {
                        address: to.clone(),
                        plan: Box::new(m),
                    },
                ])
            })
            .await?;
            outln!("Moved {from} to {to}");
        }
        StateCommand::Pull => match backend.load().await? {
            Some(state) => out!("{}", planform_state::to_json(&state)),
            None => bail!("there is no state in {}", backend.describe()),
        },
        StateCommand::Push { file, .. } => {
            // Relative to the current directory, as every path a command is given (`-C` names
            // only where the manifests are).
            let pushed = read_pushed(file, inv)?;
            if pushed.workspace != workspace {
                bail!(
                    "{} is the state of workspace {:?}, the manifests say {:?}; nothing was written",
                    file.display(),
                    pushed.workspace,
                    workspace
                );
            }
            let guard = lock(inv, backend, "state push").await?;
            let stored = backend.load().await?;
            let expected = match &stored {
                Some(s) if s.lineage != pushed.lineage => bail!(
                    "{} has lineage {}, the state in {} has {}: it is another state, not a version of this one; nothing was written",
                    file.display(),
                    pushed.lineage,
                    backend.describe(),
                    s.lineage
                ),
                Some(s) if pushed.serial <= s.serial => bail!(
                    "{} has serial {}, not newer than the stored serial {} in {}: pushing it would lose changes; nothing was written (pull, edit, and raise the serial to replace it on purpose)",
                    file.display(),
                    pushed.serial,
                    s.serial,
                    backend.describe()
                ),
                Some(s) => Some(s.serial),
                None => None,
            };
            let mut pushed = pushed;
            if let Some(s) = &stored {
                carry_sensitive_values(&mut pushed, s);
            }
            guard.write(&pushed, expected).await?;
            Guard::release(guard).await?;
            outln!(
                "Pushed {} (lineage {}, serial {}) to {}",
                file.display(),
                pushed.lineage,
                pushed.serial,
                backend.describe()
            );
        }
        StateCommand::Unlock { force } => match backend.unlock(*force).await? {
            Some(held) => outln!(
                "Cleared the lock left by pid {} on {} ({}, lock id {})",
                held.pid,
                held.host,
                held.command,
                held.id
            ),
            None => outln!("The state is not locked."),
        },
    }
    Ok(exit::OK)
}

/// Sensitive parameter values a pushed state lacks (`state pull` leaves them out) taken from the
/// stored state for the plans the push keeps (same address and plan id), so a pull/edit/push
/// round trip through an encrypted store loses none.
fn carry_sensitive_values(pushed: &mut State, stored: &State) {
    for (address, p) in pushed.plans.iter_mut() {
        let Some(s) = stored.plans.get(address).filter(|s| s.plan_id == p.plan_id) else {
            continue;
        };
        let (Some(from), Some(to)) = (&s.applied, &mut p.applied) else {
            continue;
        };
        for key in &p.sensitive_parameters {
            if let (Some(v), false) = (from.parameters.get(key), to.parameters.contains_key(key)) {
                to.parameters.insert(key.clone(), v.clone());
            }
        }
    }
}

/// The state file to push: plaintext (`state pull`), or encrypted (a copy of a state file, a
/// rescue file) and opened with the key in the environment.
fn read_pushed(file: &Path, inv: &Invocation) -> Result<State> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    // `state pull` prints plaintext, so a pushed file may be plaintext whatever the store's
    // encryption; an encrypted one is opened with the configured keys.
    let encryption = if planform_state::is_sealed(&text) {
        ops::encryption(&inv.env)?
    } else {
        std::sync::Arc::new(planform_state::Encryption::off())
    };
    match planform_state::decode(&text, &file.display().to_string(), &encryption) {
        Ok((state, ..)) => Ok(state),
        // The input is the user's file, not the stored state: no backup of it to restore.
        Err(planform_state::StateError::Corrupt { path, message }) => bail!(
            "{path} is not a state file planform can push ({message}); nothing was written: push a file `planform state pull` wrote, or a copy of a state's state.json"
        ),
        Err(e) => Err(e.into()),
    }
}

/// Takes the lock for a `state` command that writes (refused with `--lock=false`).
async fn lock(
    inv: &Invocation,
    backend: &dyn Backend,
    command: &str,
) -> Result<std::sync::Arc<Guard>> {
    if !inv.lock {
        bail!("{command} writes the state, so it needs the state lock: drop --lock=false");
    }
    Ok(Guard::new(
        crate::ops::take_lock(backend, command, inv.lock_timeout()?).await?,
    ))
}

/// Locks, loads, applies `f` (which returns the changes it made) and records them as one
/// record; nothing is written when `f` fails.
async fn edit(
    inv: &Invocation,
    backend: &dyn Backend,
    command: &str,
    f: impl FnOnce(&mut State) -> Result<Vec<Change>>,
) -> Result<()> {
    let guard = lock(inv, backend, command).await?;
    let mut state = backend
        .load()
        .await?
        .ok_or_else(|| anyhow!("there is no state in {}", backend.describe()))?;
    let changes = f(&mut state)?;
    guard
        .record(Record {
            serial: state.serial + 1,
            changes,
        })
        .await?;
    Guard::release(guard).await?;
    Ok(())
}

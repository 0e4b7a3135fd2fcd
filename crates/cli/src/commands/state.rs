//! `planform state`: read and edit the state.

use std::time::Duration;

use anyhow::{anyhow, bail, Result};
use planform_model::Address;

use crate::args::StateCommand;
use crate::exit;
use crate::invocation::Invocation;
use crate::ops;

pub fn run(inv: &Invocation, command: &StateCommand) -> Result<u8> {
    let path = ops::read_state_path(inv)?;
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
            let _lock = ops::lock_path(&path, "state rm", Duration::ZERO)?;
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
            let _lock = ops::lock_path(&path, "state mv", Duration::ZERO)?;
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
        StateCommand::Unlock { force } => match planform_state::unlock(&path, *force)? {
            Some(held) => println!(
                "Removed the lock held by pid {} on {} ({})",
                held.pid, held.host, held.command
            ),
            None => println!("The state is not locked."),
        },
    }
    Ok(exit::OK)
}

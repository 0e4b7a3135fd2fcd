//! The journal beside the snapshot: one line per record, `<checksum> <json>\n`, where the
//! checksum is the first 16 hex digits of the SHA-256 of the JSON. Replay applies, in order,
//! the records that follow the snapshot's serial; it stops at the first line that is torn (no
//! final newline), fails its checksum or does not decode, keeping everything before it.

use planform_model::Address;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::file::{decode_plan, encode_plan, PlanV1};
use crate::{Change, Record, State};

#[derive(Serialize, Deserialize)]
struct RecordV1 {
    lineage: String,
    serial: u64,
    changes: Vec<ChangeV1>,
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase")]
enum ChangeV1 {
    Put { address: String, plan: Box<PlanV1> },
    Remove { address: String },
}

fn checksum(json: &[u8]) -> String {
    hex::encode(&Sha256::digest(json)[..8])
}

/// `record` of the state with `lineage` as one journal line (with its newline).
pub(crate) fn encode(lineage: &str, record: &Record) -> Vec<u8> {
    let r = RecordV1 {
        lineage: lineage.to_string(),
        serial: record.serial,
        changes: record
            .changes
            .iter()
            .map(|c| match c {
                Change::Put { address, plan } => ChangeV1::Put {
                    address: address.to_string(),
                    plan: Box::new(encode_plan(plan)),
                },
                Change::Remove { address } => ChangeV1::Remove {
                    address: address.to_string(),
                },
            })
            .collect(),
    };
    let json = serde_json::to_vec(&r).expect("records serialise");
    let mut line = Vec::with_capacity(json.len() + 18);
    line.extend_from_slice(checksum(&json).as_bytes());
    line.push(b' ');
    line.extend_from_slice(&json);
    line.push(b'\n');
    line
}

fn decode_line(line: &[u8]) -> Option<(String, Record)> {
    let (sum, json) = (line.get(..16)?, line.get(17..)?);
    if line.get(16) != Some(&b' ') || sum != checksum(json).as_bytes() {
        return None;
    }
    let r: RecordV1 = serde_json::from_slice(json).ok()?;
    let changes = r
        .changes
        .into_iter()
        .map(|c| match c {
            ChangeV1::Put { address, plan } => {
                decode_plan(&address, *plan)
                    .ok()
                    .map(|(address, plan)| Change::Put {
                        address,
                        plan: Box::new(plan),
                    })
            }
            ChangeV1::Remove { address } => address
                .parse::<Address>()
                .ok()
                .map(|address| Change::Remove { address }),
        })
        .collect::<Option<Vec<_>>>()?;
    Some((
        r.lineage,
        Record {
            serial: r.serial,
            changes,
        },
    ))
}

/// What a replay found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Replayed {
    /// Records applied.
    pub applied: usize,
    /// Bytes of the journal that hold whole, valid lines; what follows is a torn or corrupt
    /// tail, ignored (and cut off by the next holder of the lock before it appends).
    pub valid_len: u64,
}

/// Applies to `state` the journal's records that follow its serial.
pub(crate) fn replay(state: &mut State, journal: &[u8]) -> Replayed {
    let mut at = 0usize;
    let mut applied = 0;
    while let Some(n) = journal[at..].iter().position(|&b| b == b'\n') {
        let Some((lineage, record)) = decode_line(&journal[at..at + n]) else {
            break;
        };
        if lineage == state.lineage && record.serial > state.serial {
            if record.serial != state.serial + 1 {
                break;
            }
            state.apply_record(&record);
            applied += 1;
        }
        // Records of another lineage or already in the snapshot (a compaction cut short
        // before the journal was emptied) are skipped.
        at += n + 1;
    }
    Replayed {
        applied,
        valid_len: at as u64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ManagedPlan;
    use planform_model::{ProviderKind, ProviderRef};
    use proptest::prelude::*;

    fn put(serial: u64, name: &str, plan_id: &str) -> Record {
        Record {
            serial,
            changes: vec![Change::Put {
                address: Address::new(name),
                plan: Box::new(ManagedPlan::new(
                    ProviderRef::default_for(ProviderKind::Sandbox),
                    plan_id,
                )),
            }],
        }
    }

    fn journal(records: &[Record]) -> Vec<u8> {
        records.iter().flat_map(|r| encode("lin", r)).collect()
    }

    #[test]
    fn replays_in_order_and_skips_what_the_snapshot_has() {
        let records = [put(1, "a", "p1"), put(2, "b", "p2"), put(3, "a", "p3")];
        let bytes = journal(&records);
        let mut state = State::new("ws", "lin".into());
        let r = replay(&mut state, &bytes);
        assert_eq!(r.applied, 3);
        assert_eq!(r.valid_len, bytes.len() as u64);
        assert_eq!(state.serial, 3);
        assert_eq!(state.plans[&Address::new("a")].plan_id, "p3");
        let mut from_snapshot = State::new("ws", "lin".into());
        from_snapshot.serial = 2;
        assert_eq!(replay(&mut from_snapshot, &bytes).applied, 1);
        let mut other = State::new("ws", "other".into());
        assert_eq!(replay(&mut other, &bytes).applied, 0);
        let remove = Record {
            serial: 4,
            changes: vec![Change::Remove {
                address: Address::new("a"),
            }],
        };
        let mut more = bytes.clone();
        more.extend(encode("lin", &remove));
        let mut s = State::new("ws", "lin".into());
        replay(&mut s, &more);
        assert_eq!(s.plans.keys().collect::<Vec<_>>(), vec![&Address::new("b")]);
    }

    proptest! {
        /// Any cut or any corrupted byte loses only the records from the damaged line on.
        #[test]
        fn a_torn_or_corrupt_tail_keeps_everything_before_it(n in 1usize..8, cut in any::<prop::sample::Index>(), flip in any::<bool>()) {
            let records: Vec<Record> = (1..=n as u64).map(|i| put(i, &format!("p{i}"), &format!("id{i}"))).collect();
            let bytes = journal(&records);
            let ends: Vec<usize> = bytes.iter().enumerate().filter(|(_, &b)| b == b'\n').map(|(i, _)| i + 1).collect();
            let at = cut.index(bytes.len());
            let mut damaged = bytes.clone();
            if flip {
                damaged[at] ^= 0x20;
            } else {
                damaged.truncate(at);
            }
            // Whole lines before the damaged byte survive.
            let whole = ends.iter().filter(|&&e| e <= at).count();
            let mut state = State::new("ws", "lin".into());
            let r = replay(&mut state, &damaged);
            prop_assert_eq!(r.applied, whole);
            prop_assert_eq!(state.serial, whole as u64);
            prop_assert_eq!(r.valid_len, if whole == 0 { 0 } else { ends[whole - 1] as u64 });
        }
    }
}

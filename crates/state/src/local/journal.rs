//! The journal beside the snapshot: one line per record, `<checksum> <payload>\n`, where the
//! payload is the record's JSON, or with encryption on an envelope of it sealed line by line
//! (so a torn tail still loses only its last line), and the checksum is the first 16 hex digits
//! of the SHA-256 of the payload. Replay applies, in order, the records that follow the
//! snapshot's serial; it stops at the first line that is torn (no final newline), fails its
//! checksum or does not decode, keeping everything before it. A whole line that does not open
//! (another key, plaintext where encryption is on) is an error, not a torn tail: cutting it off
//! would lose records.

use planform_encryption::Encryption;
use planform_model::Address;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::file::{decode_plan, encode_plan, PlanV1, Secrets};
use crate::{Change, Record, State, StateError};

/// The context journal lines are sealed for.
const CONTEXT: &str = "journal";

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

/// `record` of the state with `lineage` as one journal line (with its newline), as
/// `encryption` stores it.
pub(crate) fn encode(
    lineage: &str,
    record: &Record,
    encryption: &Encryption,
) -> Result<Vec<u8>, StateError> {
    let secrets = Secrets::written_by(encryption);
    let r = RecordV1 {
        lineage: lineage.to_string(),
        serial: record.serial,
        changes: record
            .changes
            .iter()
            .map(|c| match c {
                Change::Put { address, plan } => ChangeV1::Put {
                    address: address.to_string(),
                    plan: Box::new(encode_plan(plan, secrets)),
                },
                Change::Remove { address } => ChangeV1::Remove {
                    address: address.to_string(),
                },
            })
            .collect(),
    };
    let json = serde_json::to_string(&r).expect("records serialise");
    let payload = encryption.encode(CONTEXT, &json)?;
    let mut line = Vec::with_capacity(payload.len() + 18);
    line.extend_from_slice(checksum(payload.as_bytes()).as_bytes());
    line.push(b' ');
    line.extend_from_slice(payload.as_bytes());
    line.push(b'\n');
    Ok(line)
}

/// One line read back, and whether it is stale (see [`Encryption::is_stale`]): `Ok(None)` for a
/// torn or corrupt line (the end of the valid journal).
fn decode_line(
    line: &[u8],
    encryption: &Encryption,
    origin: &str,
) -> Result<Option<(String, Record, bool)>, StateError> {
    let (Some(sum), Some(payload)) = (line.get(..16), line.get(17..)) else {
        return Ok(None);
    };
    if line.get(16) != Some(&b' ') || sum != checksum(payload).as_bytes() {
        return Ok(None);
    }
    let Ok(payload) = std::str::from_utf8(payload) else {
        return Ok(None);
    };
    let opened = encryption.decode(CONTEXT, payload, origin)?;
    Ok(
        decode_record(&opened.text, Secrets::read_from(opened.sealed))
            .map(|(lineage, record)| (lineage, record, encryption.is_stale(payload))),
    )
}

fn decode_record(json: &str, secrets: Secrets) -> Option<(String, Record)> {
    let r: RecordV1 = serde_json::from_str(json).ok()?;
    let changes = r
        .changes
        .into_iter()
        .map(|c| match c {
            ChangeV1::Put { address, plan } => {
                decode_plan(&address, *plan, secrets)
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
    /// Whether a valid line is stored otherwise than `encryption` writes: encrypted or not, or
    /// sealed with the fallback key (rotation).
    pub other_form: bool,
}

/// Applies to `state` the journal's records that follow its serial; `origin` names the journal
/// in errors.
pub(crate) fn replay(
    state: &mut State,
    journal: &[u8],
    encryption: &Encryption,
    origin: &str,
) -> Result<Replayed, StateError> {
    let mut at = 0usize;
    let mut applied = 0;
    let mut other_form = false;
    while let Some(n) = journal[at..].iter().position(|&b| b == b'\n') {
        let Some((lineage, record, stale)) = decode_line(&journal[at..at + n], encryption, origin)?
        else {
            break;
        };
        other_form |= stale;
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
    Ok(Replayed {
        applied,
        valid_len: at as u64,
        other_form,
    })
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

    fn journal(records: &[Record], e: &Encryption) -> Vec<u8> {
        records
            .iter()
            .flat_map(|r| encode("lin", r, e).unwrap())
            .collect()
    }

    fn replay_all(state: &mut State, bytes: &[u8], e: &Encryption) -> Replayed {
        replay(state, bytes, e, "journal").unwrap()
    }

    fn both() -> [Encryption; 2] {
        [Encryption::off(), Encryption::with_key([3; 32])]
    }

    #[test]
    fn replays_in_order_and_skips_what_the_snapshot_has() {
        for e in both() {
            // A plan id long enough that ciphertext never holds it by chance.
            let p3 = "plan-3-in-clear-only-when-unencrypted";
            let records = [put(1, "a", "p1"), put(2, "b", "p2"), put(3, "a", p3)];
            let bytes = journal(&records, &e);
            assert_eq!(
                String::from_utf8_lossy(&bytes).contains(p3),
                !e.writes_encrypted()
            );
            let mut state = State::new("ws", "lin".into());
            let r = replay_all(&mut state, &bytes, &e);
            assert_eq!(r.applied, 3);
            assert_eq!(r.valid_len, bytes.len() as u64);
            assert!(!r.other_form);
            assert_eq!(state.serial, 3);
            assert_eq!(state.plans[&Address::new("a")].plan_id, p3);
            let mut from_snapshot = State::new("ws", "lin".into());
            from_snapshot.serial = 2;
            assert_eq!(replay_all(&mut from_snapshot, &bytes, &e).applied, 1);
            let mut other = State::new("ws", "other".into());
            assert_eq!(replay_all(&mut other, &bytes, &e).applied, 0);
            let remove = Record {
                serial: 4,
                changes: vec![Change::Remove {
                    address: Address::new("a"),
                }],
            };
            let mut more = bytes.clone();
            more.extend(encode("lin", &remove, &e).unwrap());
            let mut s = State::new("ws", "lin".into());
            replay_all(&mut s, &more, &e);
            assert_eq!(s.plans.keys().collect::<Vec<_>>(), vec![&Address::new("b")]);
        }
    }

    /// A whole line that does not open is an error naming the journal, not a torn tail that the
    /// next lock holder would cut off; plaintext lines read during a migration are reported.
    #[test]
    fn a_line_of_another_key_is_an_error_and_plaintext_lines_need_a_migration() {
        let sealed = journal(&[put(1, "a", "p1")], &Encryption::with_key([3; 32]));
        let mut state = State::new("ws", "lin".into());
        let e = replay(
            &mut state,
            &sealed,
            &Encryption::with_key([4; 32]),
            "j.journal",
        )
        .unwrap_err()
        .to_string();
        assert!(e.starts_with("j.journal was encrypted with a key"), "{e}");
        let e = replay(&mut state, &sealed, &Encryption::off(), "j.journal")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("j.journal is encrypted, but no encryption key is set"),
            "{e}"
        );

        let plain = journal(&[put(1, "a", "p1")], &Encryption::off());
        let on = Encryption::with_key([3; 32]);
        assert!(matches!(
            replay(&mut state, &plain, &on, "j").unwrap_err(),
            StateError::Encryption(planform_encryption::EncryptionError::Plaintext { .. })
        ));
        let env = [
            (
                "PLANFORM_ENCRYPTION_KEY".to_string(),
                "AwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwM=".to_string(),
            ),
            (
                "PLANFORM_ENCRYPTION_MIGRATE".to_string(),
                "encrypt".to_string(),
            ),
        ]
        .into();
        let migrating = Encryption::from_env(&env).unwrap();
        let mut mixed = plain.clone();
        mixed.extend(encode("lin", &put(2, "b", "p2"), &migrating).unwrap());
        let r = replay_all(&mut state, &mixed, &migrating);
        assert_eq!((r.applied, r.other_form), (2, true));
    }

    proptest! {
        /// Any cut or any corrupted byte loses only the records from the damaged line on,
        /// encrypted or not.
        #[test]
        fn a_torn_or_corrupt_tail_keeps_everything_before_it(n in 1usize..8, cut in any::<prop::sample::Index>(), flip in any::<bool>(), sealed in any::<bool>()) {
            let e = if sealed { Encryption::with_key([3; 32]) } else { Encryption::off() };
            let records: Vec<Record> = (1..=n as u64).map(|i| put(i, &format!("p{i}"), &format!("id{i}"))).collect();
            let bytes = journal(&records, &e);
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
            let r = replay_all(&mut state, &damaged, &e);
            prop_assert_eq!(r.applied, whole);
            prop_assert_eq!(state.serial, whole as u64);
            prop_assert_eq!(r.valid_len, if whole == 0 { 0 } else { ends[whole - 1] as u64 });
        }
    }
}

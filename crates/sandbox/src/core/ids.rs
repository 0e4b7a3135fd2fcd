//! Identifiers the sandbox hands out: cloud-style ids (`plan-…`, `pp-…`, `task-…`) drawn from the
//! stored salt and counter, ids derived from a seed so they stay stable, and stack ids (UUIDs).

use sha2::{Digest, Sha256};

use super::{Partition, Sandbox};

/// `{prefix}-` and 14 characters of `[0-9a-z]` taken from the SHA-256 of `seed`.
fn cloud_id(seed: &str, prefix: &str) -> String {
    cloud_id_of_len(seed, prefix, 14)
}

/// `{prefix}-` and `len` characters of `[0-9a-z]` taken from the SHA-256 of `seed`.
fn cloud_id_of_len(seed: &str, prefix: &str, len: usize) -> String {
    const ALPHABET: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let digest = Sha256::digest(seed);
    let tail: String = digest
        .iter()
        .take(len)
        .map(|b| ALPHABET[(*b as usize) % 36] as char)
        .collect();
    format!("{prefix}-{tail}")
}

/// The id `prefix` has for `seed`, the same every time (physical resource ids, output ids).
pub(super) fn stable_id(seed: &str, prefix: &str) -> String {
    cloud_id(&format!("{seed}:{prefix}"), prefix)
}

/// The CloudFormation-style stack id of a provisioned product: a version 4 UUID made from a hash
/// of its id, so it is the same every time.
pub(super) fn stack_id(provisioned_product_id: &str) -> String {
    let digest = Sha256::digest(format!("stack:{provisioned_product_id}"));
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_random_bytes(bytes)
        .into_uuid()
        .hyphenated()
        .to_string()
}

impl Sandbox {
    /// A fresh id for a record of `partition`: the stored counter moves on, so ids never repeat
    /// in one database. Alibaba's are `plan-`/`pp-`/`task-` and 14 characters; AWS's are a
    /// prefix and 13 (wire/aws.md §3 "Example IDs"), its tasks being records (`rec-`).
    pub(super) fn next_id(&mut self, prefix: &str, partition: Option<&Partition>) -> String {
        self.meta.counter += 1;
        let (prefix, len) = match (partition.is_some_and(Partition::is_aws), prefix) {
            (true, "task") => ("rec", 13),
            (true, _) => (prefix, 13),
            (false, _) => (prefix, 14),
        };
        cloud_id_of_len(
            &format!("{}:{}:{prefix}", self.meta.salt, self.meta.counter),
            prefix,
            len,
        )
    }
}

/// A principal's id: Alibaba's are 17-digit numbers (`27740196382623…`), here stable per
/// principal name (an access key id, or the account).
pub fn principal_id(name: &str) -> String {
    let digest = Sha256::digest(name);
    let n = digest
        .iter()
        .take(8)
        .fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
    format!("{:017}", n % 100_000_000_000_000_000)
}

/// The id of the principal `owner` (as a plan stores it: `RamUser:dev`, or a bare name, or the
/// account itself) in `account`, the same wherever it is shown or filtered on: the account's own
/// id for the account, else a stable id of the name within the account (two accounts' users of
/// one name are two principals).
pub fn principal_id_in(owner: &str, account: &str) -> String {
    let name = owner.split_once(':').map_or(owner, |(_, n)| n);
    if name == account {
        return account.to_string();
    }
    principal_id(&format!("{name}@{account}"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn stack_ids_are_stable_version_4_uuids() {
        let id = super::stack_id("pp-0a1b2c3d4e5f6g");
        assert_eq!(id, super::stack_id("pp-0a1b2c3d4e5f6g"));
        let parsed = uuid::Uuid::parse_str(&id).unwrap();
        assert_eq!(parsed.get_version_num(), 4);
        assert_eq!(id.len(), 36);
        assert_ne!(id, super::stack_id("pp-other"));
    }

    #[test]
    fn cloud_ids_have_the_documented_shape() {
        let id = super::stable_id("pp-1", "vpc");
        assert!(id.starts_with("vpc-") && id.len() == 18, "{id}");
        assert!(id[4..]
            .bytes()
            .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase()));
    }
}

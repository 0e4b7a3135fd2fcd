//! Where a record lives: as on the real clouds, each face (Alibaba, AWS) keeps each account's
//! and region's plans, provisioned products, tasks and idempotency tokens apart (the account
//! is the calling key's, `server/keys.rs`), and the embedded provider
//! (`provider "sandbox"`) has its own. A request sees only its own partition; the sandbox's
//! owner (tests, benchmarks, `planform sandbox approve`) calling [`super::Sandbox`] directly,
//! outside [`super::Sandbox::within`], sees them all, and what it makes there is unplaced: seen
//! from every partition, as every record was before partitions (and placed by
//! [`place_unpartitioned`] when a persistent sandbox is opened again).
//!
//! Stored as one string: `embedded`, `alibaba/<region>`, `aws/<region>` for the sandbox's own
//! account (`Settings::account_id`, `aws_account_id`: every record made before accounts is
//! one), and `alibaba/<region>/<account>`, `aws/<region>/<account>` for any other.

use std::collections::BTreeMap;
use std::fmt;

use serde::{de::Error, Deserialize, Deserializer, Serialize, Serializer};

use super::records::{
    plan_write, product_write, task_write, token_delete, token_write, PlanRecord, ProductRecord,
    TaskRecord, TokenRecord,
};
use crate::store::Write;

/// The face, account and region a record was made through.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Partition {
    /// The in-process provider (`provider "sandbox"`, the quickstart).
    Embedded,
    /// The Alibaba face of `sandbox serve`, for the region of the request's `RegionId` or
    /// endpoint, in the calling key's account (`None`: the sandbox's own).
    Alibaba {
        region: String,
        account: Option<String>,
    },
    /// The AWS face of `sandbox serve`, for the region of the request's SigV4 credential scope,
    /// in the calling key's account (`None`: the sandbox's own).
    Aws {
        region: String,
        account: Option<String>,
    },
}

impl Partition {
    /// The Alibaba face's region in the sandbox's own account.
    pub fn alibaba(region: &str) -> Partition {
        Partition::alibaba_in(region, None)
    }

    /// The AWS face's region in the sandbox's own account.
    pub fn aws(region: &str) -> Partition {
        Partition::aws_in(region, None)
    }

    /// The Alibaba face's region in `account` (`None`: the sandbox's own).
    pub fn alibaba_in(region: &str, account: Option<&str>) -> Partition {
        Partition::Alibaba {
            region: region.to_string(),
            account: account.map(str::to_string),
        }
    }

    /// The AWS face's region in `account` (`None`: the sandbox's own).
    pub fn aws_in(region: &str, account: Option<&str>) -> Partition {
        Partition::Aws {
            region: region.to_string(),
            account: account.map(str::to_string),
        }
    }

    /// Parses the stored form.
    pub fn parse(s: &str) -> Option<Partition> {
        let mut parts = s.split('/');
        let (face, region, account) = (parts.next()?, parts.next(), parts.next());
        if parts.next().is_some() || account.is_some_and(|a| !is_account(a)) {
            return None;
        }
        match (face, region) {
            ("embedded", None) => Some(Partition::Embedded),
            ("alibaba", Some(r)) if is_region(r) => Some(Partition::alibaba_in(r, account)),
            ("aws", Some(r)) if is_region(r) => Some(Partition::aws_in(r, account)),
            _ => None,
        }
    }

    /// Made through the AWS face (AWS's id and ARN spellings).
    pub fn is_aws(&self) -> bool {
        matches!(self, Partition::Aws { .. })
    }

    /// The account, when it is not the sandbox's own.
    pub fn account(&self) -> Option<&str> {
        match self {
            Partition::Embedded => None,
            Partition::Alibaba { account, .. } | Partition::Aws { account, .. } => {
                account.as_deref()
            }
        }
    }
}

/// An account id as both clouds spell them: digits (Alibaba's 16, AWS's 12), at most 32.
pub fn is_account(s: &str) -> bool {
    !s.is_empty() && s.len() <= 32 && s.bytes().all(|c| c.is_ascii_digit())
}

/// A region id as both clouds spell them: lower-case letters, digits and hyphens.
pub fn is_region(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
}

impl fmt::Display for Partition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (face, region, account) = match self {
            Partition::Embedded => return f.write_str("embedded"),
            Partition::Alibaba { region, account } => ("alibaba", region, account),
            Partition::Aws { region, account } => ("aws", region, account),
        };
        write!(f, "{face}/{region}")?;
        match account {
            Some(a) => write!(f, "/{a}"),
            None => Ok(()),
        }
    }
}

impl Serialize for Partition {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Partition {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Partition, D::Error> {
        let s = String::deserialize(d)?;
        Partition::parse(&s).ok_or_else(|| D::Error::custom(format!("unknown partition {s:?}")))
    }
}

/// The region a `sandbox serve` answered every Alibaba request as before partitions: a local
/// endpoint is the documented live endpoint's region (wire/alibaba.md §1).
pub const ALIBABA_DEFAULT_REGION: &str = "cn-hangzhou";
/// The region of an AWS record that names none.
pub const AWS_DEFAULT_REGION: &str = "us-east-1";

/// Where a plan written before partitions was made: an AWS plan in the region it was signed for
/// (which the AWS face kept as its `stack_region_id`), a plan the account owns by the embedded
/// provider (requests to `sandbox serve` always act as a key's principal, never the account),
/// any other by the Alibaba face of `sandbox serve`, which answered as `cn-hangzhou`.
fn made_in(plan: &PlanRecord, account_id: &str) -> Partition {
    if plan.aws {
        Partition::aws(
            plan.stack_region_id
                .as_deref()
                .filter(|r| is_region(r))
                .unwrap_or(AWS_DEFAULT_REGION),
        )
    } else if plan.owner == account_id {
        Partition::Embedded
    } else {
        Partition::alibaba(ALIBABA_DEFAULT_REGION)
    }
}

/// Places the records written before partitions (none named) where they were made, and
/// returns the writes that keep them there: a plan as [`made_in`] says; a provisioned product
/// with a plan that names it; a task with its plan, else its product; a token with its plan.
/// A product or task no plan places stays unplaced and is seen from every partition (the
/// sandbox never hides data it cannot place).
pub(super) fn place_unpartitioned(
    account_id: &str,
    plans: &mut BTreeMap<String, PlanRecord>,
    products: &mut BTreeMap<String, ProductRecord>,
    tasks: &mut BTreeMap<String, TaskRecord>,
    tokens: &mut [TokenRecord],
) -> Vec<Write> {
    let mut writes = Vec::new();
    for plan in plans.values_mut().filter(|p| p.partition.is_none()) {
        plan.partition = Some(made_in(plan, account_id));
        writes.push(plan_write(plan));
    }
    let of_product: BTreeMap<&str, &Partition> = plans
        .values()
        .filter_map(|p| Some((p.provisioned_product_id.as_str(), p.partition.as_ref()?)))
        .collect();
    for pp in products.values_mut().filter(|p| p.partition.is_none()) {
        if let Some(p) = of_product.get(pp.id.as_str()) {
            pp.partition = Some((*p).clone());
            writes.push(product_write(pp));
        }
    }
    for task in tasks.values_mut().filter(|t| t.partition.is_none()) {
        let placed = plans
            .get(&task.plan_id)
            .and_then(|p| p.partition.clone())
            .or_else(|| {
                products
                    .get(&task.provisioned_product_id)
                    .and_then(|p| p.partition.clone())
            });
        if let Some(p) = placed {
            task.partition = Some(p);
            writes.push(task_write(task));
        }
    }
    for token in tokens.iter_mut().filter(|t| t.partition.is_none()) {
        let placed = plans
            .get(&token.plan_id)
            .and_then(|p| p.partition.clone())
            .unwrap_or(Partition::Embedded);
        // The token moves to today's key: the old one goes.
        writes.extend(token_delete(Some(&placed), &token.token));
        token.partition = Some(placed);
        writes.push(token_write(token));
    }
    writes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_read_back_what_they_write() {
        for p in [
            Partition::Embedded,
            Partition::alibaba("cn-shanghai"),
            Partition::aws("eu-west-1"),
            Partition::alibaba_in("cn-shanghai", Some("2000000000000001")),
            Partition::aws_in("eu-west-1", Some("210987654321")),
        ] {
            let json = serde_json::to_string(&p).unwrap();
            assert_eq!(serde_json::from_str::<Partition>(&json).unwrap(), p);
        }
        assert_eq!(Partition::aws("us-east-1").to_string(), "aws/us-east-1");
        assert_eq!(
            Partition::aws_in("us-east-1", Some("210987654321")).to_string(),
            "aws/us-east-1/210987654321"
        );
        // Records stored before accounts name none: the sandbox's own account.
        assert_eq!(
            Partition::parse("alibaba/cn-hangzhou").unwrap().account(),
            None
        );
        for bad in [
            "",
            "aws",
            "aws/",
            "gcp/us",
            "aws/US-EAST-1",
            "embedded/x",
            "aws/us-east-1/",
            "aws/us-east-1/12a",
            "aws/us-east-1/1/2",
            "embedded//1",
        ] {
            assert_eq!(Partition::parse(bad), None, "{bad}");
        }
    }
}

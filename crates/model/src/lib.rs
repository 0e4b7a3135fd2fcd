//! Plain data shared by every planform crate: addresses, desired and live plans, statuses, the
//! `Sensitive` wrapper and the provider interface (`PlanService`) every backend implements.
//!
//! **Invariant**: nothing here does I/O; the only async item is the `PlanService` trait.

mod address;
pub mod ownership;
mod provider;
mod sensitive;
mod unknown;

pub use address::{split_reference, Address, AddressParseError, InstanceKey};
pub use provider::{
    Capabilities, ErrorKind, LivePlan, NewPlan, OperationType, Page, PlanFilter, PlanService,
    PlanStatus, PlanUpdate, ProviderError, ProvisionedProduct, ResourceChange, Sent, TerminateVia,
};
pub use sensitive::Sensitive;
pub use unknown::{is_known, references_in, resolve_unknowns, unknown_marker};

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::Duration;

pub use ownership::{TAG_ADDRESS, TAG_WORKSPACE};

/// Which cloud API a provider block speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ProviderKind {
    Alibaba,
    Aws,
    Sandbox,
}

impl ProviderKind {
    pub const ALL: [ProviderKind; 3] = [
        ProviderKind::Alibaba,
        ProviderKind::Aws,
        ProviderKind::Sandbox,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::Alibaba => "alibaba",
            ProviderKind::Aws => "aws",
            ProviderKind::Sandbox => "sandbox",
        }
    }

    pub fn parse(s: &str) -> Option<ProviderKind> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// A provider configuration as referenced from a plan: `sandbox`, `aws.us`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ProviderRef {
    pub kind: ProviderKind,
    pub alias: Option<String>,
}

impl ProviderRef {
    pub fn default_for(kind: ProviderKind) -> ProviderRef {
        ProviderRef { kind, alias: None }
    }

    pub fn parse(s: &str) -> Option<ProviderRef> {
        let (kind, alias) = match s.split_once('.') {
            Some((k, a)) => (k, Some(a.to_string())),
            None => (s, None),
        };
        Some(ProviderRef {
            kind: ProviderKind::parse(kind)?,
            alias,
        })
    }
}

impl fmt::Display for ProviderRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.alias {
            Some(a) => write!(f, "{}.{}", self.kind.as_str(), a),
            None => f.write_str(self.kind.as_str()),
        }
    }
}

/// A provider block after evaluation.
#[derive(Debug, Clone, PartialEq)]
pub struct ProviderConfig {
    pub reference: ProviderRef,
    pub region: Option<String>,
    pub endpoint: Option<String>,
    pub profile: Option<String>,
    pub max_retries: Option<u32>,
    pub requests_per_second: Option<f64>,
    pub timeout: Option<Duration>,
}

impl ProviderConfig {
    pub fn new(reference: ProviderRef) -> ProviderConfig {
        ProviderConfig {
            reference,
            region: None,
            endpoint: None,
            profile: None,
            max_retries: None,
            requests_per_second: None,
            timeout: None,
        }
    }
}

/// Where something was written: `main.hcl:14:3`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct SourceLocation {
    pub file: String,
    pub line: usize,
    pub col: usize,
}

impl fmt::Display for SourceLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.col)
    }
}

/// The inputs of a plan that the cloud stores and planform compares.
///
/// Values may hold unknown markers (see [`unknown_marker`]) until the plans they reference exist.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PlanInputs {
    pub name: String,
    pub description: Option<String>,
    pub product_id: String,
    pub product_version_id: String,
    pub portfolio_id: Option<String>,
    pub provisioned_product_name: String,
    pub stack_region_id: Option<String>,
    pub parameters: BTreeMap<String, String>,
    pub tags: BTreeMap<String, String>,
    pub notification_arns: Vec<String>,
}

/// How long the executor waits on each phase of a plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    pub preview: Duration,
    pub approval: Duration,
    pub execute: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            preview: Duration::from_secs(600),
            approval: Duration::ZERO,
            execute: Duration::from_secs(1800),
        }
    }
}

/// One attribute path listed in `lifecycle.ignore_changes`: `tags`, `tags["owner"]`, `parameters`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AttrPath {
    pub attribute: String,
    pub key: Option<String>,
}

impl fmt::Display for AttrPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.key {
            Some(k) => write!(f, "{}[{:?}]", self.attribute, k),
            None => f.write_str(&self.attribute),
        }
    }
}

/// A plan as the manifests want it.
#[derive(Debug, Clone, PartialEq)]
pub struct DesiredPlan {
    pub address: Address,
    pub provider: ProviderRef,
    pub inputs: PlanInputs,
    /// Parameter keys whose values came from a sensitive variable.
    pub sensitive_parameters: BTreeSet<String>,
    pub execute: bool,
    /// Explicit and implied dependencies.
    pub depends_on: BTreeSet<Address>,
    pub prevent_destroy: bool,
    pub ignore_changes: Vec<AttrPath>,
    pub timeouts: Timeouts,
    pub location: SourceLocation,
}

/// A manifest output after evaluation; `value` may hold unknown markers.
#[derive(Debug, Clone, PartialEq)]
pub struct DesiredOutput {
    pub name: String,
    pub value: OutputValue,
    pub sensitive: bool,
    pub description: Option<String>,
}

/// A JSON-like value, kept free of serde so the domain is not tied to a format.
#[derive(Debug, Clone, PartialEq)]
pub enum OutputValue {
    Null,
    Bool(bool),
    Number(f64),
    String(String),
    List(Vec<OutputValue>),
    Map(BTreeMap<String, OutputValue>),
}

/// `moved { from = plan.a, to = plan.b }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Moved {
    pub from: Address,
    pub to: Address,
}

impl Moved {
    /// Where this block moves `address`: `to` for `from` itself, and, when both name whole
    /// plans (no instance key), each instance of `from` to the instance of `to` with the same
    /// key (`plan.app[0]` → `plan.server[0]`), as Terraform moves a whole resource.
    pub fn destination(&self, address: &Address) -> Option<Address> {
        if *address == self.from {
            return Some(self.to.clone());
        }
        let whole = self.from.key == InstanceKey::None && self.to.key == InstanceKey::None;
        (whole && address.name == self.from.name && address.key != InstanceKey::None).then(|| {
            Address {
                name: self.to.name.clone(),
                key: address.key.clone(),
            }
        })
    }
}

/// Where state is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateBackend {
    Local {
        path: String,
    },
    /// PostgreSQL; the connection string comes from `PG_CONN_STR`, never from a manifest.
    Pg {
        schema_name: String,
    },
}

/// The schema a `state "pg"` block uses when it names none.
pub const DEFAULT_PG_SCHEMA: &str = "planform";

/// Whether `name` is a PostgreSQL schema name planform accepts: an unquoted identifier of 1 to 63
/// characters, lower-case letters, digits and `_`, not starting with a digit, and not in the
/// reserved `pg_` namespace.
pub fn is_pg_schema_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && name.len() <= 63
        && !name.starts_with("pg_")
}

/// Everything the manifests say, evaluated: the input of the diff.
#[derive(Debug, Clone, PartialEq)]
pub struct DesiredState {
    pub workspace: String,
    pub backend: StateBackend,
    pub providers: BTreeMap<ProviderRef, ProviderConfig>,
    pub plans: BTreeMap<Address, DesiredPlan>,
    pub outputs: BTreeMap<String, DesiredOutput>,
    pub moved: Vec<Moved>,
}

impl DesiredState {
    /// Where a plan made for `address` is now: `address` itself while the manifests declare
    /// it, else where their `moved` blocks take it (followed through chains), else, when
    /// `count` was added or removed, `plan.x[0]` for `plan.x` and back (as Terraform moves
    /// them). Tag matching and the unmanaged census use it; the diff applies the same moves
    /// to the state.
    pub fn current_address(&self, address: &Address) -> Address {
        let mut a = address.clone();
        for _ in 0..self.moved.len() {
            if self.plans.contains_key(&a) {
                return a;
            }
            match self.moved.iter().find_map(|m| m.destination(&a)) {
                Some(to) => a = to,
                None => break,
            }
        }
        if self.plans.contains_key(&a) {
            return a;
        }
        let counted = match &a.key {
            InstanceKey::None => Address::with_key(a.name.clone(), InstanceKey::Int(0)),
            InstanceKey::Int(0) => Address::new(a.name.clone()),
            _ => return a,
        };
        if self.plans.contains_key(&counted) {
            counted
        } else {
            a
        }
    }
}

impl Default for DesiredState {
    fn default() -> Self {
        DesiredState {
            workspace: "default".into(),
            backend: StateBackend::Local {
                path: ".planform/state.json".into(),
            },
            providers: BTreeMap::new(),
            plans: BTreeMap::new(),
            outputs: BTreeMap::new(),
            moved: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::is_pg_schema_name;

    #[test]
    fn the_current_address_follows_moves_and_count() {
        use super::{Address, DesiredPlan, DesiredState, InstanceKey, Moved};
        let plan = |a: Address| DesiredPlan {
            address: a,
            provider: crate::ProviderRef::default_for(crate::ProviderKind::Sandbox),
            inputs: crate::PlanInputs::default(),
            sensitive_parameters: Default::default(),
            execute: false,
            depends_on: Default::default(),
            prevent_destroy: false,
            ignore_changes: vec![],
            timeouts: crate::Timeouts::default(),
            location: Default::default(),
        };
        let counted = Address::with_key("server", InstanceKey::Int(0));
        let keyed = Address::with_key("server", InstanceKey::Str("web".into()));
        let mut d = DesiredState::default();
        for a in [&counted, &keyed] {
            d.plans.insert(a.clone(), plan(a.clone()));
        }
        d.moved.push(Moved {
            from: Address::new("old"),
            to: Address::new("app"),
        });
        d.moved.push(Moved {
            from: Address::new("app"),
            to: Address::new("server"),
        });
        // A chain, then count added (plan.server -> plan.server[0]).
        assert_eq!(d.current_address(&Address::new("old")), counted);
        // A whole-plan move takes instances along.
        assert_eq!(
            d.current_address(&Address::with_key("app", InstanceKey::Str("web".into()))),
            keyed
        );
        // Declared addresses stay; unknown ones too.
        assert_eq!(d.current_address(&keyed), keyed);
        assert_eq!(
            d.current_address(&Address::new("gone")),
            Address::new("gone")
        );
    }

    #[test]
    fn pg_schema_names_are_plain_lower_case_identifiers() {
        for good in ["planform", "_state", "ops_state_2", &"s".repeat(63)] {
            assert!(is_pg_schema_name(good), "{good}");
        }
        for bad in [
            "",
            "Planform",
            "1st",
            "pg_state",
            "a-b",
            "a b",
            "é",
            &"s".repeat(64),
        ] {
            assert!(!is_pg_schema_name(bad), "{bad}");
        }
    }
}

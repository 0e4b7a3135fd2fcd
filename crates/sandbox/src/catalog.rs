//! The sandbox's catalog: products, versions with parameter schemas and template outputs,
//! portfolios with approval and stack-region constraints. Loaded from JSON (`docs/sandbox.md`)
//! or the built-in demo catalog.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Catalog {
    pub products: Vec<Product>,
    pub portfolios: Vec<Portfolio>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Product {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default = "default_provider_name")]
    pub provider_name: String,
    pub versions: Vec<Version>,
}

fn default_provider_name() -> String {
    "planform sandbox".into()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Version {
    pub id: String,
    pub name: String,
    #[serde(default = "yes")]
    pub active: bool,
    #[serde(default)]
    pub guidance: Option<String>,
    #[serde(default)]
    pub parameters: Vec<ParameterSchema>,
    #[serde(default)]
    pub resources: Vec<TemplateResource>,
    /// Output name → template. `{param:NAME}` is a parameter's value; `{id:PREFIX}` a stable
    /// generated id such as `vpc-3kd9a0c1b2e4f5`.
    #[serde(default)]
    pub outputs: Vec<OutputTemplate>,
    /// Execution fails when this parameter has this value (for testing ExecuteFailed).
    #[serde(default)]
    pub execute_fails_when: Option<FailureRule>,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParameterSchema {
    pub key: String,
    #[serde(default)]
    pub required: bool,
    #[serde(default)]
    pub allowed_values: Vec<String>,
    #[serde(default)]
    pub default: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateResource {
    pub logical_id: String,
    pub resource_type: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputTemplate {
    pub key: String,
    pub value: String,
    #[serde(default)]
    pub description: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FailureRule {
    pub parameter: String,
    pub value: String,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Portfolio {
    pub id: String,
    pub name: String,
    pub product_ids: Vec<String>,
    /// Operation types (`LaunchProduct`, …) whose plans need approval.
    #[serde(default)]
    pub approval_operation_types: Vec<String>,
    /// `RamUser:name` / `RamRole:name` reviewers.
    #[serde(default)]
    pub approvers: Vec<String>,
    /// Regions stacks may be created in; empty means any.
    #[serde(default)]
    pub stack_regions: Vec<String>,
}

impl Catalog {
    pub fn product(&self, id: &str) -> Option<&Product> {
        self.products.iter().find(|p| p.id == id)
    }

    pub fn version(&self, product: &str, version: &str) -> Option<&Version> {
        self.product(product)?
            .versions
            .iter()
            .find(|v| v.id == version)
    }

    pub fn portfolio(&self, id: &str) -> Option<&Portfolio> {
        self.portfolios.iter().find(|p| p.id == id)
    }

    pub fn portfolios_of<'a>(
        &'a self,
        product: &'a str,
    ) -> impl Iterator<Item = &'a Portfolio> + 'a {
        self.portfolios
            .iter()
            .filter(move |p| p.product_ids.iter().any(|x| x == product))
    }

    pub fn from_json(text: &str) -> Result<Catalog, String> {
        let c: Catalog = serde_json::from_str(text).map_err(|e| format!("invalid catalog: {e}"))?;
        c.check()?;
        Ok(c)
    }

    /// Checks references inside the catalog.
    pub fn check(&self) -> Result<(), String> {
        for p in &self.portfolios {
            for id in &p.product_ids {
                if self.product(id).is_none() {
                    return Err(format!("portfolio {} lists unknown product {id}", p.id));
                }
            }
        }
        Ok(())
    }

    /// The built-in demo catalog: a VPC whose output feeds an ECS product, and a database
    /// whose launch needs approval.
    pub fn demo() -> Catalog {
        Catalog::from_json(include_str!("demo-catalog.json")).expect("the demo catalog is valid")
    }
}

//! The tables, created and migrated on first use. Migrations are numbered and applied in order in
//! one transaction that first takes a transaction-level advisory lock, so concurrent first runs
//! queue instead of racing; `schema_version` records each one applied.

use sha2::{Digest, Sha256};
use tokio_postgres::Client;

/// The migrations, in order. `{s}` is the quoted schema name.
const MIGRATIONS: &[(i32, &str)] = &[(
    1,
    r#"
CREATE TABLE {s}.workspaces (
    workspace  text PRIMARY KEY,
    lineage    text NOT NULL,
    serial     bigint NOT NULL CHECK (serial >= 0),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE {s}.plans (
    workspace text NOT NULL REFERENCES {s}.workspaces (workspace) ON DELETE CASCADE,
    address   text NOT NULL,
    plan      jsonb NOT NULL,
    PRIMARY KEY (workspace, address)
);
CREATE TABLE {s}.locks (
    workspace   text PRIMARY KEY,
    lock_id     text NOT NULL,
    pid         bigint NOT NULL,
    host        text NOT NULL,
    command     text NOT NULL,
    backend_pid integer NOT NULL,
    since       bigint NOT NULL,
    lease_until bigint NOT NULL
);
"#,
)];

/// The newest schema version this planform writes.
pub(crate) const LATEST: i32 = MIGRATIONS[MIGRATIONS.len() - 1].0;

/// The qualified names of the tables of one schema.
#[derive(Debug, Clone)]
pub(crate) struct Tables {
    pub(crate) schema: String,
    pub(crate) workspaces: String,
    pub(crate) plans: String,
    pub(crate) locks: String,
    version: String,
}

impl Tables {
    /// `schema` must satisfy [`planform_model::is_pg_schema_name`]: quoting it is then exact.
    pub(crate) fn new(schema: &str) -> Tables {
        let q = format!("\"{schema}\"");
        Tables {
            schema: schema.to_string(),
            workspaces: format!("{q}.workspaces"),
            plans: format!("{q}.plans"),
            locks: format!("{q}.locks"),
            version: format!("{q}.schema_version"),
        }
    }
}

/// What migrating found.
pub(crate) enum Migrated {
    /// The schema is at [`LATEST`] (now or already).
    Current,
    /// The database was migrated by a newer planform.
    TooNew(i32),
}

/// Creates the schema and its tables, or brings them to [`LATEST`].
pub(crate) async fn migrate(
    client: &mut Client,
    tables: &Tables,
) -> Result<Migrated, tokio_postgres::Error> {
    let tx = client.transaction().await?;
    tx.execute(
        "SELECT pg_advisory_xact_lock($1)",
        &[&advisory_key(&["migrate", &tables.schema])],
    )
    .await?;
    let exists = tx
        .query_opt(
            "SELECT 1 FROM pg_namespace WHERE nspname = $1",
            &[&tables.schema],
        )
        .await?
        .is_some();
    if !exists {
        tx.batch_execute(&format!("CREATE SCHEMA \"{}\"", tables.schema))
            .await?;
    }
    // Checked first: CREATE … IF NOT EXISTS needs the CREATE privilege even when nothing is made.
    let versioned = tx
        .query_one("SELECT to_regclass($1) IS NOT NULL", &[&tables.version])
        .await?
        .get::<_, bool>(0);
    if !versioned {
        tx.batch_execute(&format!(
            "CREATE TABLE {} (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())",
            tables.version
        ))
        .await?;
    }
    let current: i32 = tx
        .query_one(
            &format!("SELECT coalesce(max(version), 0) FROM {}", tables.version),
            &[],
        )
        .await?
        .get(0);
    if current > LATEST {
        return Ok(Migrated::TooNew(current));
    }
    let quoted = format!("\"{}\"", tables.schema);
    for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > current) {
        tx.batch_execute(&sql.replace("{s}", &quoted)).await?;
        tx.execute(
            &format!("INSERT INTO {} (version) VALUES ($1)", tables.version),
            &[version],
        )
        .await?;
    }
    tx.commit().await?;
    Ok(Migrated::Current)
}

/// The 64-bit advisory lock key of `parts` (a digest, so distinct schemas and workspaces get
/// distinct keys with overwhelming probability).
pub(crate) fn advisory_key(parts: &[&str]) -> i64 {
    let mut h = Sha256::new();
    h.update(b"planform");
    for p in parts {
        h.update([0]);
        h.update(p.as_bytes());
    }
    let d = h.finalize();
    i64::from_be_bytes(d[..8].try_into().expect("a digest has 8 bytes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_differ_by_schema_and_workspace_and_are_stable() {
        let a = advisory_key(&["lock", "planform", "prod"]);
        assert_eq!(a, advisory_key(&["lock", "planform", "prod"]));
        assert_ne!(a, advisory_key(&["lock", "planform", "dev"]));
        assert_ne!(a, advisory_key(&["lock", "other", "prod"]));
        // The separator keeps ("ab", "c") and ("a", "bc") apart.
        assert_ne!(
            advisory_key(&["lock", "ab", "c"]),
            advisory_key(&["lock", "a", "bc"])
        );
    }

    #[test]
    fn migrations_are_numbered_in_order_from_one() {
        for (i, (v, _)) in MIGRATIONS.iter().enumerate() {
            assert_eq!(*v, i as i32 + 1);
        }
    }
}

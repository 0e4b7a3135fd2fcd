//! Benchmarks of the whole pipeline (see `benches/`): they sit at the top of the dependency
//! graph, beside the CLI, so no library crate dev-depends on the crates above it.

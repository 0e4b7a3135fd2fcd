//! Unit tests of the whole lowering.

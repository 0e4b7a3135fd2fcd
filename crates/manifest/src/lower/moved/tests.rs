//! Unit tests of the moved phase.

//! Unit tests of the plans phase.

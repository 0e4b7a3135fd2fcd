//! Unit tests of the eval phase.

//! Unit tests of the variables phase.

//! Unit tests of the providers phase.

//! Unit tests of the planform block phase.

//! Unit tests of the instances phase.

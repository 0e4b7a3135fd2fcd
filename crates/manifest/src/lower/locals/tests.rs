//! Unit tests of the locals phase.

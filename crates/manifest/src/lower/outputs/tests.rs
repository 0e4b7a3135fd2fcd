//! Unit tests of the outputs phase.

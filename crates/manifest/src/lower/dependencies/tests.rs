//! Unit tests of the dependencies phase.

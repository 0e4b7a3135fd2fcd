//! Engine tests against the in-memory sandbox.

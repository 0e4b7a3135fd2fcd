//! `Sensitive<T>`: a value that never shows itself in `Debug` or `Display`.

use std::fmt;

/// Wraps a secret (a key, a token, a sensitive parameter). Read it with [`Sensitive::expose`].
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Sensitive<T>(T);

impl<T> Sensitive<T> {
    pub fn new(value: T) -> Sensitive<T> {
        Sensitive(value)
    }

    /// The secret itself; call this only where it is sent or hashed.
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T> fmt::Debug for Sensitive<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("(sensitive value)")
    }
}

impl<T> fmt::Display for Sensitive<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("(sensitive value)")
    }
}

#[cfg(test)]
mod tests {
    use super::Sensitive;

    #[test]
    fn never_prints_the_secret() {
        let s = Sensitive::new("hunter2".to_string());
        assert_eq!(
            format!("{s:?} {s} {s:#?}"),
            "(sensitive value) (sensitive value) (sensitive value)"
        );
        assert_eq!(s.expose(), "hunter2");
    }
}

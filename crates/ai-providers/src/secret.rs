//! Secret values (API keys, secret header values): wiped on drop, redacted in `Debug`.

use std::fmt;

use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

/// An API key or other secret header value.
///
/// Wiped on drop; `Debug` prints `ApiKey(<redacted>)`. There is deliberately
/// no `Display` and no `Serialize`.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct ApiKey(Zeroizing<String>);

impl ApiKey {
    /// Wraps a secret. The argument is moved, not copied.
    pub fn new(secret: String) -> Self {
        Self(Zeroizing::new(secret))
    }

    /// The secret value; use only to build the outgoing header.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether the secret is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<String> for ApiKey {
    fn from(s: String) -> Self {
        Self::new(s)
    }
}

impl From<&str> for ApiKey {
    fn from(s: &str) -> Self {
        Self::new(s.to_owned())
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted() {
        let k = ApiKey::from("sk-very-secret");
        assert_eq!(format!("{k:?}"), "ApiKey(<redacted>)");
        assert_eq!(k.expose(), "sk-very-secret");
    }
}

//! What a credential may do in its database or namespace.

use std::fmt;

/// A privilege level: `readonly`, `readwrite` or `owner` (databases only).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Privileges {
    /// Read what is there.
    Readonly,
    /// Read and write rows or keys.
    Readwrite,
    /// Also create, alter and drop objects (migrations).
    Owner,
}

impl Privileges {
    /// The level `text` names. Anything else is `readwrite`, as it always was: what state
    /// before schema version 2 kept for a role whose statements were changed outside
    /// Terraform, for one.
    pub fn of(text: &str) -> Privileges {
        match text {
            "readonly" => Privileges::Readonly,
            "owner" => Privileges::Owner,
            _ => Privileges::Readwrite,
        }
    }

    /// As Terraform and the servers' group roles name it.
    pub fn as_str(self) -> &'static str {
        match self {
            Privileges::Readonly => "readonly",
            Privileges::Readwrite => "readwrite",
            Privileges::Owner => "owner",
        }
    }
}

impl fmt::Display for Privileges {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::Privileges;

    #[test]
    fn levels_round_trip_and_anything_else_is_readwrite() {
        for level in [Privileges::Readonly, Privileges::Readwrite, Privileges::Owner] {
            assert_eq!(Privileges::of(level.as_str()), level);
        }
        assert_eq!(Privileges::of("changed outside Terraform"), Privileges::Readwrite);
    }
}

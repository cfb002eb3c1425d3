//! Passwords generated from the operating system's cryptographic RNG.

use ring::rand::{SecureRandom, SystemRandom};

use crate::secret::Secret;

const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";

/// A 32-character password of letters and digits: ~185 bits, and safe inside any quoting
/// (SQL literals, connection URLs, Redis ACL rules).
///
/// # Panics
/// When the operating system's RNG fails, which leaves no safe way to go on.
pub fn generate() -> Secret {
    let rng = SystemRandom::new();
    let mut out = String::with_capacity(32);
    while out.len() < 32 {
        let mut byte = [0u8; 1];
        rng.fill(&mut byte).expect("the OS random number generator works");
        // Rejection sampling keeps every character equally likely.
        let limit = 256 - (256 % ALPHABET.len());
        if usize::from(byte[0]) < limit {
            out.push(char::from(ALPHABET[usize::from(byte[0]) % ALPHABET.len()]));
        }
    }
    Secret::new(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn passwords_differ_and_are_plain() {
        let (a, b) = (super::generate(), super::generate());
        assert_ne!(a, b);
        assert_eq!(a.expose().len(), 32);
        assert!(a.expose().chars().all(|c| c.is_ascii_alphanumeric()));
    }
}

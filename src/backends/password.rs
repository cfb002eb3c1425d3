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

/// PBKDF2 iterations in a verifier: PostgreSQL's own default (`scram_iterations`).
const SCRAM_ITERATIONS: u32 = 4096;

/// The SCRAM-SHA-256 verifier PostgreSQL stores for `password` (RFC 5802/7677, in
/// PostgreSQL's `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>` form), with a
/// fresh random salt. `PASSWORD '<verifier>'` sets the password without the password
/// itself reaching the server, so no statement log can hold it.
///
/// Written here rather than taken from `postgres-protocol`: its current releases build on
/// a second generation of the hash, HMAC and RNG crates (digest 0.11, rand 0.10) beside
/// the ones sqlx links, which every provider process would then carry; ring, which the
/// provider already links for TLS, has every primitive needed.
///
/// # Panics
/// When `password` is not printable ASCII, whose SASLprep form is the password itself (as
/// [`generate`] makes); and when the operating system's RNG fails.
pub fn scram_sha_256_verifier(password: &Secret) -> Secret {
    use base64::Engine as _;
    use ring::{digest, hmac, pbkdf2};
    let plain = password.expose();
    assert!(plain.bytes().all(|b| b.is_ascii_graphic()), "only printable ASCII passwords are hashed here");
    let mut salt = [0u8; 16];
    SystemRandom::new().fill(&mut salt).expect("the OS random number generator works");
    let mut salted = [0u8; 32];
    let iterations = std::num::NonZeroU32::new(SCRAM_ITERATIONS).expect("not zero");
    pbkdf2::derive(pbkdf2::PBKDF2_HMAC_SHA256, iterations, &salt, plain.as_bytes(), &mut salted);
    let key = hmac::Key::new(hmac::HMAC_SHA256, &salted);
    let client_key = hmac::sign(&key, b"Client Key");
    let stored_key = digest::digest(&digest::SHA256, client_key.as_ref());
    let server_key = hmac::sign(&key, b"Server Key");
    let b64 = base64::engine::general_purpose::STANDARD;
    Secret::new(format!(
        "SCRAM-SHA-256${SCRAM_ITERATIONS}:{}${}:{}",
        b64.encode(salt),
        b64.encode(stored_key.as_ref()),
        b64.encode(server_key.as_ref())
    ))
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

    #[test]
    fn verifiers_have_postgresql_s_form_and_a_fresh_salt() {
        let password = super::generate();
        let (a, b) = (super::scram_sha_256_verifier(&password), super::scram_sha_256_verifier(&password));
        assert_ne!(a, b, "the salt is random");
        let text = a.expose();
        assert!(!text.contains(password.expose()));
        let parts: Vec<&str> = text.split('$').collect();
        assert_eq!(parts.len(), 3, "{text}");
        assert_eq!(parts[0], "SCRAM-SHA-256");
        assert!(parts[1].starts_with("4096:"), "{text}");
        assert_eq!(parts[2].split(':').count(), 2, "{text}");
    }
}

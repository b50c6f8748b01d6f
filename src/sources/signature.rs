//! Signature and token checks, on the raw body bytes, in constant time.

use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;
use sha2::{Digest, Sha256};
use subtle::{Choice, ConstantTimeEq};

use crate::config::Secret;

/// The digest a signature header carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    Sha256,
    Sha1,
}

/// True when `signature_hex` is the HMAC of `body` under any of `secrets`.
/// The hex is decoded first; malformed hex never matches. Each comparison is
/// constant-time (`Mac::verify_slice`).
pub fn hmac_matches(alg: Algorithm, secrets: &[Secret], body: &[u8], signature_hex: &str) -> bool {
    let Ok(expected) = hex::decode(signature_hex.trim()) else {
        return false;
    };
    let mut matched = false;
    for secret in secrets {
        let ok = match alg {
            Algorithm::Sha256 => verify::<Hmac<Sha256>>(secret, body, &expected),
            Algorithm::Sha1 => verify::<Hmac<Sha1>>(secret, body, &expected),
        };
        // no early exit: every secret is tried, whichever matches
        matched |= ok;
    }
    matched
}

fn verify<M: Mac + KeyInit>(secret: &Secret, body: &[u8], expected: &[u8]) -> bool {
    let Ok(mut mac) = <M as KeyInit>::new_from_slice(secret.expose().as_bytes()) else {
        return false;
    };
    mac.update(body);
    mac.verify_slice(expected).is_ok()
}

/// True when `token` equals any of `secrets`, compared in constant time.
/// The SHA-256 digests are compared, not the bytes themselves: `ct_eq` on
/// slices of different lengths returns at once, which would tell a caller
/// how long the secret is.
pub fn token_matches(secrets: &[Secret], token: &[u8]) -> bool {
    let token = Sha256::digest(token);
    let mut matched = Choice::from(0);
    for secret in secrets {
        let secret = Sha256::digest(secret.expose().as_bytes());
        // no early exit: every secret is compared, whichever matches
        matched |= secret.as_slice().ct_eq(token.as_slice());
    }
    matched.into()
}

/// Hex HMAC-SHA256 of `body`: for tests and for signing examples.
pub fn sign_sha256_hex(secret: &str, body: &[u8]) -> String {
    let mut mac = match <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes()) {
        Ok(m) => m,
        // HMAC takes keys of any length
        Err(_) => return String::new(),
    };
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn github_documented_vector() {
        let secrets = [Secret::new("It's a Secret to Everybody")];
        let sig = "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
        assert!(hmac_matches(
            Algorithm::Sha256,
            &secrets,
            b"Hello, World!",
            sig
        ));
        assert!(!hmac_matches(
            Algorithm::Sha256,
            &secrets,
            b"Hello, World?",
            sig
        ));
        assert!(!hmac_matches(
            Algorithm::Sha256,
            &[Secret::new("other")],
            b"Hello, World!",
            sig
        ));
        assert_eq!(
            sign_sha256_hex("It's a Secret to Everybody", b"Hello, World!"),
            sig
        );
    }

    #[test]
    fn malformed_hex_never_matches() {
        let secrets = [Secret::new("s")];
        assert!(!hmac_matches(Algorithm::Sha256, &secrets, b"x", "zz"));
        assert!(!hmac_matches(Algorithm::Sha256, &secrets, b"x", ""));
        assert!(!hmac_matches(Algorithm::Sha1, &secrets, b"x", "abc"));
    }

    #[test]
    fn any_of_several_secrets() {
        let body = b"{}";
        let sig = sign_sha256_hex("new", body);
        let secrets = [Secret::new("old"), Secret::new("new")];
        assert!(hmac_matches(Algorithm::Sha256, &secrets, body, &sig));
        assert!(token_matches(&secrets, b"old"));
        assert!(!token_matches(&secrets, b"ol"));
        assert!(!token_matches(&secrets, b""));
    }

    #[test]
    fn tokens_match_only_exactly() {
        let one = [Secret::new("gitlab-token-1234")];
        assert!(token_matches(&one, b"gitlab-token-1234"));
        // same length, one byte off
        assert!(!token_matches(&one, b"gitlab-token-1235"));
        // shorter, longer, a prefix, empty
        assert!(!token_matches(&one, b"gitlab-token-123"));
        assert!(!token_matches(&one, b"gitlab-token-12345"));
        assert!(!token_matches(&one, b"gitlab"));
        assert!(!token_matches(&one, b""));
        // any of several secrets, of different lengths
        let several = [
            Secret::new("a"),
            Secret::new("longer-secret"),
            Secret::new("mid-one"),
        ];
        for s in ["a", "longer-secret", "mid-one"] {
            assert!(token_matches(&several, s.as_bytes()), "{s}");
        }
        for s in ["b", "longer-secreT", "mid-on", "amid-one", ""] {
            assert!(!token_matches(&several, s.as_bytes()), "{s}");
        }
        assert!(!token_matches(&[], b"a"));
        // an empty secret matches only an empty token
        assert!(token_matches(&[Secret::new("")], b""));
        assert!(!token_matches(&[Secret::new("")], b"x"));
    }
}

//! Advanced Trade authentication: a CDP API key signs a short-lived JWT
//! (ES256) that goes into every subscribe message.
//!
//! Coinbase's format (the same its own SDKs send): header `{alg: ES256, kid:
//! key name, nonce: random hex, typ: JWT}`, claims `{iss: "cdp", sub: key
//! name, nbf: now, exp: now + 120}`. A token is valid for two minutes, so a
//! fresh one is signed for each subscribe. The private key never appears in
//! `Debug` output or logs.

use std::fmt;

use anyhow::{Context as _, bail};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use p256::ecdsa::signature::Signer as _;
use p256::ecdsa::{Signature, SigningKey};
use p256::pkcs8::DecodePrivateKey as _;
use serde_json::json;

/// Seconds a token stays valid (Coinbase's limit).
pub const TOKEN_LIFETIME_SECS: i64 = 120;

/// A CDP API key: its name (`organizations/{org}/apiKeys/{id}`) and its
/// ECDSA P-256 private key.
#[derive(Clone)]
pub struct CdpKey {
    name: String,
    key: SigningKey,
}

impl fmt::Debug for CdpKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CdpKey")
            .field("name", &self.name)
            .field("key", &"**REDACTED**")
            .finish()
    }
}

impl CdpKey {
    /// Reads a key from its PEM text: SEC1 (`BEGIN EC PRIVATE KEY`, what the
    /// CDP portal downloads) or PKCS#8 (`BEGIN PRIVATE KEY`). A PEM whose
    /// line breaks arrive as the two characters `\n` (as in the portal's JSON
    /// file pasted into an environment variable) is accepted too.
    pub fn from_pem(name: &str, pem: &str) -> anyhow::Result<CdpKey> {
        if name.is_empty() {
            bail!("the API key name is empty");
        }
        let pem = pem.trim().replace("\\n", "\n");
        let key = if pem.contains("BEGIN EC PRIVATE KEY") {
            p256::SecretKey::from_sec1_pem(&pem)
                .map(SigningKey::from)
                .context("reading the API key secret (SEC1 PEM, P-256)")?
        } else if pem.contains("BEGIN PRIVATE KEY") {
            SigningKey::from_pkcs8_pem(&pem)
                .context("reading the API key secret (PKCS#8 PEM, P-256)")?
        } else {
            bail!(
                "the API key secret is not a PEM EC private key (Advanced Trade needs an ECDSA key; Ed25519 keys are not accepted)"
            );
        };
        Ok(CdpKey {
            name: name.to_owned(),
            key,
        })
    }

    /// Reads the JSON key file the CDP portal downloads:
    /// `{"name": "...", "privateKey": "-----BEGIN EC PRIVATE KEY-----\n..."}`.
    pub fn from_json_file(path: &std::path::Path) -> anyhow::Result<CdpKey> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the API key file {}", path.display()))?;
        let v: serde_json::Value = serde_json::from_str(&text)
            .with_context(|| format!("{} is not JSON", path.display()))?;
        let field = |k: &str| {
            v[k].as_str()
                .with_context(|| format!("{} has no string field `{k}`", path.display()))
        };
        CdpKey::from_pem(field("name")?, field("privateKey")?)
    }

    /// The key's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The public half, to verify tokens with.
    pub fn verifying_key(&self) -> p256::ecdsa::VerifyingKey {
        *self.key.verifying_key()
    }

    /// What a server needs to check this key's tokens.
    pub fn verifier(&self) -> JwtVerifier {
        JwtVerifier {
            name: self.name.clone(),
            key: self.verifying_key(),
        }
    }

    /// A token valid from `now_secs` (Unix seconds) for two minutes, with a
    /// fresh random nonce.
    pub fn jwt(&self, now_secs: i64) -> String {
        let nonce: [u8; 32] = rand::random();
        let nonce: String = nonce.iter().map(|b| format!("{b:02x}")).collect();
        let header = json!({"alg": "ES256", "kid": self.name, "nonce": nonce, "typ": "JWT"});
        let claims = json!({
            "iss": "cdp",
            "sub": self.name,
            "nbf": now_secs,
            "exp": now_secs + TOKEN_LIFETIME_SECS,
        });
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        // JWS ES256 signatures are r || s, 32 bytes each (RFC 7518 3.4).
        let sig: Signature = self.key.sign(signing_input.as_bytes());
        format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(sig.to_bytes()))
    }
}

/// Checks tokens of one key (the exchange simulator's `--require-jwt`).
#[derive(Debug, Clone)]
pub struct JwtVerifier {
    name: String,
    key: p256::ecdsa::VerifyingKey,
}

impl JwtVerifier {
    /// See [`verify_jwt`].
    pub fn verify(
        &self,
        token: &str,
        now_secs: i64,
    ) -> anyhow::Result<(serde_json::Value, serde_json::Value)> {
        verify_jwt(token, &self.key, &self.name, now_secs)
    }
}

/// Checks a token as Coinbase would: signature by `key`, algorithm, issuer,
/// subject and key id, and `now_secs` inside its validity. Returns the
/// header and claims. (For tests and the exchange simulator.)
pub fn verify_jwt(
    token: &str,
    key: &p256::ecdsa::VerifyingKey,
    name: &str,
    now_secs: i64,
) -> anyhow::Result<(serde_json::Value, serde_json::Value)> {
    use p256::ecdsa::signature::Verifier as _;
    let parts: Vec<&str> = token.split('.').collect();
    let [h, c, s] = parts[..] else {
        bail!("a JWT has three parts, this one has {}", parts.len());
    };
    let decode = |p: &str| -> anyhow::Result<serde_json::Value> {
        Ok(serde_json::from_slice(&URL_SAFE_NO_PAD.decode(p)?)?)
    };
    let (header, claims) = (decode(h)?, decode(c)?);
    let sig = Signature::from_slice(&URL_SAFE_NO_PAD.decode(s)?)?;
    key.verify(format!("{h}.{c}").as_bytes(), &sig)
        .context("bad signature")?;
    anyhow::ensure!(
        header["alg"] == "ES256" && header["typ"] == "JWT",
        "header {header}"
    );
    anyhow::ensure!(header["kid"] == name && claims["sub"] == name, "key name");
    anyhow::ensure!(claims["iss"] == "cdp", "issuer {}", claims["iss"]);
    let (nbf, exp) = (
        claims["nbf"].as_i64().context("nbf")?,
        claims["exp"].as_i64().context("exp")?,
    );
    anyhow::ensure!(
        nbf <= now_secs && now_secs < exp && exp - nbf <= TOKEN_LIFETIME_SECS,
        "not valid at {now_secs}: nbf {nbf}, exp {exp}"
    );
    Ok((header, claims))
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::pkcs8::{EncodePrivateKey as _, LineEnding};

    const NAME: &str = "organizations/org-1/apiKeys/key-1";

    fn secret() -> p256::SecretKey {
        p256::SecretKey::from_slice(&[7u8; 32]).unwrap()
    }

    #[test]
    fn tokens_from_a_sec1_key_verify_and_carry_coinbase_claims() {
        let pem = secret().to_sec1_pem(LineEnding::LF).unwrap();
        let key = CdpKey::from_pem(NAME, &pem).unwrap();
        let t = key.jwt(1_700_000_000);
        let (header, claims) = verify_jwt(&t, &key.verifying_key(), NAME, 1_700_000_060).unwrap();
        assert_eq!(header["nonce"].as_str().unwrap().len(), 64);
        assert_eq!(claims["exp"], 1_700_000_120);
        // Expired after two minutes, not valid before nbf, fresh nonce each time.
        assert!(verify_jwt(&t, &key.verifying_key(), NAME, 1_700_000_120).is_err());
        assert!(verify_jwt(&t, &key.verifying_key(), NAME, 1_699_999_999).is_err());
        assert_ne!(key.jwt(1_700_000_000), t);
    }

    #[test]
    fn pkcs8_and_escaped_newlines_are_accepted() {
        let pkcs8 = secret().to_pkcs8_pem(LineEnding::LF).unwrap();
        let a = CdpKey::from_pem(NAME, &pkcs8).unwrap();
        let sec1 = secret().to_sec1_pem(LineEnding::LF).unwrap();
        let b = CdpKey::from_pem(NAME, &sec1.replace('\n', "\\n")).unwrap();
        assert_eq!(a.verifying_key(), b.verifying_key());
    }

    #[test]
    fn a_tampered_token_or_another_key_fails() {
        let key = CdpKey::from_pem(NAME, &secret().to_sec1_pem(LineEnding::LF).unwrap()).unwrap();
        let other = p256::SecretKey::from_slice(&[9u8; 32]).unwrap();
        let t = key.jwt(100);
        let other_vk = *SigningKey::from(other).verifying_key();
        assert!(verify_jwt(&t, &other_vk, NAME, 101).is_err());
        let mut forged = t.clone();
        forged.replace_range(t.len() - 3.., "AAA");
        assert!(verify_jwt(&forged, &key.verifying_key(), NAME, 101).is_err());
        assert!(verify_jwt(&t, &key.verifying_key(), "another", 101).is_err());
    }

    #[test]
    fn bad_secrets_are_clear_errors_and_debug_hides_the_key() {
        let e = CdpKey::from_pem(NAME, "not a key").unwrap_err().to_string();
        assert!(e.contains("not a PEM EC private key"), "{e}");
        let e = CdpKey::from_pem(
            NAME,
            "-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----",
        )
        .unwrap_err();
        assert!(format!("{e:#}").contains("SEC1"), "{e:#}");
        let pem = secret().to_sec1_pem(LineEnding::LF).unwrap();
        let key = CdpKey::from_pem(NAME, &pem).unwrap();
        let shown = format!("{key:?}");
        assert!(
            shown.contains("REDACTED") && !shown.contains("BEGIN"),
            "{shown}"
        );
    }
}

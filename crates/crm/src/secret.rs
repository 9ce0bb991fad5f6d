//! Secrets a CRM target needs (a SCIM bearer token, a webhook signing key), sealed with
//! the server's key before they are stored: a copy of the database alone does not give
//! away access to the tenant's CRM. AES-256-GCM (ring, the TLS stack's own crypto), a
//! fresh random nonce per secret, the tenant's id bound in as associated data so a sealed
//! secret copied to another tenant's row does not open.

use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("the server key {path}: {why}")]
    Key { path: String, why: String },
    #[error(
        "a stored CRM secret does not open with this server's key (was the key file replaced?)"
    )]
    Sealed,
    #[error("no randomness: {0}")]
    Random(String),
}

/// The server's key for sealing CRM secrets.
pub struct ServerKey(LessSafeKey);

impl std::fmt::Debug for ServerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ServerKey(..)")
    }
}

impl ServerKey {
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<ServerKey, SecretError> {
        // Refused only for a key of the wrong length, which the type rules out.
        let key = UnboundKey::new(&AES_256_GCM, bytes).map_err(|_| SecretError::Sealed)?;
        Ok(ServerKey(LessSafeKey::new(key)))
    }

    /// Reads the key from `path` (64 hex digits), creating it there (readable by its owner
    /// only) on first use.
    pub fn load_or_create(path: &Path) -> Result<ServerKey, SecretError> {
        let fail = |why: String| SecretError::Key {
            path: path.display().to_string(),
            why,
        };
        match std::fs::read_to_string(path) {
            Ok(text) => {
                let bytes = hex::decode(text.trim()).map_err(|e| fail(format!("not hex: {e}")))?;
                let bytes: [u8; 32] = bytes
                    .try_into()
                    .map_err(|_| fail("a key is 64 hex digits (32 bytes)".into()))?;
                ServerKey::from_bytes(&bytes)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut bytes = [0u8; 32];
                getrandom::fill(&mut bytes).map_err(|e| SecretError::Random(e.to_string()))?;
                write_private(path, &hex::encode(bytes)).map_err(|e| fail(e.to_string()))?;
                ServerKey::from_bytes(&bytes)
            }
            Err(e) => Err(fail(e.to_string())),
        }
    }

    /// Reads the key from `path`; a missing file is an error (only `target set` creates
    /// it: a server with no CRM target never writes a key).
    pub fn load(path: &Path) -> Result<ServerKey, SecretError> {
        if !path.exists() {
            return Err(SecretError::Key {
                path: path.display().to_string(),
                why: "missing (it is created by `scimgate target set`)".into(),
            });
        }
        ServerKey::load_or_create(path)
    }

    /// `secret` sealed for `tenant_id`: hex of the nonce and the ciphertext with its tag.
    pub fn seal(&self, tenant_id: i64, secret: &str) -> Result<String, SecretError> {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(|e| SecretError::Random(e.to_string()))?;
        let mut data = secret.as_bytes().to_vec();
        let aad = tenant_id.to_be_bytes();
        self.0
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad),
                &mut data,
            )
            .map_err(|_| SecretError::Sealed)?;
        Ok(format!("{}{}", hex::encode(nonce), hex::encode(data)))
    }

    /// The secret [`ServerKey::seal`] sealed for `tenant_id`.
    pub fn open(&self, tenant_id: i64, sealed: &str) -> Result<String, SecretError> {
        let bytes = hex::decode(sealed).map_err(|_| SecretError::Sealed)?;
        if bytes.len() < NONCE_LEN {
            return Err(SecretError::Sealed);
        }
        let (nonce, data) = bytes.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| SecretError::Sealed)?;
        let mut data = data.to_vec();
        let aad = tenant_id.to_be_bytes();
        let plain = self
            .0
            .open_in_place(nonce, Aad::from(aad), &mut data)
            .map_err(|_| SecretError::Sealed)?;
        String::from_utf8(plain.to_vec()).map_err(|_| SecretError::Sealed)
    }
}

/// Creates `path` with `text`, readable and writable by its owner only; never replaces
/// an existing file (two processes starting at once keep the first key).
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_secret_opens_only_with_its_key_and_tenant() {
        let key = ServerKey::from_bytes(&[7; 32]).unwrap();
        let sealed = key.seal(1, "s3cret-token").unwrap();
        assert!(!sealed.contains("s3cret"), "not in clear");
        assert_ne!(sealed, key.seal(1, "s3cret-token").unwrap(), "fresh nonce");
        assert_eq!(key.open(1, &sealed).unwrap(), "s3cret-token");
        assert!(key.open(2, &sealed).is_err(), "another tenant's row");
        assert!(ServerKey::from_bytes(&[8; 32])
            .unwrap()
            .open(1, &sealed)
            .is_err());
        let mut tampered = sealed.clone().into_bytes();
        let last = tampered.len() - 1;
        tampered[last] = if tampered[last] == b'0' { b'1' } else { b'0' };
        assert!(key
            .open(1, std::str::from_utf8(&tampered).unwrap())
            .is_err());
        assert!(key.open(1, "zz").is_err());
        assert!(key.open(1, "").is_err());
    }

    #[test]
    fn the_key_file_is_created_once_and_private() {
        let dir = std::env::temp_dir().join(format!("scimgate-key-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("server.key");
        let _ = std::fs::remove_file(&path);
        let sealed = ServerKey::load_or_create(&path)
            .unwrap()
            .seal(3, "x")
            .unwrap();
        let again = ServerKey::load_or_create(&path).unwrap();
        assert_eq!(
            again.open(3, &sealed).unwrap(),
            "x",
            "the same key is read back"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(&path, "not hex").unwrap();
        let e = ServerKey::load_or_create(&path).unwrap_err().to_string();
        assert!(e.contains("server.key") && e.contains("not hex"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

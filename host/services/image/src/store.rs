//! The file store: one file per image under the store directory, written to a temporary
//! name while its checksums are computed, then renamed into place.

use futures::{Stream, StreamExt};
use md5::Md5;
use sha2::{Digest, Sha256, Sha512};
use std::path::{Path, PathBuf};
use tokio::io::AsyncWriteExt;

/// What an upload wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct Written {
    pub path: PathBuf,
    pub size: i64,
    pub md5: String,
    pub sha256: String,
    pub sha512: String,
}

/// Streams `body` into `<dir>/<id>`; nothing is left behind on error.
pub async fn write<S, E>(dir: &Path, id: &str, mut body: S) -> Result<Written, String>
where
    S: Stream<Item = Result<bytes::Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    tokio::fs::create_dir_all(dir)
        .await
        .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let path = dir.join(id);
    let tmp = dir.join(format!(".{id}.{}.part", uuid::Uuid::new_v4().simple()));
    let result = async {
        let mut file = tokio::fs::File::create(&tmp)
            .await
            .map_err(|e| format!("cannot create {}: {e}", tmp.display()))?;
        let (mut md5, mut sha256, mut sha512) = (Md5::new(), Sha256::new(), Sha512::new());
        let mut size = 0i64;
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| format!("upload interrupted: {e}"))?;
            md5.update(&chunk);
            sha256.update(&chunk);
            sha512.update(&chunk);
            size += chunk.len() as i64;
            file.write_all(&chunk)
                .await
                .map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
        }
        file.sync_all()
            .await
            .map_err(|e| format!("cannot sync {}: {e}", tmp.display()))?;
        tokio::fs::rename(&tmp, &path)
            .await
            .map_err(|e| format!("cannot rename to {}: {e}", path.display()))?;
        Ok(Written {
            path: path.clone(),
            size,
            md5: hex::encode(md5.finalize()),
            sha256: hex::encode(sha256.finalize()),
            sha512: hex::encode(sha512.finalize()),
        })
    }
    .await;
    if result.is_err() {
        let _ = tokio::fs::remove_file(&tmp).await;
    }
    result
}

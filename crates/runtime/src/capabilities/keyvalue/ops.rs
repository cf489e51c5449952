//! The key-value operations both drafts share, in neutral terms: each
//! draft's `Host` impls only translate their types onto these.

use bytes::Bytes;
use wasmtime::component::Resource;

use super::{BucketHandle, CasHandle, KeyValueView, KvFault, MAX_BATCH, MAX_HANDLES, Refusal};

/// A swap that found the key changed: a new handle on its current value.
pub(super) struct SwapFailed(pub(super) Resource<CasHandle>);

fn too_many(count: usize) -> KvFault {
    KvFault::Refused(Refusal::Other(format!(
        "a batch of {count} keys is over the limit of {MAX_BATCH}"
    )))
}

impl KeyValueView<'_> {
    /// Refuses a new handle once [`MAX_HANDLES`] are lent.
    fn check_room(&self) -> Result<(), KvFault> {
        if self.context.handles >= MAX_HANDLES {
            return Err(Refusal::Other(format!(
                "this instance holds {MAX_HANDLES} bucket and cas handles already; drop one first"
            ))
            .into());
        }
        Ok(())
    }

    /// Lends `handle` to the guest, counted against [`MAX_HANDLES`].
    fn lend<T: Send + 'static>(&mut self, handle: T) -> Result<Resource<T>, KvFault> {
        self.check_room()?;
        let lent = self.table.push(handle)?;
        self.context.handles += 1;
        Ok(lent)
    }

    /// `open`: a handle on the bucket granted as `name`.
    pub(super) fn open(&mut self, name: &str) -> Result<Resource<BucketHandle>, KvFault> {
        let Some(prefix) = self.context.grants.keyvalue.get(name) else {
            return Err(Refusal::AccessDenied.into());
        };
        let prefix = prefix.as_str().into();
        self.lend(BucketHandle { prefix })
    }

    /// The cache key of `key` in `bucket`.
    fn key(&self, bucket: &Resource<BucketHandle>, key: &str) -> Result<String, KvFault> {
        let prefix = &self.table.get(bucket)?.prefix;
        Ok(super::cache_key(prefix, key)?)
    }

    /// The cache keys of `keys` in `bucket`, at most [`MAX_BATCH`].
    fn keys(
        &self,
        bucket: &Resource<BucketHandle>,
        keys: &[String],
    ) -> Result<Vec<String>, KvFault> {
        if keys.len() > MAX_BATCH {
            return Err(too_many(keys.len()));
        }
        keys.iter().map(|key| self.key(bucket, key)).collect()
    }

    pub(super) async fn get(
        &mut self,
        bucket: &Resource<BucketHandle>,
        key: &str,
    ) -> Result<Option<Vec<u8>>, KvFault> {
        let key = self.key(bucket, key)?;
        Ok(self
            .context
            .cache
            .get(&key)
            .await
            .map(|hit| hit.value.to_vec()))
    }

    pub(super) async fn set(
        &mut self,
        bucket: &Resource<BucketHandle>,
        key: &str,
        value: Vec<u8>,
    ) -> Result<(), KvFault> {
        let key = self.key(bucket, key)?;
        Ok(self.context.cache.put(&key, Bytes::from(value)).await?)
    }

    pub(super) async fn delete(
        &mut self,
        bucket: &Resource<BucketHandle>,
        key: &str,
    ) -> Result<(), KvFault> {
        let key = self.key(bucket, key)?;
        self.context.cache.delete(&key).await;
        Ok(())
    }

    pub(super) async fn exists(
        &mut self,
        bucket: &Resource<BucketHandle>,
        key: &str,
    ) -> Result<bool, KvFault> {
        let key = self.key(bucket, key)?;
        Ok(self.context.cache.get(&key).await.is_some())
    }

    /// One page of the bucket's keys (without its prefix) and the cursor
    /// of the next.
    pub(super) async fn list_keys(
        &mut self,
        bucket: &Resource<BucketHandle>,
        cursor: Option<u64>,
    ) -> Result<(Vec<String>, Option<u64>), KvFault> {
        let prefix = self.table.get(bucket)?.prefix.clone();
        let page = self.context.cache.list_keys(&prefix, cursor).await?;
        let keys = page
            .keys
            .iter()
            .filter_map(|key| key.strip_prefix(&*prefix))
            .filter(|key| !key.is_empty())
            .map(str::to_string)
            .collect();
        Ok((keys, page.cursor))
    }

    pub(super) async fn increment(
        &mut self,
        bucket: &Resource<BucketHandle>,
        key: &str,
        delta: i64,
    ) -> Result<i64, KvFault> {
        let key = self.key(bucket, key)?;
        Ok(self.context.cache.increment(&key, delta).await?)
    }

    pub(super) async fn get_many(
        &mut self,
        bucket: &Resource<BucketHandle>,
        keys: Vec<String>,
    ) -> Result<Vec<Option<(String, Vec<u8>)>>, KvFault> {
        let cache_keys = self.keys(bucket, &keys)?;
        let values = self.context.cache.get_many(&cache_keys).await;
        Ok(keys
            .into_iter()
            .zip(values)
            .map(|(key, value)| value.map(|v| (key, v.to_vec())))
            .collect())
    }

    pub(super) async fn set_many(
        &mut self,
        bucket: &Resource<BucketHandle>,
        entries: Vec<(String, Vec<u8>)>,
    ) -> Result<(), KvFault> {
        if entries.len() > MAX_BATCH {
            return Err(too_many(entries.len()));
        }
        let entries = entries
            .into_iter()
            .map(|(key, value)| Ok((self.key(bucket, &key)?, Bytes::from(value))))
            .collect::<Result<Vec<_>, KvFault>>()?;
        Ok(self.context.cache.put_many(entries).await?)
    }

    pub(super) async fn delete_many(
        &mut self,
        bucket: &Resource<BucketHandle>,
        keys: Vec<String>,
    ) -> Result<(), KvFault> {
        let keys = self.keys(bucket, &keys)?;
        self.context.cache.delete_many(&keys).await;
        Ok(())
    }

    /// A CAS handle on `key` holding its current value.
    pub(super) async fn cas_new(
        &mut self,
        bucket: &Resource<BucketHandle>,
        key: &str,
    ) -> Result<Resource<CasHandle>, KvFault> {
        let key = self.key(bucket, key)?;
        // Before the read, so a guest past the limit costs no round trip.
        self.check_room()?;
        let handle = self.snapshot(key).await?;
        self.lend(handle)
    }

    async fn snapshot(&mut self, key: String) -> Result<CasHandle, KvFault> {
        let snapshot = self.context.cache.current(&key).await?;
        Ok(CasHandle { key, snapshot })
    }

    pub(super) fn cas_current(
        &mut self,
        cas: &Resource<CasHandle>,
    ) -> Result<Option<Vec<u8>>, KvFault> {
        Ok(self.table.get(cas)?.snapshot.as_ref().map(|v| v.to_vec()))
    }

    /// Swaps `value` in if the key still holds the handle's snapshot. The
    /// handle is consumed; when the key had changed, a new one on its
    /// current value takes its place.
    pub(super) async fn swap(
        &mut self,
        cas: Resource<CasHandle>,
        value: Vec<u8>,
    ) -> Result<Result<(), SwapFailed>, KvFault> {
        let CasHandle { key, snapshot } = self.forget(cas)?;
        if self
            .context
            .cache
            .swap(&key, snapshot, Bytes::from(value))
            .await?
        {
            return Ok(Ok(()));
        }
        let fresh = self.snapshot(key).await?;
        Ok(Err(SwapFailed(self.lend(fresh)?)))
    }

    /// Takes a handle out of the table, uncounting it.
    pub(super) fn forget<T: 'static>(&mut self, handle: Resource<T>) -> Result<T, KvFault> {
        let taken = self.table.delete(handle)?;
        self.context.handles = self.context.handles.saturating_sub(1);
        Ok(taken)
    }
}

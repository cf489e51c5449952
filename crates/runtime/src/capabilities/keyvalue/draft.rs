//! `wasi:keyvalue@0.2.0-draft` (wasmCloud 1.x, wasmtime's
//! `wasi-keyvalue`): the operations of `ops.rs` with a numeric cursor and
//! an unsigned `increment`; this draft has no compare-and-swap.

use wasmtime::component::{Linker, Resource};

use super::{BucketHandle, HasKeyValue, KeyValueView, KvFault, Refusal};

mod bindings {
    wasmtime::component::bindgen!({
        path: "../../wit",
        interfaces: "
            import wasi:keyvalue/store@0.2.0-draft;
            import wasi:keyvalue/atomics@0.2.0-draft;
            import wasi:keyvalue/batch@0.2.0-draft;
        ",
        imports: { default: async | trappable },
        with: {
            "wasi:keyvalue/store@0.2.0-draft.bucket": crate::capabilities::keyvalue::BucketHandle,
        },
        trappable_error_type: {
            "wasi:keyvalue/store@0.2.0-draft.error" => crate::capabilities::keyvalue::KvFault,
        },
    });
}

use bindings::wasi::keyvalue0_2_0_draft::{atomics, batch, store};

pub(super) fn link<T: Send + 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> KeyValueView<'_>,
) -> wasmtime::Result<()> {
    store::add_to_linker::<T, HasKeyValue>(linker, get)?;
    atomics::add_to_linker::<T, HasKeyValue>(linker, get)?;
    batch::add_to_linker::<T, HasKeyValue>(linker, get)
}

fn other(message: &str) -> KvFault {
    KvFault::Refused(Refusal::Other(message.into()))
}

impl store::Host for KeyValueView<'_> {
    async fn open(&mut self, identifier: String) -> Result<Resource<BucketHandle>, KvFault> {
        KeyValueView::open(self, &identifier)
    }

    fn convert_error(&mut self, fault: KvFault) -> wasmtime::Result<store::Error> {
        match fault {
            KvFault::Refused(Refusal::AccessDenied) => Ok(store::Error::AccessDenied),
            KvFault::Refused(Refusal::Other(message)) => Ok(store::Error::Other(message)),
            KvFault::Trap(trap) => Err(trap),
        }
    }
}

impl store::HostBucket for KeyValueView<'_> {
    async fn get(
        &mut self,
        bucket: Resource<BucketHandle>,
        key: String,
    ) -> Result<Option<Vec<u8>>, KvFault> {
        KeyValueView::get(self, &bucket, &key).await
    }

    async fn set(
        &mut self,
        bucket: Resource<BucketHandle>,
        key: String,
        value: Vec<u8>,
    ) -> Result<(), KvFault> {
        KeyValueView::set(self, &bucket, &key, value).await
    }

    async fn delete(&mut self, bucket: Resource<BucketHandle>, key: String) -> Result<(), KvFault> {
        KeyValueView::delete(self, &bucket, &key).await
    }

    async fn exists(
        &mut self,
        bucket: Resource<BucketHandle>,
        key: String,
    ) -> Result<bool, KvFault> {
        KeyValueView::exists(self, &bucket, &key).await
    }

    async fn list_keys(
        &mut self,
        bucket: Resource<BucketHandle>,
        cursor: Option<u64>,
    ) -> Result<store::KeyResponse, KvFault> {
        let (keys, cursor) = KeyValueView::list_keys(self, &bucket, cursor).await?;
        Ok(store::KeyResponse { keys, cursor })
    }

    async fn drop(&mut self, bucket: Resource<BucketHandle>) -> wasmtime::Result<()> {
        self.forget(bucket).map(drop).map_err(super::into_trap)
    }
}

impl atomics::Host for KeyValueView<'_> {
    /// Unsigned in this draft: a delta or a result outside `i64`'s
    /// non-negative range is refused rather than wrapped.
    async fn increment(
        &mut self,
        bucket: Resource<BucketHandle>,
        key: String,
        delta: u64,
    ) -> Result<u64, KvFault> {
        let delta = i64::try_from(delta).map_err(|_| other("delta is over 2^63 - 1"))?;
        let value = KeyValueView::increment(self, &bucket, &key, delta).await?;
        u64::try_from(value).map_err(|_| other("the counter is negative"))
    }
}

impl batch::Host for KeyValueView<'_> {
    async fn get_many(
        &mut self,
        bucket: Resource<BucketHandle>,
        keys: Vec<String>,
    ) -> Result<Vec<Option<(String, Vec<u8>)>>, KvFault> {
        KeyValueView::get_many(self, &bucket, keys).await
    }

    async fn set_many(
        &mut self,
        bucket: Resource<BucketHandle>,
        key_values: Vec<(String, Vec<u8>)>,
    ) -> Result<(), KvFault> {
        KeyValueView::set_many(self, &bucket, key_values).await
    }

    async fn delete_many(
        &mut self,
        bucket: Resource<BucketHandle>,
        keys: Vec<String>,
    ) -> Result<(), KvFault> {
        KeyValueView::delete_many(self, &bucket, keys).await
    }
}

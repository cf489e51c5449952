//! `wasi:keyvalue@0.2.0-draft2` (Spin 3): the operations of `ops.rs`,
//! with a string cursor (the decimal form of the host's numeric one) and
//! compare-and-swap.

use wasmtime::component::{Linker, Resource};

use super::ops::SwapFailed;
use super::{BucketHandle, CasHandle, HasKeyValue, KeyValueView, KvFault, Refusal};

mod bindings {
    wasmtime::component::bindgen!({
        path: "../../wit",
        interfaces: "
            import wasi:keyvalue/store@0.2.0-draft2;
            import wasi:keyvalue/atomics@0.2.0-draft2;
            import wasi:keyvalue/batch@0.2.0-draft2;
        ",
        imports: { default: async | trappable },
        with: {
            "wasi:keyvalue/store@0.2.0-draft2.bucket": crate::capabilities::keyvalue::BucketHandle,
            "wasi:keyvalue/atomics@0.2.0-draft2.cas": crate::capabilities::keyvalue::CasHandle,
        },
        trappable_error_type: {
            "wasi:keyvalue/store@0.2.0-draft2.error" => crate::capabilities::keyvalue::KvFault,
        },
    });
}

use bindings::wasi::keyvalue0_2_0_draft2::{atomics, batch, store};

pub(super) fn link<T: Send + 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> KeyValueView<'_>,
) -> wasmtime::Result<()> {
    store::add_to_linker::<T, HasKeyValue>(linker, get)?;
    atomics::add_to_linker::<T, HasKeyValue>(linker, get)?;
    batch::add_to_linker::<T, HasKeyValue>(linker, get)
}

fn error(fault: KvFault) -> wasmtime::Result<store::Error> {
    match fault {
        KvFault::Refused(Refusal::AccessDenied) => Ok(store::Error::AccessDenied),
        KvFault::Refused(Refusal::Other(message)) => Ok(store::Error::Other(message)),
        KvFault::Trap(trap) => Err(trap),
    }
}

impl store::Host for KeyValueView<'_> {
    async fn open(&mut self, identifier: String) -> Result<Resource<BucketHandle>, KvFault> {
        KeyValueView::open(self, &identifier)
    }

    fn convert_error(&mut self, fault: KvFault) -> wasmtime::Result<store::Error> {
        error(fault)
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
        cursor: Option<String>,
    ) -> Result<store::KeyResponse, KvFault> {
        let cursor = cursor
            .map(|c| c.parse::<u64>())
            .transpose()
            .map_err(|_| Refusal::Other("invalid cursor".into()))?;
        let (keys, cursor) = KeyValueView::list_keys(self, &bucket, cursor).await?;
        Ok(store::KeyResponse {
            keys,
            cursor: cursor.map(|c| c.to_string()),
        })
    }

    async fn drop(&mut self, bucket: Resource<BucketHandle>) -> wasmtime::Result<()> {
        self.forget(bucket).map(drop).map_err(super::into_trap)
    }
}

impl atomics::Host for KeyValueView<'_> {
    async fn increment(
        &mut self,
        bucket: Resource<BucketHandle>,
        key: String,
        delta: i64,
    ) -> Result<i64, KvFault> {
        KeyValueView::increment(self, &bucket, &key, delta).await
    }

    async fn swap(
        &mut self,
        cas: Resource<CasHandle>,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), atomics::CasError>> {
        match KeyValueView::swap(self, cas, value).await {
            Ok(Ok(())) => Ok(Ok(())),
            Ok(Err(SwapFailed(fresh))) => Ok(Err(atomics::CasError::CasFailed(fresh))),
            Err(fault) => Ok(Err(atomics::CasError::StoreError(error(fault)?))),
        }
    }
}

impl atomics::HostCas for KeyValueView<'_> {
    async fn new(
        &mut self,
        bucket: Resource<BucketHandle>,
        key: String,
    ) -> Result<Resource<CasHandle>, KvFault> {
        self.cas_new(&bucket, &key).await
    }

    async fn current(&mut self, cas: Resource<CasHandle>) -> Result<Option<Vec<u8>>, KvFault> {
        self.cas_current(&cas)
    }

    async fn drop(&mut self, cas: Resource<CasHandle>) -> wasmtime::Result<()> {
        self.forget(cas).map(drop).map_err(super::into_trap)
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

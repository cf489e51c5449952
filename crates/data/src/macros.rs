//! Binding and row collection, written once for both engines.
//!
//! sqlx's query and row types differ per engine and share no trait that
//! covers binding every `SqlValue` and decoding rows, so a generic function
//! cannot serve both; macros expand the same code against each engine's
//! own types instead of two hand-kept copies drifting apart.

/// Binds `$params` to `$query` in order.
macro_rules! bind_all {
    ($query:expr, $params:expr) => {{
        let mut query = $query;
        for param in $params {
            query = match param {
                $crate::SqlValue::Null => query.bind(None::<String>),
                $crate::SqlValue::Bool(v) => query.bind(*v),
                $crate::SqlValue::Int(v) => query.bind(*v),
                $crate::SqlValue::Float(v) => query.bind(*v),
                $crate::SqlValue::Text(v) => query.bind(v.as_str()),
                $crate::SqlValue::Bytes(v) => query.bind(v.as_slice()),
                $crate::SqlValue::Timestamp(v) => {
                    query.bind($crate::value::timestamp_from_micros(*v)?)
                }
            };
        }
        query
    }};
}

/// Collects at most `limit` rows from a row stream, noting truncation;
/// `$error` maps the driver's errors.
macro_rules! collect_rows {
    ($stream:expr, $decode:path, $limit:expr, $error:path) => {{
        use futures::TryStreamExt as _;
        let mut stream = $stream;
        let mut set = $crate::RowSet::default();
        while let Some(row) = stream.try_next().await.map_err($error)? {
            if set.rows.len() == $limit {
                set.truncated = true;
                break;
            }
            if set.columns.is_empty() {
                set.columns = $crate::value::columns_of(&row);
            }
            set.rows.push($decode(&row)?);
        }
        set
    }};
}

//! The `JobArgs` trait: what makes a type insertable as a job.

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::model::insert_opts::InsertOpts;

/// The args of one kind of job.
///
/// ```
/// use riverlite::JobArgs;
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Serialize, Deserialize)]
/// struct SendEmail { to: String }
///
/// impl JobArgs for SendEmail {
///     const KIND: &'static str = "send_email";
/// }
/// ```
pub trait JobArgs: Serialize + DeserializeOwned + Send + 'static {
    /// The kind stored in `river_job.kind`; 1 to 127 characters, stable across deploys.
    const KIND: &'static str;

    /// Default insert options for this kind. Per-call options override them;
    /// they override the client's defaults.
    fn insert_opts() -> InsertOpts {
        InsertOpts::default()
    }
}

/// Decodes stored args. `{}` also decodes into a unit struct, which
/// serializes to `null` and is stored as `{}`.
pub(crate) fn decode<A: JobArgs>(json: &str) -> serde_json::Result<A> {
    serde_json::from_str(json).or_else(|e| match json {
        "{}" => serde_json::from_str("null").map_err(|_| e),
        _ => Err(e),
    })
}

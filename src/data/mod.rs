//! Everything between an image file's bytes and the model's input tensor, plus the dataset
//! bookkeeping that must be identical natively and in the browser: decoding with safety limits
//! ([`decode`]), preprocessing ([`preprocess`]), augmentation ([`augment`]), time-block splits
//! ([`split`]) and the evaluation protocols built on them ([`protocol`]), and the built-in
//! synthetic all-sky generator ([`synthetic`]).
//!
//! Reading folders and files is the native tool's job; the library only sees bytes and names.

pub mod augment;
pub mod decode;
pub mod preprocess;
pub mod protocol;
pub mod split;
pub mod synthetic;

use serde::{Deserialize, Serialize};

/// The paper's four aurora classes, in the YRS label-code order (1 arc … 4 hot-spot).
pub const AURORA_CLASSES: [&str; 4] = ["arc", "drapery", "radial", "hot_spot"];

/// One labelled (or unlabelled) image of a dataset, identified by a stable id (its path
/// relative to the dataset root, or its synthetic name).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Sample {
    pub id: String,
    pub label: Option<usize>,
    /// Seconds since the Unix epoch, when the name carries a time (YRS `NYYYYMMDDGHHMMSS`).
    pub timestamp: Option<i64>,
}

impl Sample {
    pub fn new(id: impl Into<String>, label: Option<usize>) -> Self {
        let id = id.into();
        let timestamp = split::timestamp_from_name(&id);
        Self { id, label, timestamp }
    }
}

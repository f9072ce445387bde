//! aurora-hash: aurora image classification and retrieval by deep hashing, after Chen, Peng &
//! Gan (2020), "Aurora image classification and retrieval based on deep hashing".
//!
//! This crate is the part shared by the native tool (`model-export/`) and the browser client
//! (`web/`): the network ([`model`]), its loss ([`loss`]) and training step ([`train`]),
//! image decoding and preprocessing and the synthetic data ([`data`]), binary codes and
//! Hamming search ([`hashing`]) and the paper's scores ([`metrics`]). It does no file or
//! network I/O and has no UI: callers hand it bytes and get values back.

pub mod data;
pub mod answer;
pub mod baselines;
pub mod calibrate;
pub mod export;
pub mod hashing;
pub mod index;
pub mod infer;
pub mod loss;
pub mod metrics;
pub mod model;
pub mod ood;
pub mod rng;
#[cfg(feature = "train")]
pub mod train;

//! zombie-cleaner: a node agent that finds zombie processes that stay around,
//! attributes each to its container and pod, and after several confirmations
//! removes them by restarting that container through the container runtime.
//!
//! The crate is laid out as the pipeline it runs:
//! [`scan`] → [`attribute`] → [`confirm`] → [`guard`] → [`clean`] → [`report`].
//! Side effects sit at the edges behind small traits ([`runtime::Runtime`],
//! [`signal`]); the middle steps are pure functions over plain values.
#![forbid(unsafe_code)]

pub mod attribute;
pub mod clean;
pub mod cli;
pub mod config;
pub mod confirm;
pub mod daemon;
pub mod events;
pub mod guard;
pub mod logging;
pub mod report;
pub mod runtime;
pub mod sanitize;
pub mod scan;
pub mod scan_command;
pub mod signal;

//! The load plan: stage math and arrival schedules, as pure data.
//!
//! Below `scenario` (which validates `[load]` into a [`executor::Plan`]) and
//! `engine` (whose supervisor follows it); owns no clock and no RNG.

pub mod capacity;
pub mod executor;
pub mod placement;

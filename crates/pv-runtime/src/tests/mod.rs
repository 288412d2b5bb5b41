//! The decision tables of the update engine (spec §4, §10) on the fake
//! kernel: a real storage, boot env, trails and progress records in a temp
//! dir; no root, no containers, no waiting.

mod gc;
mod hub_health;
mod resume;
mod rig;
mod rollback;
mod transition;
mod volumes;
mod wake;
mod wontgo;

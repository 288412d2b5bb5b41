//! The hub's integration suite: one binary, a hub per test on a loopback
//! port with its own SQLite database.

mod acceptance;
mod common;
mod isolation;
mod openapi;
mod rollouts;

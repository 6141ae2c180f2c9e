//! Outbound HTTP clients.

pub mod gateway;
mod snowflake;

pub use gateway::{GatewayApi, GatewayClient, GatewayError};

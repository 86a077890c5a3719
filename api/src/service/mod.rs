//! Business logic, one module per domain concept. Resolvers and HTTP handlers only call these.

pub mod account;

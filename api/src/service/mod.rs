//! Business logic, one module per domain concept. Resolvers and HTTP handlers only call these;
//! every function that acts for a caller checks [`authz`] first, and every change is
//! [`audit`]ed.

pub mod account;
pub mod audit;
pub mod authz;
pub mod ca;
pub mod caller;
pub mod network;
pub mod page;
pub mod tenant;
pub mod uscc;

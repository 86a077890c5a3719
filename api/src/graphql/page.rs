//! Relay connections over service pages.

use crate::service::page::{Page, PageArgs};
use async_graphql::connection::{Connection, Edge};
use async_graphql::{Context, OutputType, SimpleObject};

/// Fields every connection has beside edges and pageInfo.
#[derive(SimpleObject, Debug, Clone, Copy)]
pub struct Counted {
    /// How many items the whole listing holds (costs a count; ask only when needed).
    pub total_count: Option<u64>,
}

/// Page arguments from a resolver's Relay arguments; the total is counted only when the query
/// asks for `totalCount`.
pub fn args(
    ctx: &Context<'_>,
    after: Option<String>,
    before: Option<String>,
    first: Option<i32>,
    last: Option<i32>,
) -> PageArgs {
    PageArgs {
        after,
        before,
        first,
        last,
        want_total: ctx.look_ahead().field("totalCount").exists(),
    }
}

/// A connection of `page`, with cursors from `cursor_of` and nodes from `node`.
pub fn connection<T, N: OutputType>(
    page: Page<T>,
    cursor_of: impl Fn(&T) -> String,
    node: impl Fn(T) -> N,
) -> Connection<String, N, Counted> {
    let mut c = Connection::with_additional_fields(
        page.has_previous,
        page.has_next,
        Counted {
            total_count: page.total,
        },
    );
    c.edges = page
        .items
        .into_iter()
        .map(|t| Edge::new(cursor_of(&t), node(t)))
        .collect();
    c
}

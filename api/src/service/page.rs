//! Keyset pagination: stable pages over a unique, ordered key (UUIDv7 ids, audit sequence
//! numbers), whatever is inserted meanwhile. Cursors are opaque to clients.

use crate::error::ApiError;
use base64::Engine as _;
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, Order, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, Select,
};
use std::str::FromStr;

/// Most items one page may hold.
pub const MAX_PAGE: u64 = 100;
/// Items in a page when the client does not say.
pub const DEFAULT_PAGE: u64 = 20;

/// What a client asked for, in Relay's terms.
#[derive(Clone, Debug, Default)]
pub struct PageArgs {
    /// Items after this cursor.
    pub after: Option<String>,
    /// Items before this cursor.
    pub before: Option<String>,
    /// The first n items (of those after `after`).
    pub first: Option<i32>,
    /// The last n items (of those before `before`).
    pub last: Option<i32>,
    /// Whether the total count is wanted (it costs a query).
    pub want_total: bool,
}

/// A page of items.
#[derive(Clone, Debug)]
pub struct Page<T> {
    /// The items, in listing order.
    pub items: Vec<T>,
    /// Whether items come before the first one.
    pub has_previous: bool,
    /// Whether items come after the last one.
    pub has_next: bool,
    /// How many items the whole listing holds, when asked for.
    pub total: Option<u64>,
}

impl<T> Page<T> {
    /// Maps the items, keeping the page's facts.
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            has_previous: self.has_previous,
            has_next: self.has_next,
            total: self.total,
        }
    }
}

/// A key usable in cursors.
pub trait CursorKey: FromStr + ToString + Into<sea_orm::Value> + Clone {}
impl CursorKey for uuid::Uuid {}
impl CursorKey for i64 {}

/// Encodes a key as an opaque cursor.
pub fn cursor(key: &impl ToString) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(key.to_string())
}

fn decode<K: CursorKey>(field: &str, c: &str) -> Result<K, ApiError> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(c)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| ApiError::invalid(field, "not a cursor from this listing"))
}

fn count(field: &str, n: Option<i32>) -> Result<Option<u64>, ApiError> {
    match n {
        None => Ok(None),
        Some(n) if n < 0 => Err(ApiError::invalid(field, "must not be negative")),
        Some(n) if n as u64 > MAX_PAGE => Err(ApiError::invalid(
            field,
            format!("at most {MAX_PAGE} items per page"),
        )),
        Some(n) => Ok(Some(n as u64)),
    }
}

/// Lists one page of `select`, ordered by the unique `key` column (of Rust type `K`) in `order`.
pub async fn keyset<E, C, K>(
    db: &impl ConnectionTrait,
    select: Select<E>,
    key: C,
    order: Order,
    args: PageArgs,
) -> Result<Page<E::Model>, ApiError>
where
    E: EntityTrait,
    E::Model: Sync,
    C: ColumnTrait + Copy,
    K: CursorKey,
{
    let first = count("first", args.first)?;
    let last = count("last", args.last)?;
    if first.is_some() && last.is_some() {
        return Err(ApiError::invalid("last", "give first or last, not both"));
    }
    let after: Option<K> = args
        .after
        .as_deref()
        .map(|c| decode("after", c))
        .transpose()?;
    let before: Option<K> = args
        .before
        .as_deref()
        .map(|c| decode("before", c))
        .transpose()?;

    let total = if args.want_total {
        Some(select.clone().count(db).await?)
    } else {
        None
    };
    // "after" means later in listing order; for a descending listing that is a smaller key.
    let later = |k: K| match order {
        Order::Desc => key.lt(k),
        _ => key.gt(k),
    };
    let earlier = |k: K| match order {
        Order::Desc => key.gt(k),
        _ => key.lt(k),
    };
    let mut q = select;
    if let Some(k) = after.clone() {
        q = q.filter(later(k));
    }
    if let Some(k) = before.clone() {
        q = q.filter(earlier(k));
    }
    let backwards = last.is_some();
    let n = last.or(first).unwrap_or(DEFAULT_PAGE);
    let reversed = match order {
        Order::Desc => Order::Asc,
        _ => Order::Desc,
    };
    q = q
        .order_by(key, if backwards { reversed } else { order })
        .limit(n + 1);
    let mut items = q.all(db).await?;
    let more = items.len() as u64 > n;
    items.truncate(n as usize);
    if backwards {
        items.reverse();
    }
    Ok(Page {
        items,
        has_previous: if backwards { more } else { after.is_some() },
        has_next: if backwards { before.is_some() } else { more },
        total,
    })
}

//! Cursor paging: newest first, `first` 20 by default and at most 100.
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::error::ServiceError;

pub const DEFAULT_PAGE: u64 = 20;
pub const MAX_PAGE: u64 = 100;

/// A validated page request: rows with a key below `before_key`, at most `size` of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageRequest {
    pub size: u64,
    pub before_key: Option<i64>,
}

impl PageRequest {
    pub fn parse(first: Option<i32>, after: Option<&str>) -> Result<PageRequest, ServiceError> {
        let size = match first {
            None => DEFAULT_PAGE,
            Some(n) if n < 0 => {
                return Err(ServiceError::BadInput(
                    "`first` must not be negative".into(),
                ));
            }
            Some(n) if n as u64 > MAX_PAGE => {
                return Err(ServiceError::BadInput(format!(
                    "`first` must be at most {MAX_PAGE}"
                )));
            }
            Some(n) => n as u64,
        };
        let before_key = after.map(decode_cursor).transpose()?;
        Ok(PageRequest { size, before_key })
    }
}

pub fn encode_cursor(key: i64) -> String {
    URL_SAFE_NO_PAD.encode(format!("c:{key}"))
}

pub fn decode_cursor(raw: &str) -> Result<i64, ServiceError> {
    URL_SAFE_NO_PAD
        .decode(raw)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.strip_prefix("c:").and_then(|k| k.parse().ok()))
        .ok_or_else(|| ServiceError::BadInput("malformed cursor".into()))
}

/// One page of rows, newest first, each with its cursor.
#[derive(Clone, Debug)]
pub struct Page<T> {
    pub items: Vec<(String, T)>,
    pub has_next: bool,
    pub has_previous: bool,
    pub total: u64,
}

impl<T> Page<T> {
    /// Builds a page from up to `size + 1` rows fetched in key order.
    pub fn from_rows(rows: Vec<(i64, T)>, request: PageRequest, total: u64) -> Page<T> {
        let rows = rows
            .into_iter()
            .map(|(k, t)| (encode_cursor(k), t))
            .collect();
        Page::from_cursors(rows, request.size, request.before_key.is_some(), total)
    }

    /// Builds a page from up to `size + 1` rows that carry their own cursors.
    pub fn from_cursors(
        mut rows: Vec<(String, T)>,
        size: u64,
        has_previous: bool,
        total: u64,
    ) -> Page<T> {
        let has_next = rows.len() as u64 > size;
        rows.truncate(size as usize);
        Page {
            items: rows,
            has_next,
            has_previous,
            total,
        }
    }
}

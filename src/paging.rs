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

/// One page of rows, newest first.
#[derive(Clone, Debug)]
pub struct Page<T> {
    pub items: Vec<(i64, T)>,
    pub has_next: bool,
    pub has_previous: bool,
    pub total: u64,
}

impl<T> Page<T> {
    /// Builds a page from up to `size + 1` rows fetched in key order.
    pub fn from_rows(mut rows: Vec<(i64, T)>, request: PageRequest, total: u64) -> Page<T> {
        let has_next = rows.len() as u64 > request.size;
        rows.truncate(request.size as usize);
        Page {
            items: rows,
            has_next,
            has_previous: request.before_key.is_some(),
            total,
        }
    }
}

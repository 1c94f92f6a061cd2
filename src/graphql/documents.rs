//! Parsed documents by their text. Clients send the same few queries over and over; parsing one
//! (pest, with positions for every node) costs far more than copying the parsed tree, so the
//! server parses each distinct text once. Only the parse is kept: every request is still checked
//! (depth, aliases, validation against the schema), authorized and executed on its own.
use std::sync::{Arc, LazyLock};

use async_graphql::parser::types::ExecutableDocument;

use crate::text_cache::TextCache;

/// The process's parsed documents: at most 256, of query texts of at most 16 KiB, 512 KiB of
/// text in all (a parsed tree is a small multiple of its text).
static DOCUMENTS: LazyLock<TextCache<Arc<ExecutableDocument>>> =
    LazyLock::new(|| TextCache::new(256, 512 * 1024, 16 * 1024));

/// The document `query` parses to; None when it does not parse (the executor, given the text,
/// reports where and why).
pub fn parse(query: &str) -> Option<Arc<ExecutableDocument>> {
    DOCUMENTS
        .get_or_try(query, |q| {
            async_graphql::parser::parse_query(q).map(Arc::new)
        })
        .ok()
}

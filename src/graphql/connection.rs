//! Relay connections with `totalCount`, named as the contract names them.
use async_graphql::SimpleObject;

use crate::paging::Page;

#[derive(SimpleObject, Clone, Debug, Default)]
pub struct PageInfo {
    pub has_next_page: bool,
    pub has_previous_page: bool,
    pub start_cursor: Option<String>,
    pub end_cursor: Option<String>,
}

/// Declares `$conn { edges, pageInfo, totalCount }` and `$edge { cursor, node }`.
macro_rules! connection {
    ($conn:ident, $edge:ident, $node:ty) => {
        #[derive(async_graphql::SimpleObject, Clone)]
        pub struct $edge {
            pub cursor: String,
            pub node: $node,
        }

        #[derive(async_graphql::SimpleObject, Clone)]
        pub struct $conn {
            pub edges: Vec<$edge>,
            pub page_info: $crate::graphql::connection::PageInfo,
            pub total_count: i32,
        }

        impl $conn {
            #[allow(dead_code)]
            pub fn from_page<T>(
                page: $crate::paging::Page<T>,
                to_node: impl Fn(T) -> $node,
            ) -> Self {
                let page_info = $crate::graphql::connection::page_info(&page);
                let total_count = i32::try_from(page.total).unwrap_or(i32::MAX);
                let edges = page
                    .items
                    .into_iter()
                    .map(|(cursor, item)| $edge {
                        cursor,
                        node: to_node(item),
                    })
                    .collect();
                $conn {
                    edges,
                    page_info,
                    total_count,
                }
            }
        }
    };
}
pub(crate) use connection;

pub fn page_info<T>(page: &Page<T>) -> PageInfo {
    PageInfo {
        has_next_page: page.has_next,
        has_previous_page: page.has_previous,
        start_cursor: page.items.first().map(|(c, _)| c.clone()),
        end_cursor: page.items.last().map(|(c, _)| c.clone()),
    }
}

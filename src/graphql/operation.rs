//! What the server checks and measures of an operation around its execution, without a schema
//! extension (which would put a hook on every field the executor resolves): the alias limit,
//! checked on the parsed document, and per-root-field metrics, recorded from the response.
use std::collections::HashSet;
use std::time::Duration;

use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, OperationDefinition, Selection, SelectionSet,
};
use async_graphql::{PathSegment, Response};

use crate::telemetry::{FieldLabels, Metrics};

/// Aliases written in a selection set, not following fragment spreads: each fragment's own
/// aliases are counted once where it is defined, so the count is linear in the document's size.
fn count_aliases(set: &SelectionSet) -> usize {
    set.items
        .iter()
        .map(|item| match &item.node {
            Selection::Field(f) => {
                usize::from(f.node.alias.is_some()) + count_aliases(&f.node.selection_set.node)
            }
            Selection::InlineFragment(f) => count_aliases(&f.node.selection_set.node),
            Selection::FragmentSpread(_) => 0,
        })
        .sum()
}

/// The refusal of a document with more than `max` aliases.
pub fn alias_refusal(document: &ExecutableDocument, max: usize) -> Option<String> {
    let in_operations: usize = document
        .operations
        .iter()
        .map(|(_, op)| count_aliases(&op.node.selection_set.node))
        .sum();
    let in_fragments: usize = document
        .fragments
        .values()
        .map(|f| count_aliases(&f.node.selection_set.node))
        .sum();
    let aliases = in_operations + in_fragments;
    (aliases > max).then(|| format!("the query has {aliases} aliases; at most {max} are allowed"))
}

/// The operation a request runs: the only one, or the one named.
pub fn selected<'d>(
    document: &'d ExecutableDocument,
    name: Option<&str>,
) -> Option<&'d OperationDefinition> {
    match (&document.operations, name) {
        (DocumentOperations::Single(op), _) => Some(&op.node),
        (DocumentOperations::Multiple(ops), Some(name)) => ops.get(name).map(|op| &op.node),
        (DocumentOperations::Multiple(_), None) => None,
    }
}

/// A root field of an operation: its name in the schema and its key in the response.
#[derive(Debug, PartialEq, Eq)]
pub struct RootField {
    pub name: String,
    pub key: String,
}

/// The root fields an operation selects, through fragments.
pub fn root_fields(document: &ExecutableDocument, name: Option<&str>) -> Vec<RootField> {
    let mut fields = Vec::new();
    if let Some(operation) = selected(document, name) {
        let mut seen = HashSet::new();
        collect(
            document,
            &operation.selection_set.node,
            &mut seen,
            &mut fields,
        );
    }
    fields
}

fn collect<'d>(
    document: &'d ExecutableDocument,
    set: &'d SelectionSet,
    spread: &mut HashSet<&'d str>,
    fields: &mut Vec<RootField>,
) {
    for item in &set.items {
        match &item.node {
            Selection::Field(f) => {
                let name = f.node.name.node.to_string();
                let key = f.node.response_key().node.to_string();
                if !fields.iter().any(|r| r.key == key) {
                    fields.push(RootField { name, key });
                }
            }
            Selection::InlineFragment(f) => {
                collect(document, &f.node.selection_set.node, spread, fields);
            }
            Selection::FragmentSpread(s) => {
                let name = s.node.fragment_name.node.as_str();
                // A fragment spread twice (or, in an invalid document, in a cycle) counts once.
                if spread.insert(name)
                    && let Some(fragment) = document.fragments.get(name)
                {
                    collect(document, &fragment.node.selection_set.node, spread, fields);
                }
            }
        }
    }
}

/// Counts and times each root field of an executed operation. The labels are schema field names:
/// nothing is recorded for a request refused before execution (a parse or validation error has
/// no path), so a client cannot add a label. A root field is "error" when an error was reported
/// at or under it.
pub fn record(metrics: &Metrics, roots: &[RootField], response: &Response, took: Duration) {
    if response.errors.iter().any(|e| e.path.is_empty()) {
        return;
    }
    for root in roots {
        let failed = response
            .errors
            .iter()
            .any(|e| matches!(e.path.first(), Some(PathSegment::Field(key)) if *key == root.key));
        let labels = FieldLabels {
            field: root.name.clone(),
            outcome: if failed { "error" } else { "ok" },
        };
        metrics.graphql_requests.get_or_create(&labels).inc();
        metrics
            .graphql_latency
            .get_or_create(&labels)
            .observe(took.as_secs_f64());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roots(query: &str, name: Option<&str>) -> Vec<(String, String)> {
        let document = async_graphql::parser::parse_query(query).expect("parses");
        root_fields(&document, name)
            .into_iter()
            .map(|r| (r.name, r.key))
            .collect()
    }

    #[test]
    fn root_fields_follow_aliases_and_fragments_once() {
        let found = roots(
            "query A { mine: me { id } ...F ... on Query { products(skus: []) { sku } } }
             fragment F on Query { me { id } ...G } fragment G on Query { ...F }
             query B { brand { name } }",
            Some("A"),
        );
        assert_eq!(
            found,
            vec![
                ("me".to_owned(), "mine".to_owned()),
                ("me".to_owned(), "me".to_owned()),
                ("products".to_owned(), "products".to_owned()),
            ]
        );
        assert!(roots("query A { me { id } } query B { brand { name } }", None).is_empty());
    }

    #[test]
    fn aliases_are_counted_in_operations_and_fragments() {
        let document = async_graphql::parser::parse_query(
            "{ a: me { b: id } ...F } fragment F on Query { c: me { id } }",
        )
        .expect("parses");
        assert_eq!(alias_refusal(&document, 3), None);
        assert_eq!(
            alias_refusal(&document, 2).as_deref(),
            Some("the query has 3 aliases; at most 2 are allowed")
        );
    }
}

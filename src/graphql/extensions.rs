//! Schema extensions: per-root-field metrics and the alias limit.
use std::sync::Arc;
use std::time::Instant;

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextParseQuery, NextResolve, ResolveInfo,
};
use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::{ServerError, ServerResult, Value, Variables};

use crate::telemetry::{FieldLabels, Metrics};

/// Counts and times each root field: a bounded label set taken from the schema, never from the client.
pub struct FieldMetrics(pub Arc<Metrics>);

impl ExtensionFactory for FieldMetrics {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(FieldMetricsExtension(self.0.clone()))
    }
}

struct FieldMetricsExtension(Arc<Metrics>);

#[async_trait::async_trait]
impl Extension for FieldMetricsExtension {
    async fn resolve(
        &self,
        ctx: &ExtensionContext<'_>,
        info: ResolveInfo<'_>,
        next: NextResolve<'_>,
    ) -> ServerResult<Option<Value>> {
        if info.path_node.parent.is_some() {
            return next.run(ctx, info).await;
        }
        // The field name as the schema defines it (not the client's alias).
        let field = info.name.to_owned();
        let started = Instant::now();
        let result = next.run(ctx, info).await;
        let outcome = if result.is_ok() { "ok" } else { "error" };
        let labels = FieldLabels { field, outcome };
        self.0.graphql_requests.get_or_create(&labels).inc();
        self.0
            .graphql_latency
            .get_or_create(&labels)
            .observe(started.elapsed().as_secs_f64());
        result
    }
}

/// Refuses documents with more aliases than allowed.
pub struct AliasLimit(pub usize);

impl ExtensionFactory for AliasLimit {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(AliasLimitExtension(self.0))
    }
}

struct AliasLimitExtension(usize);

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

#[async_trait::async_trait]
impl Extension for AliasLimitExtension {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let doc = next.run(ctx, query, variables).await?;
        let in_operations: usize = doc
            .operations
            .iter()
            .map(|(_, op)| count_aliases(&op.node.selection_set.node))
            .sum();
        let in_fragments: usize = doc
            .fragments
            .values()
            .map(|f| count_aliases(&f.node.selection_set.node))
            .sum();
        let aliases = in_operations + in_fragments;
        if aliases > self.0 {
            return Err(ServerError::new(
                format!(
                    "the query has {aliases} aliases; at most {} are allowed",
                    self.0
                ),
                None,
            ));
        }
        Ok(doc)
    }
}

//! The printable label of a CARRIER return, served at the link `Return.labelUrl` gives.
use std::sync::LazyLock;

use handlebars::Handlebars;

use crate::db::Store;
use crate::db::entities::return_line;
use crate::error::{ServiceError, ServiceResult};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

const TEMPLATE: &str = include_str!("../../templates/returns/label.html.hbs");

static LABELS: LazyLock<Handlebars<'static>> = LazyLock::new(|| {
    let mut registry = Handlebars::new();
    registry.set_strict_mode(true);
    registry
        .register_template_string("label", TEMPLATE)
        .expect("the label template parses");
    registry
});

/// The label page for the token in its link; `None` when no return has that token.
pub async fn render(store: &Store, token: &str) -> ServiceResult<Option<String>> {
    let Some((ret, order, location)) = super::label(store, token).await? else {
        return Ok(None);
    };
    let items: i32 = return_line::Entity::find()
        .filter(return_line::Column::ReturnId.eq(ret.id))
        .all(&store.db)
        .await?
        .iter()
        .map(|l| l.quantity)
        .sum();
    let context = serde_json::json!({
        "rma": ret.rma_number,
        "order": order.number,
        "destination": location.map(|l| format!("{} ({})", l.name, l.code)),
        "items": items,
        "plural": items != 1,
        "expectedBy": ret.refund_expected_by.to_string(),
    });
    LABELS
        .render("label", &context)
        .map(Some)
        .map_err(|e| ServiceError::Internal(format!("label template: {e}")))
}

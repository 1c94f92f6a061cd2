//! Helpers the migrations share: names, foreign keys and indexes.
use sea_orm_migration::prelude::*;

pub(crate) fn name(n: &str) -> Alias {
    Alias::new(n)
}

pub(crate) fn fk(from: &str, col: &str, to: &str) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .from(name(from), name(col))
        .to(name(to), name("id"))
        .on_delete(ForeignKeyAction::Restrict)
        .to_owned()
}

pub(crate) async fn index(
    m: &SchemaManager<'_>,
    table: &str,
    index: &str,
    cols: &[&str],
    unique: bool,
) -> Result<(), DbErr> {
    let mut stmt = Index::create();
    stmt.name(index).table(name(table));
    for c in cols {
        stmt.col(name(c));
    }
    if unique {
        stmt.unique();
    }
    m.create_index(stmt.to_owned()).await
}

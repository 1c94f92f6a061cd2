//! The one place that maps service errors to GraphQL: refusals to userErrors, the rest to codes.
use async_graphql::{Enum, ErrorExtensions, SimpleObject};

use crate::error::{Refusal, RefusalCode, ServiceError};

#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[graphql(remote = "crate::error::RefusalCode")]
pub enum UserErrorCode {
    Invalid,
    NotFound,
    OutOfStock,
    NotModifiable,
    NotReturnable,
    VersionConflict,
    TemplateInvalid,
    Duplicate,
}

#[derive(SimpleObject, Clone, Debug)]
pub struct SourceLocation {
    /// Which part: subject, html, text or dataQuery.
    pub part: String,
    pub line: i32,
    pub column: i32,
}

/// A business refusal: the request was understood and refused; nothing was changed.
#[derive(SimpleObject, Clone, Debug)]
pub struct UserError {
    pub field: Option<Vec<String>>,
    pub code: UserErrorCode,
    pub message: String,
    /// Where in a submitted template or query the problem is, when it is about one.
    pub location: Option<SourceLocation>,
}

impl From<Refusal> for UserError {
    fn from(r: Refusal) -> Self {
        UserError {
            field: (!r.field.is_empty()).then_some(r.field),
            code: r.code.into(),
            message: r.message,
            location: r.location.map(|(part, line, column)| SourceLocation {
                part,
                line: i32::try_from(line).unwrap_or(i32::MAX),
                column: i32::try_from(column).unwrap_or(i32::MAX),
            }),
        }
    }
}

fn coded(message: &str, code: &str) -> async_graphql::Error {
    async_graphql::Error::new(message).extend_with(|_, e| e.set("code", code))
}

/// A top-level error with its `extensions.code`; internal causes are logged, never sent.
pub fn gql_error(err: ServiceError) -> async_graphql::Error {
    match err {
        ServiceError::Unauthenticated => coded("authentication required", "UNAUTHENTICATED"),
        ServiceError::Forbidden => coded("not allowed for this role", "FORBIDDEN"),
        ServiceError::BadInput(message) => coded(&message, "BAD_USER_INPUT"),
        ServiceError::NotImplemented(what) => {
            coded(&format!("{what} is not implemented yet"), "NOT_IMPLEMENTED")
        }
        ServiceError::Refused(refusals) => {
            let message = refusals
                .first()
                .map(|r| r.message.clone())
                .unwrap_or_default();
            let code = match refusals.first().map(|r| r.code) {
                Some(RefusalCode::NotFound) => "NOT_FOUND",
                Some(RefusalCode::OutOfStock) => "OUT_OF_STOCK",
                _ => "BAD_USER_INPUT",
            };
            coded(&message, code)
        }
        ServiceError::Database(e) => {
            tracing::error!(error = %e, "database failure");
            coded("internal error", "INTERNAL")
        }
        ServiceError::Internal(e) => {
            tracing::error!(error = %e, "internal failure");
            coded("internal error", "INTERNAL")
        }
    }
}

/// `?` on service results inside resolvers.
pub trait GqlResult<T> {
    fn gql(self) -> async_graphql::Result<T>;
}

impl<T> GqlResult<T> for Result<T, ServiceError> {
    fn gql(self) -> async_graphql::Result<T> {
        self.map_err(gql_error)
    }
}

/// For a mutation: the result, or its refusals as userErrors; other failures stay top-level.
pub fn outcome<T>(
    result: Result<T, ServiceError>,
) -> async_graphql::Result<(Option<T>, Vec<UserError>)> {
    match result {
        Ok(value) => Ok((Some(value), Vec::new())),
        Err(ServiceError::Refused(refusals)) => {
            Ok((None, refusals.into_iter().map(UserError::from).collect()))
        }
        Err(other) => Err(gql_error(other)),
    }
}

/// What a contract name answers until its issue lands.
pub fn not_implemented<T>(what: &'static str) -> async_graphql::Result<T> {
    Err(gql_error(ServiceError::NotImplemented(what)))
}

/// A malformed global ID.
pub fn malformed_id() -> async_graphql::Error {
    coded("malformed ID", "BAD_USER_INPUT")
}

//! Errors: business refusals (reported as userErrors) and system failures (top-level codes).
use sea_orm::DbErr;

/// The codes of a business refusal, as clients see them in `UserError.code`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefusalCode {
    Invalid,
    NotFound,
    OutOfStock,
    NotModifiable,
    NotReturnable,
    VersionConflict,
    TemplateInvalid,
    Duplicate,
}

/// A refusal: the request was understood and refused; nothing was changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub code: RefusalCode,
    /// The path of the input field at fault, e.g. `["lines", "0", "quantity"]`.
    pub field: Vec<String>,
    pub message: String,
    /// Where in a submitted template or query: (part, line, column).
    pub location: Option<(String, usize, usize)>,
}

impl Refusal {
    pub fn new(code: RefusalCode, field: &[&str], message: impl Into<String>) -> Refusal {
        Refusal {
            code,
            field: field.iter().map(|s| (*s).to_owned()).collect(),
            message: message.into(),
            location: None,
        }
    }

    /// Names the place in a template or query the refusal is about.
    pub fn at(mut self, part: &str, line: usize, column: usize) -> Refusal {
        self.location = Some((part.to_owned(), line, column));
        self
    }

    pub fn invalid(field: &[&str], message: impl Into<String>) -> Refusal {
        Refusal::new(RefusalCode::Invalid, field, message)
    }

    pub fn not_found(field: &[&str], message: impl Into<String>) -> Refusal {
        Refusal::new(RefusalCode::NotFound, field, message)
    }

    /// Prefixes the field path, e.g. with `["lines", "2"]`.
    pub fn under(mut self, prefix: &[&str]) -> Refusal {
        let mut field: Vec<String> = prefix.iter().map(|s| (*s).to_owned()).collect();
        field.append(&mut self.field);
        self.field = field;
        self
    }
}

/// Why a service call did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("refused: {}", .0.first().map(|r| r.message.as_str()).unwrap_or(""))]
    Refused(Vec<Refusal>),
    #[error("authentication required")]
    Unauthenticated,
    #[error("not allowed for this role")]
    Forbidden,
    #[error("{0}")]
    BadInput(String),
    #[error("not implemented yet: {0}")]
    NotImplemented(&'static str),
    #[error("database: {0}")]
    Database(#[from] DbErr),
    #[error("internal: {0}")]
    Internal(String),
}

impl From<Refusal> for ServiceError {
    fn from(r: Refusal) -> Self {
        ServiceError::Refused(vec![r])
    }
}

pub type ServiceResult<T> = Result<T, ServiceError>;

/// Failures while starting the service.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("database: {0}")]
    Database(#[from] DbErr),
    #[error("cannot listen: {0}")]
    Listen(#[from] std::io::Error),
    #[error("configuration: {0}")]
    Config(String),
}

/// True when the database refused a write because of a unique constraint.
pub fn is_unique_violation(err: &DbErr) -> bool {
    let text = err.to_string();
    text.contains("UNIQUE constraint failed") || text.contains("duplicate key value")
}

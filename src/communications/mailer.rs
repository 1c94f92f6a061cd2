//! Sending: SMTP through lettre (pooled connections) when an SMTP URL is configured, otherwise
//! `.eml` files in the mail directory.
use std::path::PathBuf;
use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::PoolConfig;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::Tls;
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

/// Why a message did not go out, and whether trying again may help.
#[derive(Debug)]
pub struct SendFailure {
    pub transient: bool,
    pub message: String,
}

/// What goes out.
pub struct Outgoing<'a> {
    pub message_id: &'a str,
    pub from: Mailbox,
    pub to: &'a str,
    pub subject: &'a str,
    pub html: &'a str,
    pub text: &'a str,
}

#[derive(Clone)]
pub enum Mailer {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    Files(AsyncFileTransport<Tokio1Executor>, PathBuf),
}

impl Mailer {
    /// `smtp://[user:pass@]host[:port]` (plain, for a local relay), `smtp+starttls://…` or
    /// `smtps://…`; without a URL, `.eml` files under `mail_dir`.
    pub fn new(smtp_url: Option<&str>, mail_dir: PathBuf) -> Result<Mailer, String> {
        let Some(raw) = smtp_url else {
            std::fs::create_dir_all(&mail_dir)
                .map_err(|e| format!("cannot create the mail directory {mail_dir:?}: {e}"))?;
            return Ok(Mailer::Files(AsyncFileTransport::new(&mail_dir), mail_dir));
        };
        let (scheme, rest) = raw
            .split_once("://")
            .ok_or_else(|| format!("the SMTP URL `{raw}` has no scheme"))?;
        let (credentials, host_port) = match rest.rsplit_once('@') {
            Some((user_pass, host)) => {
                let (user, pass) = user_pass.split_once(':').unwrap_or((user_pass, ""));
                (
                    Some(Credentials::new(user.to_owned(), pass.to_owned())),
                    host,
                )
            }
            None => (None, rest),
        };
        let host_port = host_port.trim_end_matches('/');
        let (host, port) = match host_port.rsplit_once(':') {
            Some((h, p)) => (
                h,
                Some(
                    p.parse::<u16>()
                        .map_err(|_| format!("the SMTP URL `{raw}` has a bad port"))?,
                ),
            ),
            None => (host_port, None),
        };
        let builder = match scheme {
            "smtp" => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
                .tls(Tls::None)
                .port(port.unwrap_or(25)),
            "smtp+starttls" => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host)
                .map_err(|e| e.to_string())?
                .port(port.unwrap_or(587)),
            "smtps" => AsyncSmtpTransport::<Tokio1Executor>::relay(host)
                .map_err(|e| e.to_string())?
                .port(port.unwrap_or(465)),
            other => return Err(format!("unknown SMTP URL scheme `{other}`")),
        };
        let mut builder = builder
            .timeout(Some(Duration::from_secs(15)))
            .pool_config(PoolConfig::new().max_size(4));
        if let Some(c) = credentials {
            builder = builder.credentials(c);
        }
        Ok(Mailer::Smtp(builder.build()))
    }

    pub async fn send(&self, out: Outgoing<'_>) -> Result<(), SendFailure> {
        let permanent = |message: String| SendFailure {
            transient: false,
            message,
        };
        let to: Mailbox = out
            .to
            .parse()
            .map_err(|e| permanent(format!("bad recipient address: {e}")))?;
        let message = Message::builder()
            .message_id(Some(out.message_id.to_owned()))
            .from(out.from.clone())
            .reply_to(out.from)
            .to(to)
            .subject(out.subject)
            .multipart(
                MultiPart::alternative()
                    .singlepart(
                        SinglePart::builder()
                            .header(ContentType::TEXT_PLAIN)
                            .body(out.text.to_owned()),
                    )
                    .singlepart(
                        SinglePart::builder()
                            .header(ContentType::TEXT_HTML)
                            .body(out.html.to_owned()),
                    ),
            )
            .map_err(|e| permanent(format!("cannot build the message: {e}")))?;
        match self {
            Mailer::Smtp(transport) => transport.send(message).await.map(|_| ()).map_err(|e| {
                SendFailure {
                    // 5xx answers are final; 4xx, refused connections and timeouts pass.
                    transient: !e.is_permanent(),
                    message: e.to_string(),
                }
            }),
            Mailer::Files(transport, dir) => {
                transport
                    .send(message)
                    .await
                    .map(|_| ())
                    .map_err(|e| SendFailure {
                        transient: true,
                        message: format!("cannot write to {dir:?}: {e}"),
                    })
            }
        }
    }
}

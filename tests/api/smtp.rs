//! A real SMTP server for the email suites: plain SMTP on 127.0.0.1 (no TLS, no auth), enough of
//! RFC 5321 for lettre, recording every message it is handed. A test can make it refuse the next
//! messages (451 or 550), stop listening and start again on the same port, wait for messages and
//! read them decoded.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

/// How long the waits of this module wait by default.
pub const WAIT: Duration = Duration::from_secs(10);

/// A message handed to the server, decoded.
#[derive(Clone, Debug)]
pub struct Mail {
    /// The message as it came after DATA, dot-stuffing undone.
    pub raw: String,
    /// The envelope: MAIL FROM and RCPT TO addresses.
    pub envelope_from: String,
    pub envelope_to: Vec<String>,
    /// Whether the server accepted it (250) or answered it with a failure.
    pub accepted: bool,
    pub message_id: Option<String>,
    pub subject: Option<String>,
    pub from_name: Option<String>,
    pub from_address: Option<String>,
    pub to: Vec<String>,
    /// The decoded text/plain part.
    pub text: Option<String>,
    /// The decoded text/html part.
    pub html: Option<String>,
    /// The Content-Type of the message itself (`multipart/alternative`…).
    pub content_type: Option<String>,
}

impl Mail {
    /// Parses a raw message (headers and MIME parts) with mail-parser.
    pub fn parse(raw: &str, envelope_from: &str, envelope_to: &[String], accepted: bool) -> Mail {
        let parsed = mail_parser::MessageParser::default().parse(raw.as_bytes());
        let mut mail = Mail {
            raw: raw.to_owned(),
            envelope_from: envelope_from.to_owned(),
            envelope_to: envelope_to.to_vec(),
            accepted,
            message_id: None,
            subject: None,
            from_name: None,
            from_address: None,
            to: Vec::new(),
            text: None,
            html: None,
            content_type: None,
        };
        let Some(message) = parsed else {
            return mail;
        };
        mail.message_id = message.message_id().map(str::to_owned);
        mail.subject = message.subject().map(str::to_owned);
        if let Some(from) = message.from().and_then(|a| a.first()) {
            mail.from_name = from.name().map(str::to_owned);
            mail.from_address = from.address().map(str::to_owned);
        }
        if let Some(to) = message.to() {
            mail.to = to
                .iter()
                .filter_map(|a| a.address().map(str::to_owned))
                .collect();
        }
        use mail_parser::MimeHeaders as _;
        mail.content_type = message.content_type().map(|ct| match ct.subtype() {
            Some(sub) => format!("{}/{}", ct.ctype(), sub),
            None => ct.ctype().to_owned(),
        });
        // Only real parts: mail-parser would otherwise derive one body from the other.
        if !message.text_body.is_empty()
            && message
                .part(message.text_body[0])
                .is_some_and(|p| p.is_text() && !p.is_text_html())
        {
            mail.text = message.body_text(0).map(|t| t.into_owned());
        }
        if !message.html_body.is_empty()
            && message
                .part(message.html_body[0])
                .is_some_and(|p| p.is_text_html())
        {
            mail.html = message.body_html(0).map(|h| h.into_owned());
        }
        mail
    }

    pub fn subject(&self) -> &str {
        self.subject.as_deref().unwrap_or("")
    }

    /// The text part with CRLF line ends made LF.
    pub fn text(&self) -> String {
        self.text.as_deref().unwrap_or("").replace("\r\n", "\n")
    }

    /// The HTML part with CRLF line ends made LF.
    pub fn html(&self) -> String {
        self.html.as_deref().unwrap_or("").replace("\r\n", "\n")
    }
}

/// When the server answers with a failure instead of 250.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// The answer to MAIL FROM.
    MailFrom,
    /// The answer at the end of DATA (after the whole message was read).
    DataEnd,
}

#[derive(Default)]
struct Script {
    mail_from: VecDeque<u16>,
    data_end: VecDeque<u16>,
}

#[derive(Default)]
struct Shared {
    script: Mutex<Script>,
    /// Accepted messages, in order.
    received: Mutex<Vec<Mail>>,
    /// Every message that reached the end of DATA, accepted or not.
    attempts: Mutex<Vec<Mail>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The SMTP server; stops when dropped.
pub struct SmtpServer {
    port: u16,
    shared: Arc<Shared>,
    running: Mutex<Option<JoinHandle<()>>>,
    /// A socket bound to the port but not listening: connections are refused, and no one else
    /// takes the port before `resume`.
    reserved: Mutex<Option<TcpSocket>>,
}

impl SmtpServer {
    /// Listens on 127.0.0.1 on a free port.
    pub async fn start() -> SmtpServer {
        Self::start_on(0).await
    }

    /// Listens on 127.0.0.1:`port` (0: a free one).
    pub async fn start_on(port: u16) -> SmtpServer {
        let listener = bind(port).await;
        let port = listener
            .local_addr()
            .expect("the listener's address")
            .port();
        let server = SmtpServer {
            port,
            shared: Arc::new(Shared::default()),
            running: Mutex::new(None),
            reserved: Mutex::new(None),
        };
        server.serve(listener);
        server
    }

    /// Takes a free port without listening on it: connections are refused until `resume`.
    pub fn reserve() -> SmtpServer {
        let socket = TcpSocket::new_v4().expect("a TCP socket");
        socket.set_reuseaddr(true).expect("SO_REUSEADDR");
        socket
            .bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .expect("bind 127.0.0.1:0");
        let port = socket.local_addr().expect("the socket's address").port();
        SmtpServer {
            port,
            shared: Arc::new(Shared::default()),
            running: Mutex::new(None),
            reserved: Mutex::new(Some(socket)),
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// What `config.smtp_url` should be.
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Stops listening and closes every open connection; messages received so far are kept.
    pub async fn stop(&self) {
        let task = lock(&self.running).take();
        if let Some(task) = task {
            task.abort();
            let _ = task.await;
        }
    }

    /// Starts listening again on the same port.
    pub async fn resume(&self) {
        self.stop().await;
        drop(lock(&self.reserved).take());
        let listener = bind(self.port).await;
        self.serve(listener);
    }

    pub fn is_listening(&self) -> bool {
        lock(&self.running).is_some()
    }

    /// The next `n` answers at `stage` are `code` (e.g. 451 or 550) instead of 250.
    pub fn fail_next(&self, stage: Stage, n: usize, code: u16) {
        let mut script = lock(&self.shared.script);
        let queue = match stage {
            Stage::MailFrom => &mut script.mail_from,
            Stage::DataEnd => &mut script.data_end,
        };
        queue.extend(std::iter::repeat_n(code, n));
    }

    /// The accepted messages so far, in order.
    pub fn received(&self) -> Vec<Mail> {
        lock(&self.shared.received).clone()
    }

    /// Every message that reached the end of DATA, accepted or refused, in order.
    pub fn attempts(&self) -> Vec<Mail> {
        lock(&self.shared.attempts).clone()
    }

    /// The accepted messages for which `matches` holds.
    pub fn received_matching(&self, matches: impl Fn(&Mail) -> bool) -> Vec<Mail> {
        self.received().into_iter().filter(|m| matches(m)).collect()
    }

    /// Waits (polling, at most `timeout`) until at least `n` accepted messages match; returns
    /// those that match. Panics with what did arrive when they do not.
    pub async fn wait_for_matching(
        &self,
        n: usize,
        timeout: Duration,
        what: &str,
        matches: impl Fn(&Mail) -> bool,
    ) -> Vec<Mail> {
        let deadline = Instant::now() + timeout;
        loop {
            let found = self.received_matching(&matches);
            if found.len() >= n {
                return found;
            }
            if Instant::now() >= deadline {
                panic!(
                    "waited {timeout:?} for {n} message(s) {what}; got {} of them. Every message received: {:#?}",
                    found.len(),
                    self.received()
                        .iter()
                        .map(|m| (m.subject().to_owned(), m.to.clone()))
                        .collect::<Vec<_>>()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until at least `n` messages arrived; returns all of them.
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Mail> {
        self.wait_for_matching(n, timeout, "of any kind", |_| true)
            .await
    }

    fn serve(&self, listener: TcpListener) {
        let shared = self.shared.clone();
        // The connections live in a JoinSet owned by the accept loop: aborting the loop drops
        // the listener and every connection with it.
        let task = tokio::spawn(async move {
            let mut connections = JoinSet::new();
            loop {
                tokio::select! {
                    accepted = listener.accept() => {
                        let Ok((stream, _)) = accepted else { continue };
                        let shared = shared.clone();
                        connections.spawn(async move {
                            let _ = session(stream, shared).await;
                        });
                    }
                    Some(_) = connections.join_next(), if !connections.is_empty() => {}
                }
            }
        });
        *lock(&self.running) = Some(task);
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        if let Some(task) = lock(&self.running).take() {
            task.abort();
        }
    }
}

async fn bind(port: u16) -> TcpListener {
    // Right after a stop the port may still be settling; try for a moment.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let socket = TcpSocket::new_v4().expect("a TCP socket");
        socket.set_reuseaddr(true).expect("SO_REUSEADDR");
        let listening = socket
            .bind(SocketAddr::from(([127, 0, 0, 1], port)))
            .and_then(|()| socket.listen(64));
        match listening {
            Ok(listener) => return listener,
            Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("the SMTP server cannot listen on 127.0.0.1:{port}: {e}"),
        }
    }
}

/// One SMTP conversation.
async fn session(stream: TcpStream, shared: Arc<Shared>) -> std::io::Result<()> {
    let (reader, mut writer) = stream.into_split();
    let mut reader = BufReader::new(reader);
    writer
        .write_all(b"220 localhost ESMTP touchpoint-test-smtp\r\n")
        .await?;
    let mut from: Option<String> = None;
    let mut to: Vec<String> = Vec::new();
    let mut line = Vec::new();
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line).await? == 0 {
            return Ok(());
        }
        let command = String::from_utf8_lossy(&line).trim_end().to_owned();
        let verb = command
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_ascii_uppercase();
        let reply: String = match verb.as_str() {
            "EHLO" => "250-localhost greets you\r\n250-8BITMIME\r\n250 SIZE 10485760\r\n".into(),
            "HELO" => "250 localhost\r\n".into(),
            "MAIL" => {
                let scripted = lock(&shared.script).mail_from.pop_front();
                match scripted {
                    Some(code) => {
                        from = None;
                        to.clear();
                        failure(code)
                    }
                    None => {
                        from = Some(address_of(&command));
                        to.clear();
                        "250 2.1.0 Ok\r\n".into()
                    }
                }
            }
            "RCPT" => {
                if from.is_none() {
                    "503 5.5.1 Need MAIL first\r\n".into()
                } else {
                    to.push(address_of(&command));
                    "250 2.1.5 Ok\r\n".into()
                }
            }
            "DATA" => {
                if from.is_none() || to.is_empty() {
                    "503 5.5.1 Need MAIL and RCPT first\r\n".into()
                } else {
                    writer
                        .write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                        .await?;
                    let raw = read_data(&mut reader).await?;
                    let scripted = lock(&shared.script).data_end.pop_front();
                    let accepted = scripted.is_none();
                    let mail = Mail::parse(&raw, from.as_deref().unwrap_or(""), &to, accepted);
                    lock(&shared.attempts).push(mail.clone());
                    if accepted {
                        lock(&shared.received).push(mail);
                    }
                    from = None;
                    to.clear();
                    match scripted {
                        Some(code) => failure(code),
                        None => "250 2.0.0 Ok: queued\r\n".into(),
                    }
                }
            }
            "RSET" => {
                from = None;
                to.clear();
                "250 2.0.0 Ok\r\n".into()
            }
            "NOOP" => "250 2.0.0 Ok\r\n".into(),
            "QUIT" => {
                writer.write_all(b"221 2.0.0 Bye\r\n").await?;
                let _ = writer.shutdown().await;
                return Ok(());
            }
            _ => "502 5.5.2 Command not recognized\r\n".into(),
        };
        writer.write_all(reply.as_bytes()).await?;
    }
}

fn failure(code: u16) -> String {
    match code {
        400..=499 => format!("{code} 4.3.0 Try again later (test server)\r\n"),
        _ => format!("{code} 5.7.1 Rejected by the test server\r\n"),
    }
}

/// The address in `MAIL FROM:<a@b> …` or `RCPT TO:<a@b>`.
fn address_of(command: &str) -> String {
    match (command.find('<'), command.find('>')) {
        (Some(start), Some(end)) if end > start => command[start + 1..end].to_owned(),
        _ => command
            .split_once(':')
            .map(|(_, a)| a.trim().to_owned())
            .unwrap_or_default(),
    }
}

/// Reads the message after DATA up to the line with a lone dot, undoing dot-stuffing.
async fn read_data<R: tokio::io::AsyncBufRead + Unpin>(reader: &mut R) -> std::io::Result<String> {
    let mut data: Vec<u8> = Vec::new();
    let mut line = Vec::new();
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line).await? == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the client closed the connection in the middle of DATA",
            ));
        }
        if line == b".\r\n" || line == b".\n" {
            break;
        }
        if line.starts_with(b".") {
            data.extend_from_slice(&line[1..]);
        } else {
            data.extend_from_slice(&line);
        }
    }
    Ok(String::from_utf8_lossy(&data).into_owned())
}

// ---------------------------------------------------------------------- the server itself

#[cfg(test)]
mod tests {
    use lettre::message::{MultiPart, SinglePart, header::ContentType};
    use lettre::transport::smtp::client::Tls;
    use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

    use super::*;

    fn transport(server: &SmtpServer) -> AsyncSmtpTransport<Tokio1Executor> {
        AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
            .port(server.port())
            .tls(Tls::None)
            .timeout(Some(Duration::from_secs(5)))
            .build()
    }

    fn message(subject: &str, text: &str) -> Message {
        Message::builder()
            .message_id(Some("<fixed-1@test.example>".into()))
            .from("Shop <shop@test.example>".parse().unwrap())
            .to("ada@example.test".parse().unwrap())
            .subject(subject)
            .multipart(
                MultiPart::alternative()
                    .singlepart(
                        SinglePart::builder()
                            .header(ContentType::TEXT_PLAIN)
                            .body(text.to_owned()),
                    )
                    .singlepart(
                        SinglePart::builder()
                            .header(ContentType::TEXT_HTML)
                            .body(format!("<p>{text}</p>")),
                    ),
            )
            .unwrap()
    }

    #[tokio::test]
    async fn the_test_smtp_server_receives_and_decodes_a_message_from_lettre() {
        let server = SmtpServer::start().await;
        let text = "Hello\n.a line that starts with a dot\n..and two\nBye";
        transport(&server)
            .send(message("Hi there", text))
            .await
            .expect("the server accepts the message");
        let mail = server.wait_for(1, WAIT).await.remove(0);
        assert!(mail.accepted);
        assert_eq!(mail.subject(), "Hi there");
        assert_eq!(mail.message_id.as_deref(), Some("fixed-1@test.example"));
        assert_eq!(mail.from_name.as_deref(), Some("Shop"));
        assert_eq!(mail.from_address.as_deref(), Some("shop@test.example"));
        assert_eq!(mail.to, vec!["ada@example.test".to_string()]);
        assert_eq!(mail.envelope_from, "shop@test.example");
        assert_eq!(mail.envelope_to, vec!["ada@example.test".to_string()]);
        assert_eq!(mail.content_type.as_deref(), Some("multipart/alternative"));
        assert_eq!(mail.text().trim_end(), text, "dot-stuffing is undone");
        assert!(mail.html().contains("<p>Hello"), "{}", mail.html());
    }

    #[tokio::test]
    async fn the_test_smtp_server_refuses_as_scripted_and_starts_again_on_its_port() {
        let server = SmtpServer::start().await;
        server.fail_next(Stage::DataEnd, 1, 451);
        let smtp = transport(&server);

        let err = smtp.send(message("one", "1")).await.unwrap_err();
        assert!(!err.is_permanent(), "451 is transient: {err}");
        server.fail_next(Stage::MailFrom, 1, 550);
        let err = transport(&server)
            .send(message("two", "2"))
            .await
            .unwrap_err();
        assert!(err.is_permanent(), "550 is permanent: {err}");
        transport(&server)
            .send(message("three", "3"))
            .await
            .expect("the script is used up");
        assert_eq!(
            server.attempts().len(),
            2,
            "a refused MAIL FROM sends no DATA"
        );
        assert_eq!(server.received().len(), 1);
        assert_eq!(server.received()[0].subject(), "three");

        server.stop().await;
        assert!(!server.is_listening());
        assert!(
            transport(&server).send(message("four", "4")).await.is_err(),
            "a stopped server refuses connections"
        );
        server.resume().await;
        transport(&server)
            .send(message("five", "5"))
            .await
            .expect("the server listens again on its port");
        assert_eq!(server.received().len(), 2);

        let reserved = SmtpServer::reserve();
        assert!(
            transport(&reserved)
                .send(message("six", "6"))
                .await
                .is_err(),
            "a reserved port refuses connections"
        );
        reserved.resume().await;
        transport(&reserved)
            .send(message("seven", "7"))
            .await
            .expect("the reserved port listens once resumed");
        assert_eq!(reserved.received().len(), 1);
    }
}

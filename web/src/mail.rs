//! Outgoing e-mail through lettre: SMTP when `DYN53_SMTP_URL` is set (`smtp://host:25`
//! plain, `smtp://host:587?tls=required` for STARTTLS, `smtps://host:465` for TLS; user and
//! password in the URL), otherwise one `.eml` file per message in the data dir's `mail/`,
//! where a newcomer (and the tests) can open the links. Those hold live links: the
//! directory is 0700 and each file 0600.

use std::path::PathBuf;

use lettre::message::header::{ContentTransferEncoding, ContentType};
use lettre::message::{Body, Mailbox};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::private_files::{private_dir, tighten, write_private};

#[derive(Clone)]
pub struct Mailer {
    from: Mailbox,
    transport: Transport,
}

#[derive(Clone)]
enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    /// The mail directory.
    Files(PathBuf),
}

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("the mail could not be built: {0}")]
    Build(String),
    #[error("the mail could not be sent: {0}")]
    Send(String),
}

impl Mailer {
    /// SMTP at `smtp_url`, or files under `mail_dir` (created as needed).
    pub fn new(smtp_url: Option<&str>, mail_dir: PathBuf, from: &str) -> anyhow::Result<Mailer> {
        let from: Mailbox = from.parse()?;
        let transport = match smtp_url {
            Some(url) => {
                Transport::Smtp(AsyncSmtpTransport::<Tokio1Executor>::from_url(url)?.build())
            }
            None => {
                private_dir(&mail_dir)?;
                for entry in std::fs::read_dir(&mail_dir)? {
                    let path = entry?.path();
                    if path.is_file() {
                        tighten(&path)?;
                    }
                }
                Transport::Files(mail_dir)
            }
        };
        Ok(Mailer { from, transport })
    }

    /// Sends a plain-text message to `to`.
    pub async fn send(&self, to: &str, subject: &str, body: String) -> Result<(), MailError> {
        let to: Mailbox = to.parse().map_err(|e| MailError::Build(format!("{e}")))?;
        // Plain 7-bit when it can be, so that links read the same in the raw message.
        let body = body.replace("\r\n", "\n").replace('\n', "\r\n");
        let body = Body::new_with_encoding(body, ContentTransferEncoding::SevenBit)
            .unwrap_or_else(Body::new);
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .header(ContentType::TEXT_PLAIN)
            .body(body)
            .map_err(|e| MailError::Build(e.to_string()))?;
        match &self.transport {
            Transport::Smtp(smtp) => smtp
                .send(message)
                .await
                .map(drop)
                .map_err(|e| MailError::Send(e.to_string())),
            Transport::Files(dir) => {
                let name = format!("{:032x}.eml", rand::random::<u128>());
                write_private(&dir.join(name), &message.formatted())
                    .await
                    .map_err(|e| MailError::Send(e.to_string()))
            }
        }
    }
}

//! Outgoing e-mail through lettre: SMTP when `DYN53_SMTP_URL` is set (`smtp://host:25`
//! plain, `smtp://host:587?tls=required` for STARTTLS, `smtps://host:465` for TLS; user and
//! password in the URL), otherwise one `.eml` file per message in the data dir's `mail/`,
//! where a newcomer (and the tests) can open the links. Those hold live links: the
//! directory is 0700 and each file 0600.
//!
//! Pages do not wait for mail: [`Mailer::post`] queues what to send (and, for `/forgot`,
//! the lookup that decides whether there is anything to send), and a background task sends
//! it. An answer then takes the same time whether or not the address has an account, and a
//! mail server that refuses or is down costs the page nothing (it is logged, and counted:
//! `dyn53_mail_sent_total`, `dyn53_mail_failed_total`, which also counts mails dropped from
//! a full queue).

use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;

use metrics::{Counter, counter, describe_counter};
use tokio::sync::{Semaphore, mpsc};

use lettre::message::header::{ContentTransferEncoding, ContentType};
use lettre::message::{Body, Mailbox};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::private_files::{private_dir, tighten, write_private};

/// Sends mail in the background: see the module's comment.
#[derive(Clone)]
pub struct Mailer {
    queue: mpsc::Sender<Composing>,
    outcomes: Outcomes,
    sender: Sender,
}

/// What became of the mails.
#[derive(Clone)]
struct Outcomes {
    sent: Counter,
    failed: Counter,
}

impl Outcomes {
    fn new() -> Outcomes {
        describe_counter!(
            "dyn53_mail_sent_total",
            "Mails handed to the mail server (or written)."
        );
        describe_counter!(
            "dyn53_mail_failed_total",
            "Mails not sent: refused, unreachable server, or dropped from a full queue."
        );
        Outcomes {
            sent: counter!("dyn53_mail_sent_total"),
            failed: counter!("dyn53_mail_failed_total"),
        }
    }
}

/// A message to send.
pub struct Letter {
    pub to: String,
    pub subject: &'static str,
    pub body: String,
}

/// What decides the letter, run by the background task: `None` sends nothing.
type Composing = Pin<Box<dyn Future<Output = Option<Letter>> + Send>>;

/// Mails waiting to be sent; beyond them, new ones are dropped (and logged). The limits on
/// the pages that send (per address, per source) keep the queue far from this.
const QUEUE: usize = 1024;
/// Mails sent at once.
const SENDING: usize = 4;

#[derive(Clone)]
struct Sender {
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
    /// SMTP at `smtp_url`, or files under `mail_dir` (created as needed); starts the
    /// background sender (call within the Tokio runtime).
    pub fn new(smtp_url: Option<&str>, mail_dir: PathBuf, from: &str) -> anyhow::Result<Mailer> {
        let sender = Sender::new(smtp_url, mail_dir, from)?;
        let (queue, waiting) = mpsc::channel(QUEUE);
        let outcomes = Outcomes::new();
        tokio::spawn(send_all(sender.clone(), waiting, outcomes.clone()));
        Ok(Mailer {
            queue,
            outcomes,
            sender,
        })
    }

    /// Sends `letter` now and says how it went: for senders that keep their own queue
    /// and retry (notifications).
    pub async fn send_now(&self, letter: &Letter) -> Result<(), MailError> {
        let sent = self.sender.send(letter).await;
        match &sent {
            Ok(()) => self.outcomes.sent.increment(1),
            Err(_) => self.outcomes.failed.increment(1),
        }
        sent
    }

    /// Queues a letter, composed in the background by `compose` (which may read the
    /// database); never waits.
    pub fn post(&self, compose: impl Future<Output = Option<Letter>> + Send + 'static) {
        if self.queue.try_send(Box::pin(compose)).is_err() {
            self.outcomes.failed.increment(1);
            tracing::warn!("the mail queue is full: a mail was dropped");
        }
    }

    /// Queues a letter written already.
    pub fn post_letter(&self, letter: Letter) {
        self.post(async move { Some(letter) });
    }
}

/// The background sender: a few mails at once, each failure logged.
async fn send_all(sender: Sender, mut waiting: mpsc::Receiver<Composing>, outcomes: Outcomes) {
    let sending = Arc::new(Semaphore::new(SENDING));
    while let Some(compose) = waiting.recv().await {
        let Ok(permit) = sending.clone().acquire_owned().await else {
            return;
        };
        let (sender, outcomes) = (sender.clone(), outcomes.clone());
        tokio::spawn(async move {
            if let Some(letter) = compose.await {
                match sender.send(&letter).await {
                    Ok(()) => outcomes.sent.increment(1),
                    Err(e) => {
                        outcomes.failed.increment(1);
                        tracing::warn!("mail to {} not sent: {e}", letter.to);
                    }
                }
            }
            drop(permit);
        });
    }
}

impl Sender {
    fn new(smtp_url: Option<&str>, mail_dir: PathBuf, from: &str) -> anyhow::Result<Sender> {
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
        Ok(Sender { from, transport })
    }

    /// Sends a plain-text message.
    async fn send(&self, letter: &Letter) -> Result<(), MailError> {
        let to: Mailbox = letter
            .to
            .parse()
            .map_err(|e| MailError::Build(format!("{e}")))?;
        // Plain 7-bit when it can be, so that links read the same in the raw message.
        let body = letter.body.replace("\r\n", "\n").replace('\n', "\r\n");
        let body = Body::new_with_encoding(body, ContentTransferEncoding::SevenBit)
            .unwrap_or_else(Body::new);
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(letter.subject)
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
                // Written under another name, then renamed: a reader of `*.eml` never
                // sees half a message.
                let name = format!("{:032x}", rand::random::<u128>());
                let (part, whole) = (
                    dir.join(format!("{name}.part")),
                    dir.join(format!("{name}.eml")),
                );
                let written = async {
                    write_private(&part, &message.formatted()).await?;
                    tokio::fs::rename(&part, &whole).await
                };
                written.await.map_err(|e| MailError::Send(e.to_string()))
            }
        }
    }
}

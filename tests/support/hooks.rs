//! A webhook receiver over HTTPS (actix-web on rustls, a certificate from a test CA) that
//! keeps every request it is sent, and can be stopped and started again on its port to
//! play an outage.

use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::sync::{Arc, Mutex};

use actix_web::dev::ServerHandle;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use hmac::{Hmac, Mac};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use sha2::Sha256;

use super::tls::TestCa;

/// One request the receiver was sent.
#[derive(Clone, Debug)]
pub struct Received {
    pub signature: String,
    pub event_id: String,
    pub event: String,
    pub body: String,
}

impl Received {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).expect("a JSON body")
    }

    /// Whether `X-Dyn53-Signature` is `t=<t>,v1=<HMAC-SHA256(secret, "<t>.<body>")>`.
    pub fn signed_with(&self, secret: &str) -> bool {
        let Some((t, v1)) = self
            .signature
            .strip_prefix("t=")
            .and_then(|rest| rest.split_once(",v1="))
        else {
            return false;
        };
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("key");
        mac.update(format!("{t}.{}", self.body).as_bytes());
        let hex: String = mac
            .finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        t.parse::<i64>().is_ok() && hex == v1
    }
}

pub struct Receiver {
    pub addr: SocketAddr,
    /// The CA file the server is told to trust.
    pub ca_file: std::path::PathBuf,
    received: Arc<Mutex<Vec<Received>>>,
    tls: rustls::ServerConfig,
    running: Option<ServerHandle>,
}

impl Receiver {
    /// A receiver on a free port of 127.0.0.1, running.
    pub fn start(dir: &Path) -> Receiver {
        let ca = TestCa::new(dir, "hooks-ca");
        let (cert, key) = ca.server_cert();
        let certs = CertificateDer::pem_slice_iter(cert.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .expect("certificate");
        let key = PrivateKeyDer::from_pem_slice(key.as_bytes()).expect("key");
        let tls = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .expect("TLS config");
        let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
        let mut receiver = Receiver {
            addr: listener.local_addr().expect("bound"),
            ca_file: ca.cert_file.clone(),
            received: Arc::default(),
            tls,
            running: None,
        };
        receiver.serve(listener);
        receiver
    }

    pub fn url(&self) -> String {
        format!("https://127.0.0.1:{}/hook", self.addr.port())
    }

    fn serve(&mut self, listener: TcpListener) {
        let received = self.received.clone();
        let server = HttpServer::new(move || {
            let received = received.clone();
            App::new().route(
                "/hook",
                web::post().to(move |req: HttpRequest, body: String| {
                    let received = received.clone();
                    async move {
                        let header = |name: &str| {
                            req.headers()
                                .get(name)
                                .and_then(|v| v.to_str().ok())
                                .unwrap_or_default()
                                .to_owned()
                        };
                        received.lock().expect("lock").push(Received {
                            signature: header("x-dyn53-signature"),
                            event_id: header("x-dyn53-event-id"),
                            event: header("x-dyn53-event"),
                            body,
                        });
                        HttpResponse::NoContent().finish()
                    }
                }),
            )
        })
        .workers(1)
        .disable_signals()
        .listen_rustls_0_23(listener, self.tls.clone())
        .expect("listening")
        .run();
        self.running = Some(server.handle());
        tokio::spawn(server);
    }

    /// Stops answering: connections to the port are refused.
    pub async fn stop(&mut self) {
        if let Some(handle) = self.running.take() {
            handle.stop(false).await;
        }
    }

    /// Answers again, on the same port.
    pub fn restart(&mut self) {
        let listener = TcpListener::bind(self.addr).expect("the port again");
        self.serve(listener);
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().expect("lock").clone()
    }
}

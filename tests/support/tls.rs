//! Certificates made at test time: a throwaway certificate authority, and server
//! certificates it signs for `localhost` and `127.0.0.1`, written as PEM files.

use std::path::{Path, PathBuf};

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};

pub struct TestCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
    /// The CA's certificate, which clients are told to trust.
    pub cert_file: PathBuf,
}

impl TestCa {
    /// A CA named `name`, its certificate written to `dir/name.pem`.
    pub fn new(dir: &Path, name: &str) -> TestCa {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let issuer =
            CertifiedIssuer::self_signed(params, KeyPair::generate().expect("CA key")).expect("CA");
        let cert_file = dir.join(format!("{name}.pem"));
        std::fs::write(&cert_file, issuer.pem()).expect("CA written");
        TestCa { issuer, cert_file }
    }

    /// A server certificate for `localhost` and `127.0.0.1` and its key, as PEM text.
    pub fn server_cert(&self) -> (String, String) {
        let key = KeyPair::generate().expect("server key");
        let params = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .expect("server params");
        let cert = params.signed_by(&key, &self.issuer).expect("signed");
        (cert.pem(), key.serialize_pem())
    }

    /// Writes a server certificate and key to `cert` and `key`, each replaced at once
    /// (written beside, then renamed), as certbot and cert-manager do.
    pub fn install_server_cert(&self, cert: &Path, key: &Path) {
        let (cert_pem, key_pem) = self.server_cert();
        for (path, text) in [(key, key_pem), (cert, cert_pem)] {
            let next = path.with_extension("next");
            std::fs::write(&next, text).expect("written");
            std::fs::rename(&next, path).expect("renamed");
        }
    }
}

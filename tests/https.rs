//! HTTPS beside plain HTTP, end to end with curl against certificates made at test time:
//! an update over HTTPS, the caller's address and the cookie's `Secure` flag right on both
//! listeners, and a certificate replaced while serving used from the next connection on (a
//! broken replacement leaves the last good one in use).

mod support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use support::tenants::{PASS, setup_with};
use support::tls::TestCa;
use support::{Backend, eventually};

/// curl against `url` trusting only `ca`: (exit status, body, headers).
fn curl(ca: &Path, url: &str, extra: &[&str]) -> (i32, String, String) {
    let out = Command::new("curl")
        .args([
            "--silent",
            "--show-error",
            "--max-time",
            "10",
            "--dump-header",
            "-",
        ])
        .arg("--cacert")
        .arg(ca)
        .args(extra)
        .arg(url)
        .output()
        .expect("curl runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (headers, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    (
        out.status.code().unwrap_or(-1),
        body.to_owned(),
        headers.to_ascii_lowercase(),
    )
}

async fn updates_over_https(backend: Backend) {
    let dir = tempfile::tempdir().expect("temp dir");
    let first = TestCa::new(dir.path(), "first-ca");
    let (cert, key) = (dir.path().join("tls.crt"), dir.path().join("tls.key"));
    first.install_server_cert(&cert, &key);
    let server = setup_with(
        backend,
        &[
            ("DYN53_HTTPS_ADDR", "127.0.0.1:0"),
            ("DYN53_TLS_CERT", &cert.display().to_string()),
            ("DYN53_TLS_KEY", &key.display().to_string()),
        ],
    )
    .await;
    let https = server.https.expect("an HTTPS address");
    let base = format!("https://127.0.0.1:{}", https.port());

    let user = format!("alice@example.com:{PASS}");
    let (status, body, _) = curl(
        &first.cert_file,
        &format!("{base}/nic/update?hostname=home.dyn.test&myip=192.0.2.77"),
        &["--user", &user],
    );
    assert_eq!((status, body.as_str()), (0, "good 192.0.2.77"));
    // The caller's address is the TLS peer's, as on plain HTTP.
    let (_, body, _) = curl(&first.cert_file, &format!("{base}/checkip.cgi"), &[]);
    assert_eq!(body, "127.0.0.1");
    // Cookies are Secure over HTTPS, and only there.
    let (_, _, headers) = curl(&first.cert_file, &format!("{base}/login"), &[]);
    assert!(
        headers.contains("set-cookie:") && headers.contains("; secure"),
        "{headers}"
    );
    let plain = support::http::get(server.http, "/login", None, None).await;
    let cookie = plain
        .header("set-cookie")
        .unwrap_or_default()
        .to_ascii_lowercase();
    assert!(!cookie.is_empty() && !cookie.contains("secure"), "{cookie}");

    // A renewed certificate, from another authority: the next connections get it.
    let second = TestCa::new(dir.path(), "second-ca");
    second.install_server_cert(&cert, &key);
    let url = format!("{base}/healthz");
    eventually(Duration::from_secs(20), || async {
        (curl(&second.cert_file, &url, &[]).0 == 0).then_some(())
    })
    .await
    .expect("the renewed certificate is served");
    assert_ne!(
        curl(&first.cert_file, &url, &[]).0,
        0,
        "the old one is gone"
    );

    // A replacement that does not fit its key: logged, and the last good one stays.
    let (other_cert, _) = first.server_cert();
    std::fs::write(&cert, other_cert).expect("written");
    eventually(Duration::from_secs(20), || async {
        server
            .log()
            .contains("keeping the previous TLS certificate")
            .then_some(())
    })
    .await
    .expect("the broken certificate is reported");
    assert_eq!(curl(&second.cert_file, &url, &[]).1.trim(), "ok");
}

on_both_backends!(updates_over_https);

#[tokio::test(flavor = "multi_thread")]
async fn https_needs_a_certificate() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = Command::new(support::binary())
        .args(["serve"])
        .env("DYN53_DATA_DIR", dir.path())
        .env("DYN53_HTTPS_ADDR", "127.0.0.1:0")
        .env("RUST_LOG", "warn")
        .output()
        .expect("runs");
    assert!(!out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim(),
        "error: DYN53_HTTPS_ADDR needs DYN53_TLS_CERT and DYN53_TLS_KEY"
    );
}

//! The deployment bundle in `deploy/`, checked without a cluster or a container engine: the
//! compose file parsed and validated against the compose specification, the Kubernetes
//! manifests against the Kubernetes schemas (kubernetes-validate), the systemd units by
//! `systemd-analyze verify`; and what they rely on from the binary: the readiness
//! notification of `Type=notify` units and the `probe` health check of the image.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use compose_spec::Compose;
use support::{Process, binary};

fn deploy(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("deploy")
        .join(path)
}

fn files(dir: &str, extension: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(deploy(dir))
        .expect("deploy dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == extension))
        .collect();
    files.sort();
    files
}

#[test]
fn the_compose_file_is_a_valid_fleet() {
    let text = std::fs::read_to_string(deploy("compose.yaml")).expect("compose.yaml");
    // The file shares settings through YAML anchors and merge keys, some merged into
    // others: each pass resolves one level.
    let mut value: serde_yaml::Value = serde_yaml::from_str(&text).expect("YAML");
    for _ in 0..3 {
        value.apply_merge().expect("merge keys");
    }
    let compose: Compose = serde_yaml::from_value(value).expect("a compose file");
    compose.validate_all().expect("valid references");

    let service = |name: &str| {
        compose
            .services
            .iter()
            .find(|(id, _)| id.as_str() == name)
            .map(|(_, s)| s)
            .unwrap_or_else(|| panic!("service {name}"))
    };
    for name in ["postgres", "redis", "migrate"] {
        service(name);
    }
    // Two control-plane replicas and three DNS nodes, each watched by its health check.
    for name in ["web-1", "web-2", "dns-1", "dns-2", "dns-3"] {
        let s = service(name);
        assert!(s.healthcheck.is_some(), "{name} has a health check");
        assert_eq!(
            s.image.as_ref().map(ToString::to_string).as_deref(),
            Some("dyn53:latest")
        );
    }
}

#[test]
fn the_kubernetes_manifests_match_the_schemas() {
    let manifests: Vec<PathBuf> = files("kubernetes", "yaml")
        .into_iter()
        .filter(|p| !p.ends_with("kustomization.yaml"))
        .collect();
    // The kustomization lists every manifest, and nothing else.
    let kustomization =
        std::fs::read_to_string(deploy("kubernetes/kustomization.yaml")).expect("kustomization");
    let listed: serde_yaml::Value = serde_yaml::from_str(&kustomization).expect("YAML");
    let mut resources: Vec<&str> = listed["resources"]
        .as_sequence()
        .expect("resources")
        .iter()
        .filter_map(|r| r.as_str())
        .collect();
    resources.sort_unstable();
    let names: Vec<String> = manifests
        .iter()
        .map(|p| p.file_name().expect("name").to_string_lossy().into_owned())
        .collect();
    assert_eq!(resources, names);

    let out = Command::new("kubernetes-validate")
        .args(["--strict", "--kubernetes-version", "1.31.0"])
        .args(&manifests)
        .output()
        .expect("kubernetes-validate runs (pip install kubernetes-validate)");
    let report =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{report}");
    assert_eq!(
        report.matches(" passed for resource ").count(),
        manifests.len(),
        "{report}"
    );
}

#[test]
fn the_systemd_units_verify() {
    let dir = tempfile::tempdir().expect("temp dir");
    let units = files("systemd", "service");
    assert_eq!(units.len(), 3);
    let mut copies = Vec::new();
    for unit in &units {
        // verify checks that ExecStart's program exists: this build stands in for it.
        let text = std::fs::read_to_string(unit).expect("unit");
        assert!(text.contains("Type=notify"), "{}", unit.display());
        let copy = dir.path().join(unit.file_name().expect("name"));
        std::fs::write(
            &copy,
            text.replace("/usr/local/bin/dyn53", &binary().display().to_string()),
        )
        .expect("copy");
        copies.push(copy);
    }
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .args(&copies)
        .output()
        .expect("systemd-analyze runs");
    // It warns about unknown keys and bad values without failing: any output is a finding.
    let report =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && report.trim().is_empty(), "{report}");
}

#[test]
fn serve_tells_systemd_it_is_ready_and_answers_the_probe() {
    use std::os::unix::net::UnixDatagram;

    let dir = tempfile::tempdir().expect("temp dir");
    let socket_path = dir.path().join("notify");
    let socket = UnixDatagram::bind(&socket_path).expect("notify socket");
    socket
        .set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .expect("timeout");
    let server = Process::spawn(
        &["serve"],
        vec![
            (
                "DYN53_DATA_DIR".into(),
                dir.path().join("data").display().to_string(),
            ),
            ("DYN53_HTTP_ADDR".into(), "127.0.0.1:0".into()),
            ("DYN53_DNS_ADDR".into(), "127.0.0.1:0".into()),
            ("DYN53_MINIUPDATE_ADDR".into(), "off".into()),
            ("NOTIFY_SOCKET".into(), socket_path.display().to_string()),
        ],
        "dyn53 listening",
    );
    let mut message = [0u8; 256];
    let len = socket.recv(&mut message).expect("a notification");
    assert_eq!(&message[..len], b"READY=1\n");

    let http = server.addresses("http")[0];
    let probe = |url: String| {
        Command::new(binary())
            .args(["probe", &url])
            .env("RUST_LOG", "warn")
            .output()
            .expect("probe runs")
    };
    let ok = probe(format!("http://{http}/readyz"));
    assert!(ok.status.success(), "{ok:?}");
    let missing = probe(format!("http://{http}/no-such-page"));
    assert!(!missing.status.success());
    assert_eq!(
        String::from_utf8_lossy(&missing.stderr).trim(),
        format!("error: http://{http}/no-such-page answered \"HTTP/1.0 404 Not Found\"")
    );
}

//! README.md's shell blocks, run as written and in order against a freshly started
//! `dyn53 serve`, as a newcomer would paste them. Only addresses are substituted (the
//! server's free ports, the fleet's ports, data directories and database name) and the key
//! an earlier block printed. Every `# → answer` comment is checked against what its command
//! printed: `…` stands for anything, ` / ` separates lines.

mod support;

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};

use support::fleet::free_port;
use support::{binary, postgres_base, psql, serve_in};

/// A fenced ```sh block and the `## ` section it is in.
struct Block {
    section: String,
    text: String,
}

fn sh_blocks(readme: &str) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut section = String::new();
    let mut open: Option<String> = None;
    for line in readme.lines() {
        match &mut open {
            Some(text) if line.trim_start() == "```" => {
                blocks.push(Block {
                    section: section.clone(),
                    text: std::mem::take(text),
                });
                open = None;
            }
            Some(text) => {
                text.push_str(line);
                text.push('\n');
            }
            None if line.starts_with("## ") => section = line[3..].trim().to_owned(),
            None if line.trim_start() == "```sh" => open = Some(String::new()),
            None => {}
        }
    }
    blocks
}

/// A command with its continuation lines joined, and the answer its comment states.
struct Line {
    command: String,
    answer: Option<String>,
}

fn lines(block: &str) -> Vec<Line> {
    let mut lines = Vec::new();
    let mut pending = String::new();
    for line in block.lines() {
        if line.ends_with('\\') {
            pending.push_str(line);
            pending.push('\n');
            continue;
        }
        pending.push_str(line);
        let text = std::mem::take(&mut pending);
        lines.push(match text.split_once(" # → ") {
            Some((command, answer)) => Line {
                command: command.trim_end().to_owned(),
                answer: Some(answer.trim().to_owned()),
            },
            None => Line {
                command: text,
                answer: None,
            },
        });
    }
    lines
}

/// Whether `output` is `answer`, where `…` in the answer stands for any text.
fn matches(answer: &str, output: &str) -> bool {
    let parts: Vec<&str> = answer.split('…').collect();
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if parts.len() == 1 {
        return output == answer;
    }
    if !output.starts_with(first) || output.len() < first.len() + last.len() {
        return false;
    }
    let mut rest = &output[first.len()..];
    for part in &parts[1..parts.len() - 1] {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.ends_with(last)
}

/// A command's output as an answer comment writes it.
fn as_answer(output: &str) -> String {
    output
        .lines()
        .map(|line| line.trim_end())
        .filter(|line| !line.is_empty())
        .collect::<Vec<_>>()
        .join(" / ")
}

/// Kills the process groups of the blocks (the fleet's background processes) and drops
/// the fleet's database, however the test ends.
struct Cleanup {
    groups: Vec<u32>,
    database: String,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for group in &self.groups {
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{group}")])
                .stderr(Stdio::null())
                .status();
        }
        let _ = Command::new("psql")
            .arg(format!("{}/postgres", postgres_base()))
            .args([
                "-q",
                "-c",
                &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.database),
            ])
            .output();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_readme_runs_as_written() {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
        .expect("README.md");
    let blocks = sh_blocks(&readme);
    // The first block starts the server and the tests: this test does the former itself.
    assert_eq!(blocks[0].section, "Start");
    assert!(blocks[0].text.contains("-- serve"));

    let home = tempfile::tempdir().expect("temp dir");
    let server = serve_in(&home.path().join("dyn53-data")).await;
    let http = server.addresses("http")[0];
    let dns = server.addresses("dns")[0];
    let miniupdate = server.addresses("miniupdate")[0];
    let dns_update = server.addresses("dns_update")[0];

    let database = format!("dyn53_readme_{}", std::process::id());
    let mut cleanup = Cleanup {
        groups: Vec::new(),
        database: database.clone(),
    };
    psql(&format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)"));
    let nodes = [home.path().join("n1"), home.path().join("n2")];
    let addresses = [
        ("127.0.0.1:8080".to_owned(), http.to_string()),
        ("127.0.0.1:5300".to_owned(), dns.to_string()),
        ("-p 5300".to_owned(), format!("-p {}", dns.port())),
        (
            "/dev/tcp/127.0.0.1/9120".to_owned(),
            format!("/dev/tcp/127.0.0.1/{}", miniupdate.port()),
        ),
        (
            "server 127.0.0.1 5354".to_owned(),
            format!("server 127.0.0.1 {}", dns_update.port()),
        ),
        (
            "127.0.0.1:8081".to_owned(),
            format!("127.0.0.1:{}", free_port()),
        ),
        (
            "127.0.0.1:5301".to_owned(),
            format!("127.0.0.1:{}", free_port()),
        ),
        (
            "127.0.0.1:5302".to_owned(),
            format!("127.0.0.1:{}", free_port()),
        ),
        (
            "127.0.0.1:9101".to_owned(),
            format!("127.0.0.1:{}", free_port()),
        ),
        ("/tmp/n1".to_owned(), nodes[0].display().to_string()),
        ("/tmp/n2".to_owned(), nodes[1].display().to_string()),
        (
            "127.0.0.1/dyn53".to_owned(),
            format!("127.0.0.1/{database}"),
        ),
        (
            "-U postgres dyn53".to_owned(),
            format!("-U postgres {database}"),
        ),
    ];
    let bin_dir = binary().parent().expect("the binary's directory");
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );

    let mut key: Option<String> = None;
    let mut checked = 0;
    let mut wrong = Vec::new();
    for (number, block) in blocks.iter().enumerate().skip(1) {
        let mut text = block.text.clone();
        for (from, to) in &addresses {
            text = text.replace(from, to);
        }
        if let Some(key) = &key {
            text = text.replace("dyn53_…", key);
        }
        let lines = lines(&text);
        let outputs = tempfile::tempdir().expect("temp dir");
        let answer_file = |i: usize| outputs.path().join(format!("answer.{i}"));
        let mut script = String::new();
        for (i, line) in lines.iter().enumerate() {
            match &line.answer {
                Some(_) => script.push_str(&format!(
                    "{{ {}\n}} > '{}'\n",
                    line.command,
                    answer_file(i).display()
                )),
                None => {
                    script.push_str(&line.command);
                    script.push('\n');
                }
            }
        }
        let script_file = outputs.path().join("block.sh");
        let stderr_file = outputs.path().join("stderr");
        std::fs::write(&script_file, &script).expect("script written");
        // In the directory `serve` runs in, as the tour says: its ./dyn53-data is the data.
        let mut command = Command::new("timeout");
        command
            .arg("120")
            .arg("bash")
            .arg(&script_file)
            .current_dir(home.path())
            .env_clear()
            .env("PATH", &path)
            .env("HOME", home.path())
            // The fleet's feed, apart from other tests' in the same Redis.
            .env("DYN53_REDIS_PREFIX", format!("{database}:"))
            .stdin(Stdio::null())
            // Files, not pipes: what a block leaves running in the background would keep
            // a pipe open.
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&stderr_file).expect("stderr file"))
            // Its own process group, so that what it leaves running can be stopped.
            .process_group(0);
        let child = command.spawn().expect("bash runs");
        cleanup.groups.push(child.id());
        let mut child = child;
        tokio::task::spawn_blocking(move || child.wait())
            .await
            .expect("joined")
            .expect("bash finishes");
        let stderr = std::fs::read_to_string(&stderr_file).unwrap_or_default();

        for (i, line) in lines.iter().enumerate() {
            let Some(answer) = &line.answer else { continue };
            checked += 1;
            let printed = std::fs::read_to_string(answer_file(i)).unwrap_or_default();
            let printed = as_answer(&printed);
            if answer.contains("dyn53_…") {
                key = Some(printed.clone());
            }
            if !matches(answer, &printed) {
                wrong.push(format!(
                    "block {number} ({}): `{}`\n    README: {answer}\n    printed: {printed}\n    \
                     stderr of the block:\n{stderr}",
                    block.section, line.command
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {checked} answers differ:\n{}\nserver log:\n{}",
        wrong.len(),
        wrong.join("\n"),
        server.log()
    );
    assert!(
        checked >= 20,
        "only {checked} answers in README.md's blocks"
    );
    assert!(key.is_some_and(|k| k.starts_with("dyn53_")));
}

#[test]
fn answers_match_with_ellipses() {
    assert!(matches("good 192.0.2.10", "good 192.0.2.10"));
    assert!(!matches("good 192.0.2.10", "good 192.0.2.100"));
    assert!(matches("dyn53_…", "dyn53_abc"));
    assert!(!matches("dyn53_…", "error: no user"));
    assert!(matches(
        "{\"items\":[…],\"next_cursor\":null}",
        "{\"items\":[{}],\"next_cursor\":null}"
    ));
    assert!(matches("a … b … c", "a x b y c"));
    assert!(!matches("a … b … c", "a x c y b"));
    assert!(!matches("ab…ba", "aba"));
}

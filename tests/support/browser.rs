//! Browser tests: a headless Chromium driven over WebDriver (fantoccini) through a
//! `chromedriver` of the test's own, with the few helpers a user journey needs, screenshots
//! kept as artifacts, and `check_page`: title, one heading, nothing wider than the screen and
//! axe-core, at phone and desktop widths.

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::elements::{Element, ElementRef};
use fantoccini::error::CmdError;
use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};

/// The longest any browser command or wait may take (the slowest, axe-core or a click that
/// loads a page, takes under a second): a stuck browser fails the test with the page it was
/// on, instead of hanging it.
const TIMEOUT: Duration = Duration::from_secs(5);

/// Starting Chromium the first time on a busy machine is the one slow step.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// axe-core, installed by `scripts/test` (`npm ci --prefix tests/browser`).
const AXE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/browser/node_modules/axe-core/axe.min.js"
);

/// The axe-core rules the account manager is judged by; `check_page` runs the WCAG 2.1 A and
/// AA rules plus the two best-practice ones here, and fails if any of these did not run.
const REQUIRED_RULES: [&str; 9] = [
    "label",
    "color-contrast",
    "document-title",
    "page-has-heading-one",
    "html-has-lang",
    "landmark-one-main",
    "image-alt",
    "button-name",
    "link-name",
];

/// The key under which WebDriver returns an element from a script (the W3C spec's "web
/// element identifier").
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// The size of the page's viewport, and whether it is a phone's (which honours
/// `<meta name="viewport">` as a phone does).
#[derive(Clone, Copy, Debug)]
pub struct Viewport {
    pub name: &'static str,
    pub width: u32,
    pub height: u32,
    pub mobile: bool,
}

pub const PHONE: Viewport = Viewport {
    name: "phone",
    width: 390,
    height: 844,
    mobile: true,
};

pub const DESKTOP: Viewport = Viewport {
    name: "desktop",
    width: 1280,
    height: 800,
    mobile: false,
};

/// One headless Chromium session, killed with its chromedriver on drop.
pub struct Browser {
    client: Client,
    viewport: Viewport,
    /// Where this test's screenshots go, emptied at start.
    artifacts: PathBuf,
    axe: String,
    _driver: Driver,
}

impl Browser {
    /// Starts chromedriver and a fresh headless Chromium at desktop size.
    pub async fn start() -> Browser {
        let axe = std::fs::read_to_string(AXE).unwrap_or_else(|e| {
            panic!("{AXE}: {e}; run scripts/test, or `npm ci --prefix tests/browser`")
        });
        let artifacts = artifacts_dir();
        let driver = tokio::task::spawn_blocking(Driver::start)
            .await
            .expect("chromedriver starts");
        let profile = driver.scratch.path().join("profile");
        let millis = TIMEOUT.as_millis() as u64;
        let Value::Object(capabilities) = json!({
            "goog:chromeOptions": {
                "args": [
                    "--headless=new",
                    "--no-sandbox", // tests run as root in containers
                    "--disable-gpu",
                    "--disable-dev-shm-usage", // containers have a tiny /dev/shm
                    format!("--user-data-dir={}", profile.display()),
                ],
                // Not the new-tab page, which can keep the first command waiting for seconds.
                "prefs": { "session": { "restore_on_startup": 4, "startup_urls": ["about:blank"] } },
            },
            // chromedriver gives up on its own too, so a hung page answers with an error.
            "timeouts": { "pageLoad": millis, "script": millis, "implicit": 0 },
        }) else {
            unreachable!("a JSON object")
        };
        let mut builder = ClientBuilder::new(HttpConnector::new());
        builder.capabilities(capabilities);
        let connect = builder.connect(&driver.url);
        let client = match tokio::time::timeout(START_TIMEOUT, connect).await {
            Ok(Ok(client)) => client,
            Ok(Err(e)) => panic!("Chromium did not start: {e}"),
            Err(_) => panic!("Chromium did not start within {START_TIMEOUT:?}"),
        };
        let mut browser = Browser {
            client,
            viewport: DESKTOP,
            artifacts,
            axe,
            _driver: driver,
        };
        browser.set_viewport(DESKTOP).await;
        browser
    }

    /// Gives the page `viewport` through Chrome's device emulation, as Puppeteer and Playwright
    /// do: resizing the window instead takes effect some time after WebDriver answers, and
    /// cannot go below 500 px wide.
    pub async fn set_viewport(&mut self, viewport: Viewport) {
        let metrics = json!({
            "width": viewport.width,
            "height": viewport.height,
            "screenWidth": viewport.width,
            "screenHeight": viewport.height,
            "deviceScaleFactor": 1,
            "mobile": viewport.mobile,
        });
        self.cdp("Emulation.setDeviceMetricsOverride", metrics)
            .await;
        let screen = self
            .script("return [screen.width, screen.height]", vec![])
            .await;
        self.ensure(
            screen == json!([viewport.width, viewport.height]),
            format!("the screen is {screen}, not {viewport:?}"),
        )
        .await;
        self.viewport = viewport;
    }

    pub async fn goto(&self, url: &str) {
        self.run(&format!("going to {url}"), self.client.goto(url))
            .await;
    }

    /// Types `value` into the field whose `<label>` reads `field` (or, failing that, whose
    /// name is `field`), replacing what it held.
    pub async fn fill(&self, field: &str, value: &str) {
        let input = self.find("field", field).await;
        self.run(&format!("clearing {field:?}"), input.clear())
            .await;
        self.run(&format!("typing into {field:?}"), input.send_keys(value))
            .await;
    }

    /// What the field whose `<label>` reads `field` (or whose name is `field`) holds.
    pub async fn value(&self, field: &str) -> String {
        let input = self.find("field", field).await;
        self.run(&format!("reading {field:?}"), input.prop("value"))
            .await
            .unwrap_or_default()
    }

    /// Fills in and sends the sign-in form at `base`, as a person does.
    pub async fn sign_in(&self, base: &str, email: &str, password: &str) {
        self.goto(&format!("{base}/login")).await;
        self.fill("E-mail address", email).await;
        self.fill("Password", password).await;
        self.click_button("Sign in").await;
    }

    /// Picks the radio button (or ticks the checkbox) whose `<label>` reads `label`.
    pub async fn choose(&self, label: &str) {
        let input = self.find("field", label).await;
        self.run(&format!("choosing {label:?}"), input.click())
            .await;
    }

    /// Clicks the button that reads `text`; a form's submit button must load a new page.
    pub async fn click_button(&self, text: &str) {
        let button = self.find("button", text).await;
        self.click(text, button).await;
    }

    /// Clicks the link that reads `text`, which must load a new page.
    pub async fn click_link(&self, text: &str) {
        let link = self.find("link", text).await;
        self.click(text, link).await;
    }

    /// Clicks, then waits until the page the click loads, if it should load one, is there:
    /// WebDriver's click can answer before a form submission has even begun navigating.
    async fn click(&self, text: &str, element: Element) {
        let navigates = self.script(MARK_PAGE, vec![json!(element)]).await == json!(true);
        self.run(&format!("clicking {text:?}"), element.click())
            .await;
        let loaded = !navigates
            || super::eventually(TIMEOUT, async || {
                let done = self.script(NEW_PAGE_LOADED, vec![]).await;
                (done == json!(true)).then_some(())
            })
            .await
            .is_some();
        self.ensure(
            loaded,
            format!("clicking {text:?} loaded no new page within {TIMEOUT:?}"),
        )
        .await;
    }

    /// The page's visible text, as the user reads it.
    pub async fn text(&self) -> String {
        let body = self
            .run("finding <body>", self.client.find(Locator::Css("body")))
            .await;
        self.run("reading the page text", body.text()).await
    }

    pub async fn title(&self) -> String {
        self.run("reading the title", self.client.title()).await
    }

    pub async fn current_url(&self) -> String {
        self.run("reading the URL", self.client.current_url())
            .await
            .into()
    }

    /// Saves what the viewport shows as `<artifacts>/<name>.png` and prints its path, which
    /// the test output shows on failure (or with `--nocapture`).
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let png = self
            .run("taking a screenshot", self.client.screenshot())
            .await;
        let path = self.artifacts.join(format!("{name}.png"));
        std::fs::create_dir_all(&self.artifacts).expect("artifacts directory");
        std::fs::write(&path, png).expect("screenshot written");
        println!("screenshot: {}", path.display());
        path
    }

    /// Checks the current page at phone and desktop widths, keeping a screenshot of each
    /// (`NAME-phone.png`, `NAME-desktop.png`): a title, exactly one visible `<h1>`, nothing
    /// wider than the screen, and no axe-core violation. Restores the viewport it found.
    pub async fn check_page(&mut self, name: &str) {
        let before = self.viewport;
        for viewport in [PHONE, DESKTOP] {
            self.set_viewport(viewport).await;
            self.screenshot(&format!("{name}-{}", viewport.name)).await;
            let at = format!("{name} at {} width ({}px)", viewport.name, viewport.width);
            let title = self.title().await;
            self.ensure(!title.trim().is_empty(), format!("{at}: no <title>"))
                .await;
            let layout = self.script(LAYOUT, vec![json!(viewport.width)]).await;
            let headings = layout["headings"].as_u64().unwrap_or(0);
            self.ensure(
                headings == 1,
                format!("{at}: {headings} visible <h1> elements, not one"),
            )
            .await;
            // A phone lays a page that does not fit out wider and zooms it out, rather than
            // scrolling it: both widths must be the screen's.
            let width = Some(u64::from(viewport.width));
            self.ensure(
                layout["innerWidth"].as_u64() == width && layout["scrollWidth"].as_u64() <= width,
                format!(
                    "{at}: the page is wider than the screen: {layout}\n(a page without \
                     <meta name=\"viewport\" content=\"width=device-width\"> is 980px wide)"
                ),
            )
            .await;
            self.check_accessibility(&at).await;
        }
        self.set_viewport(before).await;
    }

    /// Runs axe-core on the page and fails with one line per rule and element it flags.
    async fn check_accessibility(&self, at: &str) {
        self.script(&self.axe, vec![]).await;
        let result = self
            .run(
                "running axe-core",
                self.client
                    .execute_async(AXE_RUN, vec![json!(REQUIRED_RULES)]),
            )
            .await;
        let error = &result["error"];
        self.ensure(error.is_null(), format!("{at}: axe-core failed: {error}"))
            .await;
        let missing = &result["missing"];
        self.ensure(
            missing.as_array().is_some_and(Vec::is_empty),
            format!("{at}: axe-core did not run the rules {missing}"),
        )
        .await;
        let violations = result["violations"].as_array().cloned().unwrap_or_default();
        let report: Vec<String> = violations
            .iter()
            .flat_map(|v| {
                v["nodes"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(move |node| {
                        format!(
                            "- {} ({}) at `{}`:\n    {}",
                            v["id"].as_str().unwrap_or("?"),
                            v["help"].as_str().unwrap_or(""),
                            node["target"].as_str().unwrap_or("?"),
                            node["summary"]
                                .as_str()
                                .unwrap_or("")
                                .replace('\n', "\n    "),
                        )
                    })
            })
            .collect();
        self.ensure(
            report.is_empty(),
            format!(
                "{at}: axe-core: {} rule(s) violated:\n{}",
                violations.len(),
                report.join("\n")
            ),
        )
        .await;
    }

    /// The first visible field, button or link (`kind`) that reads `text`, waited for.
    async fn find(&self, kind: &str, text: &str) -> Element {
        let found = super::eventually(TIMEOUT, async || {
            let found = self.script(FIND, vec![json!(kind), json!(text)]).await;
            let id = found.get(ELEMENT_KEY)?.as_str()?;
            Some(Element::from_element_id(
                self.client.clone(),
                ElementRef::from(id.to_owned()),
            ))
        })
        .await;
        match found {
            Some(element) => element,
            None => panic!(
                "no {kind} {text:?} within {TIMEOUT:?}\n{}",
                self.context().await
            ),
        }
    }

    /// Runs a Chrome DevTools command, through chromedriver's `goog/cdp/execute`.
    async fn cdp(&self, command: &str, params: Value) {
        let command = Cdp(json!({ "cmd": command, "params": params }));
        self.run(&format!("{command:?}"), self.client.issue_cmd(command))
            .await;
    }

    async fn script(&self, script: &str, args: Vec<Value>) -> Value {
        self.run("running a script", self.client.execute(script, args))
            .await
    }

    /// Awaits one WebDriver command for at most `TIMEOUT`; failing, panics with the page.
    async fn run<T>(&self, what: &str, command: impl Future<Output = Result<T, CmdError>>) -> T {
        match tokio::time::timeout(TIMEOUT, command).await {
            Ok(Ok(value)) => value,
            Ok(Err(e)) => panic!("{what}: {e}\n{}", self.context().await),
            Err(_) => panic!(
                "{what}: no answer within {TIMEOUT:?}\n{}",
                self.context().await
            ),
        }
    }

    async fn ensure(&self, ok: bool, message: impl std::fmt::Display) {
        if !ok {
            panic!("{message}\n{}", self.context().await);
        }
    }

    /// Where the browser is and what it shows, for failure messages; never fails itself.
    async fn context(&self) -> String {
        let quickly = Duration::from_secs(2);
        let url = match tokio::time::timeout(quickly, self.client.current_url()).await {
            Ok(Ok(url)) => url.to_string(),
            _ => "(unknown)".into(),
        };
        let text = tokio::time::timeout(quickly, async {
            self.client.find(Locator::Css("body")).await?.text().await
        })
        .await;
        let text = match text {
            Ok(Ok(text)) if text.chars().count() > 2000 => {
                format!("{}…", text.chars().take(2000).collect::<String>())
            }
            Ok(Ok(text)) => text,
            _ => "(unreadable)".into(),
        };
        format!("page: {url}\npage text:\n{text}")
    }
}

/// The first visible element of a kind that reads the given text, or null.
const FIND: &str = r"
const [kind, text] = arguments;
const norm = s => (s ?? '').replace(/\s+/g, ' ').trim();
const shown = css => [...document.querySelectorAll(css)].filter(e => e.checkVisibility());
switch (kind) {
case 'field':
  return shown('label').find(l => norm(l.innerText) === text)?.control
    ?? shown('input, select, textarea').find(e => e.name === text) ?? null;
case 'button':
  return shown('button, input[type=submit], input[type=button]')
    .find(b => norm(b.innerText || b.value) === text) ?? null;
case 'link':
  return shown('a[href]').find(a => norm(a.innerText) === text) ?? null;
}";

/// A Chrome DevTools command, which fantoccini has no method for.
#[derive(Debug)]
struct Cdp(Value);

impl WebDriverCompatibleCommand for Cdp {
    fn endpoint(
        &self,
        base: &url::Url,
        session: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base.join(&format!(
            "session/{}/goog/cdp/execute",
            session.unwrap_or("")
        ))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (http::Method::POST, Some(self.0.to_string()))
    }
}

/// Marks the page when clicking the element (the argument) should load another: a link
/// elsewhere or a form's submit button. Returns whether it should.
const MARK_PAGE: &str = r"
const [e] = arguments;
const navigates = e.matches('a[href]:not([href^=\'#\'])') || (e.form !== null && e.type === 'submit');
if (navigates) window.dyn53OldPage = true;
return navigates;";

/// Whether the marked page has been replaced by one that finished loading.
const NEW_PAGE_LOADED: &str =
    r"return window.dyn53OldPage === undefined && document.readyState === 'complete';";

/// What `check_page` asserts on the layout, with the elements that stick out of the screen
/// (its width is the argument), if any.
const LAYOUT: &str = r"
const [width] = arguments;
return {
  headings: [...document.querySelectorAll('h1')].filter(h => h.checkVisibility()).length,
  scrollWidth: document.documentElement.scrollWidth,
  innerWidth,
  tooWide: [...document.querySelectorAll('body *')]
    .filter(e => e.getBoundingClientRect().right > width)
    .slice(0, 5).map(e => e.outerHTML.slice(0, 100)),
};";

/// WCAG 2.1 A and AA, plus the best practices of one `<h1>` and one `<main>`; returns the
/// violations and which of the required rules (the argument) did not run.
const AXE_RUN: &str = r"
const [required, done] = arguments;
axe.run(document, {
  runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] },
  rules: { 'page-has-heading-one': { enabled: true }, 'landmark-one-main': { enabled: true } },
}).then(r => {
  const ran = new Set([...r.passes, ...r.violations, ...r.incomplete, ...r.inapplicable]
    .map(rule => rule.id));
  done({
    missing: required.filter(id => !ran.has(id)),
    violations: r.violations.map(v => ({ id: v.id, help: v.help, nodes: v.nodes.map(n => ({
      target: n.target.join(' '), summary: n.failureSummary })) })),
  });
}, e => done({ error: String(e) }));";

/// `<target>/test-artifacts/<binary>-<test>/`, emptied: the test's name comes from its thread
/// (`sqlite::landing`), the target directory from the `dyn53` binary, so `CARGO_TARGET_DIR`
/// is followed.
fn artifacts_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let stem = exe.file_stem().and_then(|s| s.to_str()).unwrap_or("tests");
    let binary = stem.rsplit_once('-').map_or(stem, |(name, _hash)| name);
    let test = std::thread::current()
        .name()
        .unwrap_or("unnamed")
        .replace("::", "-");
    let target = super::binary()
        .ancestors()
        .nth(2)
        .unwrap_or(Path::new("target"));
    let dir = target
        .join("test-artifacts")
        .join(format!("{binary}-{test}"));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// `chromedriver` on a free port, in a process group of its own: dropping it kills the
/// group, so the Chromium it started goes too, even when a test panics mid-session. Both
/// keep their files in `scratch` (the profile, and as `TMPDIR` what Chromium leaves in
/// `/tmp` when killed), which is deleted after them.
struct Driver {
    child: Child,
    url: String,
    scratch: tempfile::TempDir,
}

impl Driver {
    /// Starts chromedriver; once more if it exits before saying its port, which it was
    /// seen to do once under load with the stderr that would say why thrown away.
    fn start() -> Driver {
        match Driver::try_start() {
            Some(driver) => driver,
            None => Driver::try_start().expect("chromedriver reports its port"),
        }
    }

    fn try_start() -> Option<Driver> {
        let scratch = tempfile::tempdir().expect("temp dir");
        let mut child = Command::new("chromedriver")
            .arg("--port=0")
            .env("TMPDIR", scratch.path())
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver runs (Debian: apt-get install chromium chromium-driver)");
        let stdout = child.stdout.take().expect("stdout is piped");
        let (tx, rx) = std::sync::mpsc::channel();
        // Reads to the end, so chromedriver never blocks on a full pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(port) =
                    line.strip_prefix("ChromeDriver was started successfully on port ")
                {
                    let _ = tx.send(port.trim_end_matches('.').to_owned());
                }
            }
        });
        // Built before waiting, so that a chromedriver that never answers is killed too.
        let mut driver = Driver {
            child,
            url: String::new(),
            scratch,
        };
        let port = rx.recv_timeout(START_TIMEOUT).ok()?;
        driver.url = format!("http://127.0.0.1:{port}");
        Some(driver)
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .status();
        let _ = self.child.wait();
    }
}

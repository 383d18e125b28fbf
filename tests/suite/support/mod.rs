//! Test harness: starts the real `herald` binary on a random port with a temporary data
//! directory, and talks HTTP to it like a browser or an API client would.
#![allow(dead_code)]

pub mod api;
pub mod dkim_verify;
pub mod dns;
pub mod in_process;
pub mod receiver;
pub mod smtp;
pub mod standard_webhooks;
pub mod stub_server;
pub mod twilio;
pub mod whatsapp;

use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use reqwest::blocking::{Client, Response};
use reqwest::redirect::Policy;

use api::Api;
#[allow(unused_imports)] // not every test file starts one
pub use in_process::InProcessHerald;

pub const BIN: &str = env!("CARGO_BIN_EXE_herald");

/// A running Herald server owned by one test.
pub struct Herald {
    pub dir: tempfile::TempDir,
    pub port: u16,
    pub base: String,
    child: Option<Child>,
    env: Vec<(String, String)>,
}

/// A free loopback port (bound then released; good enough for tests).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Herald {
    /// Starts a server with default configuration.
    pub fn start() -> Herald {
        Self::start_with(&[])
    }

    /// A temporary data directory and no server yet: for a server started another way
    /// (in this process, say), whose `base` and `port` the caller fills in.
    pub fn without_process() -> Herald {
        Herald {
            dir: tempfile::tempdir().unwrap(),
            port: 0,
            base: String::new(),
            child: None,
            env: Vec::new(),
        }
    }

    /// Starts a server with extra `HERALD_…` environment settings.
    pub fn start_with(env: &[(&str, &str)]) -> Herald {
        let dir = tempfile::tempdir().unwrap();
        let mut herald = Herald {
            dir,
            port: 0,
            base: String::new(),
            child: None,
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        };
        herald.spawn();
        herald
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("herald.log")
    }

    /// Everything the server has logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    fn command(&self) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.env_remove("RUST_LOG").env("HERALD_LOG__LEVEL", "info");
        // `{base}` in a setting stands for this server's own address (its port changes
        // on every start), e.g. `HERALD_SERVER__BASE_URL={base}`.
        for (k, v) in &self.env {
            cmd.env(k, v.replace("{base}", &self.base));
        }
        cmd.arg("--data-dir").arg(self.data_dir());
        cmd
    }

    /// (Re)starts the server process on a fresh port and waits until it is healthy.
    pub fn spawn(&mut self) {
        self.port = free_port();
        self.base = format!("http://127.0.0.1:{}", self.port);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .unwrap();
        let child = self
            .command()
            .arg("serve")
            .arg("--listen")
            .arg(format!("127.0.0.1:{}", self.port))
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start herald");
        self.child = Some(child);
        self.wait_healthy();
    }

    fn wait_healthy(&mut self) {
        let client = Client::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(r) = client.get(self.url("/healthz")).send()
                && r.status() == 200
            {
                return;
            }
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("herald exited with {status}:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("herald did not become healthy:\n{}", self.log());
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// Sends SIGTERM and waits for the process to exit; returns its exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("server running");
        Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "herald did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the server with SIGKILL, as a crash or power cut would, and waits for it.
    pub fn crash(&mut self) {
        let mut child = self.child.take().expect("server running");
        child.kill().unwrap();
        child.wait().unwrap();
    }

    /// An owner, a workspace and an API key for it, in one call.
    pub fn workspace_with_key(&self, workspace: &str) -> String {
        let email = format!(
            "owner@{}.example.com",
            workspace.to_lowercase().replace(' ', "-")
        );
        self.add_user(&email, workspace, "owner-password", "owner");
        self.create_key(workspace)
    }

    /// Starts a server that sends its mail over plain SMTP to loopback `port`, with
    /// extra `HERALD_…` settings.
    pub fn start_with_smtp(port: u16, extra: &[(&str, &str)]) -> Herald {
        let port = port.to_string();
        let mut env = vec![
            ("HERALD_SMTP__HOST", "127.0.0.1"),
            ("HERALD_SERVER__BASE_URL", "{base}"),
            ("HERALD_SMTP__PORT", port.as_str()),
            ("HERALD_SMTP__TLS", "none"),
        ];
        env.extend_from_slice(extra);
        Herald::start_with(&env)
    }

    /// An owner of a new workspace, signed in in a browser, and an API client for that
    /// workspace.
    pub fn owner_signed_in(&self, email: &str, workspace: &str, password: &str) -> (Client, Api) {
        self.add_user(email, workspace, password, "owner");
        let api = Api::with_key(self, self.create_key(workspace));
        (self.signed_in(email, password), api)
    }

    /// Runs a `herald` subcommand against this server's data directory.
    pub fn cli(&self, args: &[&str], stdin: Option<&str>) -> Output {
        run_cli(self.command(), args, stdin)
    }

    /// Creates a user in a workspace through the CLI.
    pub fn add_user(&self, email: &str, workspace: &str, password: &str, role: &str) {
        let out = self.cli(
            &[
                "user",
                "add",
                "--email",
                email,
                "--workspace",
                workspace,
                "--role",
                role,
                "--password-stdin",
            ],
            Some(&format!("{password}\n")),
        );
        assert!(
            out.status.success(),
            "user add failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Creates an API key through the CLI and returns it.
    pub fn create_key(&self, workspace: &str) -> String {
        let out = self.cli(
            &[
                "apikey",
                "create",
                "--workspace",
                workspace,
                "--name",
                "test",
            ],
            None,
        );
        assert!(
            out.status.success(),
            "apikey create failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .last()
            .unwrap()
            .trim()
            .to_string()
    }

    /// A browser-like client: keeps cookies, does not follow redirects.
    pub fn browser(&self) -> Client {
        Client::builder()
            .cookie_store(true)
            .redirect(Policy::none())
            .build()
            .unwrap()
    }

    /// Signs a new browser in and returns it.
    pub fn signed_in(&self, email: &str, password: &str) -> Client {
        let browser = self.browser();
        let response = login(self, &browser, email, password);
        assert_eq!(response.status(), 303, "login failed");
        browser
    }

    /// Opens a raw SQLite connection on the server's database (for assertions only).
    pub fn db_path(&self) -> PathBuf {
        self.data_dir().join("herald.db")
    }
}

impl Drop for Herald {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Runs the binary with the given arguments, feeding `stdin`.
pub fn run_cli(mut cmd: Command, args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = cmd
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        let mut pipe = child.stdin.take().unwrap();
        if let Some(input) = stdin {
            pipe.write_all(input.as_bytes()).unwrap();
        }
    }
    child.wait_with_output().unwrap()
}

/// A bare command for tests that manage their own data directory and environment.
pub fn bare_command(data_dir: &Path) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.env_remove("RUST_LOG");
    cmd.arg("--data-dir").arg(data_dir);
    cmd
}

/// The value of the first hidden `csrf_token` input in a page.
pub fn csrf_from(html: &str) -> String {
    let marker = "name=\"csrf_token\" value=\"";
    let start = html.find(marker).expect("page has a CSRF field") + marker.len();
    html[start..start + html[start..].find('"').unwrap()].to_string()
}

/// Where a redirect points.
pub fn location(r: &Response) -> String {
    r.headers()["location"].to_str().unwrap().to_string()
}

/// Submits the login form the way a browser does: load the page, post with its token.
pub fn login(
    herald: &Herald,
    browser: &Client,
    email: &str,
    password: &str,
) -> reqwest::blocking::Response {
    let page = browser
        .get(herald.url("/login"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    let token = csrf_from(&page);
    browser
        .post(herald.url("/login"))
        .form(&[
            ("email", email),
            ("password", password),
            ("csrf_token", token.as_str()),
            ("next", "/"),
        ])
        .send()
        .unwrap()
}

/// GETs `path` with `browser` and returns the body as text, whatever the status.
pub fn get_text(herald: &Herald, browser: &Client, path: &str) -> String {
    browser
        .get(herald.url(path))
        .send()
        .unwrap()
        .text()
        .unwrap()
}

/// GETs a page, asserts 200, and returns its HTML.
pub fn page_html(herald: &Herald, browser: &Client, path: &str) -> String {
    let r = browser.get(herald.url(path)).send().unwrap();
    assert_eq!(r.status(), 200, "GET {path}");
    r.text().unwrap()
}

/// GETs a page and returns its CSRF token (the page must be signed in).
pub fn page_csrf(herald: &Herald, browser: &Client, path: &str) -> String {
    csrf_from(&get_text(herald, browser, path))
}

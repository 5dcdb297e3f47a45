//! The `dyn53` command: wires configuration and logging, then hands over to the library.

mod probe;
mod settings;

use std::io::{BufReader, Read};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use clap::{Args, Parser, Subcommand};
use dyn53_dns::fleet;
use dyn53_dns::{CookieSecret, DnsOptions, NodeConfig, RrlConfig};
use dyn53_web::config::{Config, FleetConfig, Storage};
use dyn53_web::db::{KeyProtocols, NewUserAccount, NewZone};
use ipnet::IpNet;

use dyn53_web::blocklists::BlockedAgents;
use dyn53_web::client_ip::TrustedProxies;
use dyn53_web::domain::{
    AccountStatus, Email, Fqdn, GroupName, KeyScope, Plan, Role, generate_password, parse_ipv4,
    parse_ipv6,
};
use dyn53_web::limits::AbuseLimit;
use dyn53_web::notify::NotifySettings;
use dyn53_web::serve::Opening;
use dyn53_web::tls::CertFiles;
use dyn53_web::update::UpdateLimits;
use dyn53_web::{ops, serve};

/// mimalloc rather than glibc's malloc: the update path allocates on every request, and
/// glibc's malloc and free were a fifth of an update's CPU. Built without transparent huge
/// pages (root Cargo.toml); the deploy bundle sets `MIMALLOC_PURGE_DELAY=0`: with mimalloc
/// 3's default (a second), what loading a snapshot freed stayed resident, as pending purges
/// only run when the heap is busy and a DNS node's answer loop does not allocate
/// (bench/README.md, "mimalloc's memory"). `web` replicas keep mimalloc's second: they reuse
/// what they free at once, and purging it cost them a tenth of their CPU per update for
/// ~13 MB. Options cannot be set from here: mimalloc reads them before `main`, and setting
/// them later takes `unsafe`.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "dyn53", version, about = "Multi-tenant dynamic DNS service")]
struct Cli {
    #[command(flatten)]
    storage: StorageArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args)]
struct StorageArgs {
    /// Where the SQLite database and written e-mails live.
    #[arg(
        long,
        env = "DYN53_DATA_DIR",
        default_value = "./dyn53-data",
        global = true
    )]
    data_dir: PathBuf,
    /// `postgres://…` to use PostgreSQL; unset: SQLite in the data directory.
    #[arg(long, env = "DYN53_DATABASE_URL", global = true)]
    database_url: Option<String>,
}

#[derive(Subcommand)]
enum Command {
    /// Run everything in one process: HTTP, DNS and the feed between them.
    Serve(ServeArgs),
    /// Run the control plane of a fleet: HTTP, publishing every change to Redis.
    Web(WebArgs),
    /// Run a fleet DNS node: it needs only Redis (and its data directory for a local copy).
    Dns(DnsArgs),
    /// Rewrite the fleet feed in Redis from the database (e.g. after a Redis flush).
    Republish(PublishArgs),
    /// List the fleet's DNS nodes: revision, lag and heartbeat.
    Fleet(RedisArgs),
    /// Apply database migrations and exit.
    Migrate,
    /// Check a health URL (`http://127.0.0.1:8080/readyz`): exit 0 on a 2xx answer. The
    /// container image's health check, as it has no curl.
    Probe { url: String },
    /// Manage the zones the service answers for.
    #[command(subcommand)]
    Zone(ZoneCommand),
    /// Manage users (`user add` creates the user's own account unless `--member-of`).
    #[command(subcommand)]
    User(UserCommand),
    /// Suspend or reactivate accounts.
    #[command(subcommand)]
    Account(AccountCommand),
    /// Manage host names.
    #[command(subcommand)]
    Host(HostCommand),
    /// Manage groups of hosts.
    #[command(subcommand)]
    Group(GroupCommand),
    /// Manage update keys.
    #[command(subcommand)]
    Key(KeyCommand),
}

#[derive(Args)]
struct ServeArgs {
    #[command(flatten)]
    control: ControlArgs,
    /// DNS listen address, UDP and TCP.
    #[arg(long, env = "DYN53_DNS_ADDR", default_value = "127.0.0.1:5300")]
    dns_addr: SocketAddr,
    #[command(flatten)]
    dns_options: DnsOptionArgs,
}

#[derive(Args)]
struct WebArgs {
    #[command(flatten)]
    control: ControlArgs,
    #[command(flatten)]
    publish: PublishArgs,
}

#[derive(Args)]
struct RedisArgs {
    #[arg(
        long,
        env = "DYN53_REDIS_URL",
        default_value = "redis://127.0.0.1:6379"
    )]
    redis_url: String,
    /// Prefix of every key, so that deployments can share a Redis.
    #[arg(long, env = "DYN53_REDIS_PREFIX", default_value = "dyn53:")]
    redis_prefix: String,
}

#[derive(Args)]
struct PublishArgs {
    #[command(flatten)]
    redis: RedisArgs,
    /// About how many batches the feed's log keeps for nodes that fall behind (a node
    /// further behind reloads the whole copy).
    #[arg(long, env = "DYN53_REDIS_LOG_LENGTH", default_value_t = 100_000)]
    log_length: u64,
}

#[derive(Args)]
struct DnsArgs {
    #[command(flatten)]
    redis: RedisArgs,
    /// DNS listen address, UDP and TCP.
    #[arg(long, env = "DYN53_DNS_ADDR", default_value = "127.0.0.1:5300")]
    dns_addr: SocketAddr,
    /// How `dyn53 fleet` lists this node. Default: the host name.
    #[arg(long, env = "DYN53_NODE_ID")]
    node_id: Option<String>,
    /// Address of the status port (`/metrics`, `/healthz`, `/readyz`); unset: none.
    #[arg(long, env = "DYN53_NODE_STATUS_ADDR")]
    status_addr: Option<SocketAddr>,
    #[command(flatten)]
    dns_options: DnsOptionArgs,
}

/// What a DNS node does beyond answering (rate limiting, cookies): the same flags and
/// defaults for `dyn53 dns` and for the node inside `dyn53 serve`.
#[derive(Args)]
struct DnsOptionArgs {
    /// UDP answers per second per source prefix, name and kind of answer; 0: no limit.
    #[arg(long, env = "DYN53_RRL_RATE", default_value_t = 200)]
    rrl_rate: u32,
    /// Every Nth limited answer goes out truncated (clients retry over TCP), the others are
    /// dropped; 0: drop them all.
    #[arg(long, env = "DYN53_RRL_SLIP", default_value_t = 2)]
    rrl_slip: u32,
    /// Prefix length of an IPv4 source.
    #[arg(long, env = "DYN53_RRL_IPV4_PREFIX", default_value_t = 24,
          value_parser = clap::value_parser!(u8).range(0..=32))]
    rrl_ipv4_prefix: u8,
    /// Prefix length of an IPv6 source.
    #[arg(long, env = "DYN53_RRL_IPV6_PREFIX", default_value_t = 56,
          value_parser = clap::value_parser!(u8).range(0..=128))]
    rrl_ipv6_prefix: u8,
    /// Addresses and prefixes never limited, comma-separated.
    #[arg(long, env = "DYN53_RRL_EXEMPT", value_delimiter = ',', value_parser = parse_net)]
    rrl_exempt: Vec<IpNet>,
    /// Log and count what would be limited, but answer everything.
    #[arg(long, env = "DYN53_RRL_LOG_ONLY")]
    rrl_log_only: bool,
    /// The DNS cookie secret, 32 hex digits: the same on every node lets clients keep their
    /// cookie across nodes. Unset: random at every start.
    #[arg(long, env = "DYN53_COOKIE_SECRET", hide_env_values = true)]
    cookie_secret: Option<CookieSecret>,
}

impl DnsOptionArgs {
    fn into_options(self) -> DnsOptions {
        let rrl = (self.rrl_rate > 0).then_some(RrlConfig {
            rate: self.rrl_rate,
            slip: self.rrl_slip,
            ipv4_prefix: self.rrl_ipv4_prefix,
            ipv6_prefix: self.rrl_ipv6_prefix,
            exempt: self.rrl_exempt,
            log_only: self.rrl_log_only,
        });
        DnsOptions {
            rrl,
            cookie_secret: self.cookie_secret.unwrap_or_else(CookieSecret::random),
        }
    }
}

/// A prefix (`192.0.2.0/24`) or a single address.
fn parse_net(text: &str) -> Result<IpNet, String> {
    let text = text.trim();
    text.parse::<IpNet>()
        .map(|net| net.trunc())
        .or_else(|_| text.parse::<IpAddr>().map(IpNet::from))
        .map_err(|_| format!("{text:?} is not an address or a prefix like 192.0.2.0/24"))
}

#[derive(Args)]
struct ControlArgs {
    /// HTTP listen addresses, comma-separated (e.g. `0.0.0.0:80,0.0.0.0:8245`).
    #[arg(
        long,
        env = "DYN53_HTTP_ADDR",
        default_value = "127.0.0.1:8080",
        value_delimiter = ','
    )]
    http_addr: Vec<SocketAddr>,
    /// HTTPS listen addresses, comma-separated (e.g. `0.0.0.0:443`); they need
    /// DYN53_TLS_CERT and DYN53_TLS_KEY.
    #[arg(long, env = "DYN53_HTTPS_ADDR", value_delimiter = ',')]
    https_addr: Vec<SocketAddr>,
    /// The HTTPS certificate chain, PEM; read again when it changes.
    #[arg(long, env = "DYN53_TLS_CERT", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The HTTPS certificate's private key, PEM; read again when it changes.
    #[arg(long, env = "DYN53_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// SMTP server for e-mail: `smtp://host:25`, `smtp://user:pass@host:587?tls=required`
    /// (STARTTLS) or `smtps://host:465`. Unset: `.eml` files in the data dir's `mail/`.
    #[arg(long, env = "DYN53_SMTP_URL")]
    smtp_url: Option<String>,
    /// The sender of e-mails.
    #[arg(
        long,
        env = "DYN53_MAIL_FROM",
        default_value = "dyn53 <noreply@dyn53.localhost>"
    )]
    mail_from: String,
    /// The service's address as people reach it, for e-mailed links. Default: `http://` and
    /// the first HTTP address.
    #[arg(long, env = "DYN53_PUBLIC_URL")]
    public_url: Option<String>,
    /// The secret that signs REST API tokens (at least 32 characters); every `web` replica
    /// needs the same. Unset: one drawn at start.
    #[arg(long, env = "DYN53_JWT_SECRET")]
    jwt_secret: Option<String>,
    /// The miniupdate TCP protocol's address; `off` to not serve it.
    #[arg(long, env = "DYN53_MINIUPDATE_ADDR", default_value = "127.0.0.1:9120")]
    miniupdate_addr: String,
    /// The RFC 2136 dynamic update listener's address (UDP and TCP), for updates signed
    /// with a TSIG key (`dyn53 key create --tsig`); `off` (the default) to not serve it.
    #[arg(long, env = "DYN53_DNS_UPDATE_ADDR", default_value = "off")]
    dns_update_addr: String,
    /// Zones to create at start when missing, comma-separated.
    #[arg(
        long,
        env = "DYN53_ZONES",
        default_value = "dyn.localhost",
        value_delimiter = ','
    )]
    zones: Vec<String>,
    /// Proxies whose `X-Forwarded-For` is believed: comma-separated CIDRs.
    #[arg(long, env = "DYN53_TRUSTED_PROXIES", default_value = "")]
    trusted_proxies: String,
    /// User-Agents refused with `badagent`: comma-separated, each matched as a
    /// case-insensitive substring.
    #[arg(long, env = "DYN53_BLOCKED_AGENTS", value_delimiter = ',')]
    blocked_agents: Vec<String>,
    /// Extra paths answered as `/nic/update` (odd firmware URLs), comma-separated.
    #[arg(long, env = "DYN53_UPDATE_PATHS", value_delimiter = ',')]
    update_paths: Vec<String>,
    /// At most COUNT accepted updates per host in SECONDS; beyond that, `abuse`.
    #[arg(long, env = "DYN53_ABUSE_LIMIT", default_value = "10/600", value_parser = AbuseLimit::parse)]
    abuse_limit: AbuseLimit,
    /// At most COUNT wrong credentials from one source address in SECONDS; beyond that its
    /// updates are refused (`badauth`) unchecked until the window has room.
    #[arg(long, env = "DYN53_AUTH_FAILURE_LIMIT", default_value = "20/600", value_parser = AbuseLimit::parse)]
    auth_failure_limit: AbuseLimit,
    /// At most COUNT REST API calls per caller (a user's tokens, or one key) in SECONDS;
    /// beyond that, 429 with Retry-After.
    #[arg(long, env = "DYN53_API_RATE_LIMIT", default_value = "600/60", value_parser = AbuseLimit::parse)]
    api_rate_limit: AbuseLimit,
    /// At most COUNT wrong passwords for one login in SECONDS, from all sources together
    /// (protocols, sign-in, API tokens); beyond that its passwords are refused unchecked
    /// until the window has room. Its update keys still work.
    #[arg(long, env = "DYN53_GUESS_LIMIT", default_value = "100/900", value_parser = AbuseLimit::parse)]
    guess_limit: AbuseLimit,
    /// Callers that may wait for a password-hashing run (one per core runs at once);
    /// beyond them, each protocol's "try later" answer at once.
    #[arg(long, env = "DYN53_HASH_QUEUE", default_value_t = dyn53_web::hashing::DEFAULT_QUEUE)]
    hash_queue: usize,
    /// Address of the metrics port (`/metrics`, `/healthz`, `/readyz`); unset: none. Keep it
    /// off the public network, like a node's status port.
    #[arg(long, env = "DYN53_METRICS_ADDR")]
    metrics_addr: Option<SocketAddr>,
    /// Seconds before a failed notification is tried again; each retry waits twice as
    /// long, up to DYN53_NOTIFY_RETRY_MAX.
    #[arg(long, env = "DYN53_NOTIFY_RETRY_MIN", default_value_t = 30)]
    notify_retry_min: u64,
    /// The longest wait between two tries of a notification, in seconds.
    #[arg(long, env = "DYN53_NOTIFY_RETRY_MAX", default_value_t = 3600)]
    notify_retry_max: u64,
    /// Seconds after its event that a notification not yet delivered is given up.
    #[arg(long, env = "DYN53_NOTIFY_MAX_AGE", default_value_t = 86_400)]
    notify_max_age: u64,
    /// Seconds between two looks for stale hosts.
    #[arg(long, env = "DYN53_NOTIFY_SCAN_INTERVAL", default_value_t = 300)]
    notify_scan_interval: u64,
    /// Let webhooks go to private, loopback and link-local addresses (a self-hosted
    /// receiver on the same network); refused by default.
    #[arg(long, env = "DYN53_NOTIFY_ALLOW_PRIVATE")]
    notify_allow_private: bool,
    /// A PEM file of certificates that webhooks' TLS trusts besides the public roots (a
    /// private CA).
    #[arg(long, env = "DYN53_NOTIFY_CA_FILE")]
    notify_ca_file: Option<PathBuf>,
}

#[derive(Subcommand)]
enum ZoneCommand {
    /// Create a zone (succeeds, saying so, when it exists).
    Add {
        name: String,
        /// Its name servers (NS records; the first is the SOA's primary). Default: `ns1.NAME`.
        #[arg(long, value_delimiter = ',')]
        ns: Vec<String>,
        /// Default TTL of its hosts, in seconds.
        #[arg(long, default_value_t = ops::DEFAULT_TTL)]
        ttl: u32,
        /// The zone belongs to the account of this user: only its hosts may be in it.
        /// Default: a shared zone, where every account may have hosts.
        #[arg(long)]
        owner: Option<String>,
    },
    /// List zones.
    List,
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create a user and its account, or a user in another user's account (--member-of).
    /// Without --password-stdin a password is generated and printed.
    Add {
        email: String,
        #[arg(long)]
        login: Option<String>,
        /// Read the password from standard input (its trailing newline is dropped).
        #[arg(long)]
        password_stdin: bool,
        /// May use the admin console.
        #[arg(long)]
        staff: bool,
        /// The plan of the new account (not with --member-of).
        #[arg(long, default_value = "free", value_parser = ["free", "premium"], conflicts_with = "member_of")]
        plan: String,
        /// Join the account of this user instead of creating one.
        #[arg(long, requires = "role")]
        member_of: Option<String>,
        /// The role in that account.
        #[arg(long, value_parser = ["admin", "editor", "viewer"], requires = "member_of")]
        role: Option<String>,
    },
}

#[derive(Subcommand)]
enum AccountCommand {
    /// Suspend the account of this user: its users and keys can no longer update.
    Suspend(AccountStatusArgs),
    /// Block the account of this user for abuse: its updates answer `abuse`.
    Block(AccountStatusArgs),
    /// Make the account of this user active again (lifts a suspension or a block).
    Activate(AccountStatusArgs),
}

#[derive(clap::Args)]
struct AccountStatusArgs {
    email: String,
    /// Why, for the audit log.
    #[arg(long)]
    reason: Option<String>,
}

#[derive(Subcommand)]
enum HostCommand {
    /// Create a host name in one of the zones.
    Add {
        fqdn: String,
        #[arg(long)]
        owner: String,
        #[arg(long, value_parser = parse_v4)]
        ipv4: Option<Ipv4Addr>,
        #[arg(long, value_parser = parse_v6)]
        ipv6: Option<Ipv6Addr>,
        #[arg(long)]
        ttl: Option<u32>,
    },
    /// Create many hosts from a file (`-` for standard input), one per line:
    /// `FQDN OWNER_EMAIL [IPV4] [IPV6]`. All or nothing.
    Import { file: PathBuf },
    /// Block a name for abuse: updates of its host answer `abuse`, also of a host created
    /// with the name later (after a delete, or before anyone has it).
    Block {
        fqdn: String,
        /// Why, for the record.
        #[arg(long)]
        reason: Option<String>,
    },
    /// Lift a name's block.
    Unblock { fqdn: String },
    /// Set the addresses a host serves while offline; without any, it serves no address
    /// while offline.
    OfflineAddresses {
        fqdn: String,
        #[arg(long, value_parser = parse_v4)]
        ipv4: Option<Ipv4Addr>,
        #[arg(long, value_parser = parse_v6)]
        ipv6: Option<Ipv6Addr>,
    },
}

#[derive(Subcommand)]
enum GroupCommand {
    /// Create a group, or set the members of an existing one.
    Add {
        name: String,
        #[arg(long)]
        owner: String,
        #[arg(long, value_delimiter = ',')]
        hosts: Vec<String>,
    },
}

#[derive(Subcommand)]
enum KeyCommand {
    /// Create an update key and print its secret, alone, on standard output.
    Create {
        #[arg(long)]
        user: String,
        #[arg(long, default_value = "update key")]
        name: String,
        /// Limit the key to these hosts.
        #[arg(long, value_delimiter = ',')]
        hosts: Vec<String>,
        /// Also usable for the miniupdate TCP protocol, whose challenge needs the key's MD5
        /// kept on the server as well.
        #[arg(long)]
        miniupdate: bool,
        /// For RFC 2136 dynamic updates (nsupdate, ACME clients' RFC 2136 plugins): print
        /// the TSIG key instead, as `hmac-sha256:NAME:SECRET` (nsupdate's `-y`), whose
        /// secret is kept on the server as well.
        #[arg(long)]
        tsig: bool,
        /// `update` (the update protocols only) or `api` (also the REST API).
        #[arg(long, default_value = "update", value_parser = ["update", "api"])]
        scope: String,
    },
}

/// A socket address, or `off` (also empty) for none.
fn optional_addr(s: &str) -> Result<Option<SocketAddr>, std::net::AddrParseError> {
    match s.trim() {
        "" | "off" => Ok(None),
        addr => addr.parse().map(Some),
    }
}

fn parse_v4(s: &str) -> Result<Ipv4Addr, String> {
    parse_ipv4(s).map_err(|e| e.to_string())
}

fn parse_v6(s: &str) -> Result<Ipv6Addr, String> {
    parse_ipv6(s).map_err(|e| e.to_string())
}

fn parse_fqdn(name: &str) -> anyhow::Result<Fqdn> {
    Fqdn::parse(name).with_context(|| format!("{name:?}"))
}

fn fqdns(names: &[String]) -> anyhow::Result<Vec<Fqdn>> {
    names.iter().map(|n| parse_fqdn(n)).collect()
}

/// Logs to stderr, filtered by `RUST_LOG`, as text or, with `DYN53_LOG_FORMAT=json`, one JSON
/// object per line (with the spans, such as the HTTP request's id, as fields) for a log
/// collector.
fn init_logging() -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        // hickory logs every query at INFO; actix logs each malformed client request at ERROR.
        format!(
            "info,sqlx=warn,sea_orm=warn,sea_orm_migration=warn,actix_http::h1::dispatcher=off,{}",
            dyn53_dns::LOG_DIRECTIVES
        )
        .into()
    });
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match std::env::var("DYN53_LOG_FORMAT").as_deref() {
        Ok("json") => logs
            .json()
            .with_current_span(false)
            .with_span_list(true)
            .init(),
        Ok("text") | Err(std::env::VarError::NotPresent) => logs
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
        Ok(other) => anyhow::bail!("DYN53_LOG_FORMAT={other:?}: text or json"),
        Err(e) => anyhow::bail!("DYN53_LOG_FORMAT: {e}"),
    }
    Ok(())
}

fn main() -> std::process::ExitCode {
    let settings = match settings::load() {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("error: {e:#}");
            return std::process::ExitCode::FAILURE;
        }
    };
    if let Err(e) = init_logging() {
        eprintln!("error: {e:#}");
        return std::process::ExitCode::FAILURE;
    }
    if let Some(file) = settings {
        tracing::debug!("settings read from {}", file.display());
    }
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: starting the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    // Errors end in one readable line (with their causes), never a debug dump.
    match runtime.block_on(run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let storage = Storage {
        // Absolute, so that every message names the directory wherever it was run from.
        data_dir: std::path::absolute(&cli.storage.data_dir).unwrap_or(cli.storage.data_dir),
        database_url: cli.storage.database_url,
    };
    match cli.command {
        Command::Serve(args) => {
            let config = control_config(storage, args.control)?;
            record_metrics_if(config.metrics_addr);
            let dns_options = args.dns_options.into_options();
            serve::serve(config, args.dns_addr, dns_options, shutdown_signal()).await
        }
        Command::Web(args) => {
            let config = control_config(storage, args.control)?;
            record_metrics_if(config.metrics_addr);
            serve::web(config, fleet_config(args.publish), shutdown_signal()).await
        }
        Command::Dns(args) => {
            record_metrics_if(args.status_addr);
            let config = NodeConfig {
                dns_options: args.dns_options.into_options(),
                id: args.node_id.unwrap_or_else(host_name),
                redis_url: args.redis.redis_url,
                redis_prefix: args.redis.redis_prefix,
                dns_addr: args.dns_addr,
                status_addr: args.status_addr,
                data_dir: storage.data_dir,
            };
            dyn53_dns::run_node(config, shutdown_signal()).await
        }
        Command::Republish(args) => {
            let db = serve::open_db(&storage, Opening::Existing).await?;
            let mut publisher = serve::fleet_publisher(&fleet_config(args))?;
            let snapshot = db.snapshot().await?;
            let meta = publisher
                .republish(&snapshot)
                .await
                .context("writing to Redis")?;
            eprintln!(
                "feed rewritten at revision {} (copy {}); nodes continue from it",
                meta.revision, meta.epoch
            );
            Ok(())
        }
        Command::Fleet(args) => print_fleet(args).await,
        Command::Probe { url } => probe::probe(&url),
        command => {
            let opening = match command {
                Command::Migrate => Opening::MayCreate,
                _ => Opening::Existing,
            };
            let db = serve::open_db(&storage, opening).await?;
            // What a command did not find may be in another database than it looked in.
            run_operator_command(&db, command)
                .await
                .map_err(|e| anyhow!("{e:#} (in {})", storage.place()))
        }
    }
}

/// Metrics are recorded only when a port serves them; the recorder is installed before the
/// services start, which register their metrics as they start.
fn record_metrics_if(port: Option<SocketAddr>) {
    if port.is_some() {
        dyn53_dns::exporter::install();
    }
}

fn control_config(storage: Storage, args: ControlArgs) -> anyhow::Result<Config> {
    Ok(Config {
        storage,
        public_url: args
            .public_url
            .map(|url| url.trim_end_matches('/').to_owned()),
        smtp_url: args.smtp_url,
        jwt_secret: match args.jwt_secret {
            Some(secret) if secret.len() < 32 => {
                bail!("DYN53_JWT_SECRET needs at least 32 characters")
            }
            secret => secret,
        },
        mail_from: args.mail_from,
        http_addrs: args.http_addr,
        tls: match (args.tls_cert, args.tls_key) {
            (Some(_), Some(_)) if args.https_addr.is_empty() => {
                bail!("DYN53_TLS_CERT and DYN53_TLS_KEY are for DYN53_HTTPS_ADDR, which is unset")
            }
            (Some(cert), Some(key)) => Some(CertFiles { cert, key }),
            _ if !args.https_addr.is_empty() => {
                bail!("DYN53_HTTPS_ADDR needs DYN53_TLS_CERT and DYN53_TLS_KEY")
            }
            _ => None,
        },
        https_addrs: args.https_addr,
        miniupdate_addr: optional_addr(&args.miniupdate_addr)
            .context("DYN53_MINIUPDATE_ADDR is an address like 127.0.0.1:9120, or off")?,
        dns_update_addr: optional_addr(&args.dns_update_addr)
            .context("DYN53_DNS_UPDATE_ADDR is an address like 127.0.0.1:5354, or off")?,
        zones: fqdns(&args.zones)?,
        trusted_proxies: TrustedProxies::parse(&args.trusted_proxies)
            .map_err(anyhow::Error::msg)?,
        blocked_agents: BlockedAgents::new(&args.blocked_agents),
        update_paths: update_paths(args.update_paths)?,
        limits: UpdateLimits {
            updates_per_host: args.abuse_limit,
            auth_failures_per_source: args.auth_failure_limit,
            password_guesses_per_login: args.guess_limit,
        },
        api_rate_limit: args.api_rate_limit,
        hash_queue: args.hash_queue,
        metrics_addr: args.metrics_addr,
        notify: NotifySettings {
            retry_min: Duration::from_secs(args.notify_retry_min.max(1)),
            retry_max: Duration::from_secs(args.notify_retry_max.max(args.notify_retry_min)),
            max_age: Duration::from_secs(args.notify_max_age),
            scan_interval: Duration::from_secs(args.notify_scan_interval.max(1)),
            allow_private: args.notify_allow_private,
            ca_file: args.notify_ca_file,
        },
    })
}

/// Extra update paths must be absolute and free of query strings.
fn update_paths(paths: Vec<String>) -> anyhow::Result<Vec<String>> {
    let paths: Vec<String> = paths
        .into_iter()
        .map(|p| p.trim().to_owned())
        .filter(|p| !p.is_empty())
        .collect();
    if let Some(bad) = paths
        .iter()
        .find(|p| !p.starts_with('/') || p.contains(['?', '#', ' ']))
    {
        bail!("DYN53_UPDATE_PATHS: {bad:?} is not a path like /cgi-bin/update.cgi");
    }
    Ok(paths)
}

fn fleet_config(args: PublishArgs) -> FleetConfig {
    FleetConfig {
        redis_url: args.redis.redis_url,
        redis_prefix: args.redis.redis_prefix,
        log_length: args.log_length,
    }
}

/// The machine's name, the default node id.
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "dns".to_owned())
}

async fn print_fleet(args: RedisArgs) -> anyhow::Result<()> {
    let mut conn = fleet::connect(&args.redis_url, std::time::Duration::from_secs(5))?;
    let keys = fleet::Keys::new(&args.redis_prefix);
    let meta = fleet::read_meta(&mut conn, &keys)
        .await
        .context("reading Redis")?;
    let nodes = fleet::list_nodes(&mut conn, &keys)
        .await
        .context("reading Redis")?;
    let feed_revision = meta.as_ref().map_or(0, |m| m.revision);
    match &meta {
        Some(meta) => println!("feed at revision {} (copy {})", meta.revision, meta.epoch),
        None => println!("feed: Redis holds no copy (the web publisher writes one)"),
    }
    if nodes.is_empty() {
        println!("no DNS node has reported in the last day");
        return Ok(());
    }
    println!("NODE\tDNS\tREVISION\tLAG\tHEARTBEAT\tREADY\tQUERIES");
    let now = fleet::now_ms();
    for node in nodes {
        let age = now.saturating_sub(node.heartbeat_ms) as f64 / 1000.0;
        println!(
            "{}\t{}\t{}\t{}\t{age:.1}s ago\t{}\t{}",
            node.id,
            node.dns,
            node.revision,
            feed_revision.saturating_sub(node.revision),
            if node.ready { "yes" } else { "no" },
            node.queries
        );
    }
    Ok(())
}

async fn run_operator_command(db: &dyn53_web::db::Db, command: Command) -> anyhow::Result<()> {
    match command {
        Command::Serve(_)
        | Command::Web(_)
        | Command::Dns(_)
        | Command::Republish(_)
        | Command::Fleet(_)
        | Command::Probe { .. } => unreachable!("handled by main"),
        Command::Migrate => eprintln!("database is up to date"),
        Command::Zone(ZoneCommand::Add {
            name,
            ns,
            ttl,
            owner,
        }) => {
            let name = parse_fqdn(&name)?;
            let account = match owner {
                Some(owner) => Some(ops::account_of(db, &Email::parse(&owner)?).await?),
                None => None,
            };
            let new = NewZone {
                name: name.clone(),
                nameservers: fqdns(&ns)?,
                default_ttl: ttl,
                account,
            };
            if ops::add_zone(db, new, "cli").await? {
                eprintln!("zone {name} created");
            } else {
                eprintln!("zone {name} exists already; nothing changed");
            }
        }
        Command::Zone(ZoneCommand::List) => {
            for zone in db.zones().await? {
                let ns = zone.nameservers().join(",");
                let kind = if zone.account.is_some() {
                    "own"
                } else {
                    "shared"
                };
                println!("{}\t{kind}\tttl={}\tns={ns}", zone.name, zone.default_ttl);
            }
        }
        Command::User(UserCommand::Add {
            email,
            login,
            password_stdin,
            staff,
            plan,
            member_of,
            role,
        }) => {
            let email = Email::parse(&email)?;
            let account = match (member_of, role) {
                (Some(owner), Some(role)) => NewUserAccount::Member(
                    ops::account_of(db, &Email::parse(&owner)?).await?,
                    Role::parse(&role).context("unknown role")?,
                ),
                _ => NewUserAccount::Own(Plan::parse(&plan).context("unknown plan")?),
            };
            let (password, generated) = if password_stdin {
                let mut input = String::new();
                std::io::stdin()
                    .read_to_string(&mut input)
                    .context("reading the password")?;
                let password = input.strip_suffix('\n').unwrap_or(&input);
                (
                    password.strip_suffix('\r').unwrap_or(password).to_owned(),
                    false,
                )
            } else {
                (generate_password(), true)
            };
            let own = matches!(account, NewUserAccount::Own(_));
            if ops::add_user(db, email.clone(), login, &password, staff, account).await? {
                if own {
                    eprintln!("user {email} created with an account of its own");
                } else {
                    eprintln!("user {email} created in that account");
                }
                if generated {
                    println!("{password}");
                }
            } else {
                eprintln!("user {email} (or that login ID) exists already; nothing changed");
            }
        }
        Command::Account(command) => {
            let (args, status) = match command {
                AccountCommand::Suspend(args) => (args, AccountStatus::Suspended),
                AccountCommand::Block(args) => (args, AccountStatus::Blocked),
                AccountCommand::Activate(args) => (args, AccountStatus::Active),
            };
            let email = Email::parse(&args.email)?;
            let state = status.as_str();
            let reason = args.reason.as_deref().unwrap_or("");
            if ops::set_account_status(db, &email, status, reason).await? {
                eprintln!("the account of {email} is now {state}");
            } else {
                eprintln!("the account of {email} was {state} already; nothing changed");
            }
        }
        Command::Host(HostCommand::Add {
            fqdn,
            owner,
            ipv4,
            ipv6,
            ttl,
        }) => {
            let name = parse_fqdn(&fqdn)?;
            if ops::add_host(db, name.clone(), &Email::parse(&owner)?, ipv4, ipv6, ttl).await? {
                eprintln!("host {name} created");
            } else {
                eprintln!("host {name} exists already in that account; nothing changed");
            }
        }
        Command::Host(HostCommand::Import { file }) => {
            let count = if file.as_os_str() == "-" {
                ops::import_hosts(db, std::io::stdin().lock()).await?
            } else {
                let f = std::fs::File::open(&file)
                    .with_context(|| format!("opening {}", file.display()))?;
                ops::import_hosts(db, BufReader::new(f)).await?
            };
            eprintln!("{count} hosts imported");
        }
        Command::Host(HostCommand::Block { fqdn, reason }) => {
            let name = parse_fqdn(&fqdn)?;
            if ops::set_name_blocked(db, &name, true, reason.as_deref()).await? {
                eprintln!("host {name} blocked: its updates answer abuse");
            } else {
                eprintln!("host {name} was blocked already; nothing changed");
            }
        }
        Command::Host(HostCommand::Unblock { fqdn }) => {
            let name = parse_fqdn(&fqdn)?;
            if ops::set_name_blocked(db, &name, false, None).await? {
                eprintln!("host {name} unblocked");
            } else {
                eprintln!("host {name} was not blocked; nothing changed");
            }
        }
        Command::Host(HostCommand::OfflineAddresses { fqdn, ipv4, ipv6 }) => {
            let name = parse_fqdn(&fqdn)?;
            ops::set_offline_addresses(db, &name, ipv4, ipv6).await?;
            eprintln!("host {name} saved");
        }
        Command::Group(GroupCommand::Add { name, owner, hosts }) => {
            let name = GroupName::parse(&name)?;
            ops::add_group(db, &name, &Email::parse(&owner)?, &fqdns(&hosts)?).await?;
            eprintln!("group {name} saved");
        }
        Command::Key(KeyCommand::Create {
            user,
            name,
            hosts,
            miniupdate,
            tsig,
            scope,
        }) => {
            let scope = KeyScope::parse(&scope).context("unknown scope")?;
            if name.trim().is_empty() {
                bail!("a key needs a name");
            }
            let user = Email::parse(&user)?;
            let also_for = KeyProtocols { miniupdate, tsig };
            let hosts = fqdns(&hosts)?;
            let (key, id) = ops::create_key(db, &user, &name, &hosts, scope, also_for).await?;
            eprintln!(
                "key {} created; its secret is shown only now",
                key.visible_prefix()
            );
            if tsig {
                println!("{}", key.tsig_argument(id));
            } else {
                println!("{}", key.secret());
            }
        }
    }
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => return std::future::pending().await,
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

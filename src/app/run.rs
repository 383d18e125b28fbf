//! Starting Herald: open the store on a clock, wire the features into it, start the
//! background loops and serve HTTP, either as the server process or inside a test.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::middleware::{ErrorHandlers, from_fn};
use actix_web::{App, HttpServer, web};

use super::jobs::{Services, ensure_maintenance, spawn_loops};
use super::{configure, framework_errors, route_specs};
use crate::auth::{AuthError, accounts, sessions, setup};
use crate::config::Config;
use crate::delivery::links::{self, Links};
use crate::delivery::mailer::Mailer;
use crate::http::metrics;
use crate::http::routes::RouteTable;
use crate::http::state::AppState;
use crate::jobs::scheduler;
use crate::kinds::Clock;
use crate::store::{Store, StoreHooks};

/// Opens the store on `clock` with every feature wired in, recovers and starts the
/// background loops on the current runtime, and returns the state handlers share.
pub async fn start(config: Config, clock: Clock) -> anyhow::Result<web::Data<AppState>> {
    let hooks = StoreHooks {
        before_commit: vec![crate::automations::arrivals::count_new],
    };
    let store = Store::open_with(&config.store, clock, hooks)?;
    crate::events::occurrence::set_reaction(&store, crate::automations::on_occurrence);
    crate::jobs::set_max_attempts(&store, config.jobs.max_attempts);
    let mailer = Mailer::new(&config.smtp, &config.store.data_dir)?;
    let secret = store.write(links::load_secret).await?;
    let links = Links::new(&config.base_url(), &secret);
    links::install(&store, links.clone());
    let routes = RouteTable::new(route_specs());
    let state = web::Data::new(AppState::new(config, store, mailer.clone(), links, routes));
    announce_setup(&state).await?;
    state.store.write(sessions::purge_expired).await?;
    let released = scheduler::recover(&state.store).await?;
    if released > 0 {
        tracing::info!(
            released,
            "resumed jobs left running by the previous process"
        );
    }
    let services = Arc::new(Services {
        jobs: state.jobs(),
        mailer,
    });
    ensure_maintenance(&services.jobs).await?;
    spawn_loops(services);
    Ok(state)
}

/// Prints the setup link when nobody can sign in yet.
async fn announce_setup(state: &AppState) -> Result<(), AuthError> {
    if state.store.read(accounts::any_user)? {
        return Ok(());
    }
    let ttl = state.config.auth.setup_link_ttl_minutes as i64 * 60_000;
    let token = state
        .store
        .write(move |conn| setup::issue_token(conn, ttl))
        .await?;
    let link = format!("{}/setup/{token}", state.config.base_url());
    tracing::warn!(%link, "no accounts yet: open the setup link to create the owner account (valid {} minutes, works once)", state.config.auth.setup_link_ttl_minutes);
    Ok(())
}

/// Where the server listens: the configured address, or a socket a test already bound.
enum Listen {
    Addr(std::net::SocketAddr),
    Socket(TcpListener),
}

/// The running HTTP server over `state`, with every middleware; `workers` 0 means one
/// per core.
fn run_server(
    state: web::Data<AppState>,
    listen: Listen,
    workers: usize,
) -> anyhow::Result<actix_web::dev::Server> {
    let max_body = state.config.server.max_body_bytes;
    let shutdown = state.config.server.shutdown_timeout_secs;
    let request_timeout = Duration::from_secs(state.config.server.request_timeout_secs);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .wrap(ErrorHandlers::new().default_handler(framework_errors))
            .wrap(from_fn(crate::http::timeout::body_deadline))
            .wrap(from_fn(crate::http::guard::enforce))
            .wrap(from_fn(crate::http::security_headers::add))
            .wrap(from_fn(metrics::record))
            .configure(|cfg| configure(cfg, max_body))
    })
    .shutdown_timeout(shutdown)
    .client_request_timeout(request_timeout);
    let mut server = match listen {
        Listen::Addr(addr) => server
            .bind(addr)
            .map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))?,
        Listen::Socket(socket) => server.listen(socket)?,
    };
    if workers > 0 {
        server = server.workers(workers);
    }
    Ok(server.run())
}

/// Runs the HTTP server until SIGINT / SIGTERM, then drains and stops.
pub async fn serve(config: Config) -> anyhow::Result<()> {
    let listen = config.server.listen;
    let workers = config.server.workers;
    let state = start(config, super::clock_file::from_environment()?).await?;
    let base_url = state.config.base_url();
    let server = run_server(state, Listen::Addr(listen), workers)?;
    tracing::info!(%listen, %base_url, "herald is listening");
    server.await?;
    tracing::info!("herald stopped");
    Ok(())
}

/// A Herald running inside this process on its own thread (for tests): same app, same
/// loops, on the clock it was given.
pub struct InProcess {
    /// Where it listens, e.g. `http://127.0.0.1:41234`.
    pub base_url: String,
    /// The state its handlers share (store, clock, configuration).
    pub state: web::Data<AppState>,
    handle: actix_web::dev::ServerHandle,
}

impl InProcess {
    /// The clock it reads; a manual one moves only when the test advances it.
    pub fn clock(&self) -> &Clock {
        self.state.clock()
    }
}

impl Drop for InProcess {
    fn drop(&mut self) {
        drop(self.handle.stop(false));
    }
}

/// Starts Herald in this process on a free loopback port, on `clock`. `config`'s
/// listen address is ignored; its `base_url` should be empty (it is set to the port).
pub fn start_in_process(mut config: Config, clock: Clock) -> anyhow::Result<InProcess> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let base_url = format!("http://{}", listener.local_addr()?);
    config.server.listen = listener.local_addr()?;
    if config.server.base_url.is_empty() {
        config.server.base_url = base_url.clone();
    }
    let (ready, started) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("herald-in-process".into())
        .spawn(move || {
            let system = actix_web::rt::System::new();
            system.block_on(async move {
                let running = async {
                    let state = start(config, clock).await?;
                    let server = run_server(state.clone(), Listen::Socket(listener), 2)?;
                    anyhow::Ok((state, server))
                };
                match running.await {
                    Ok((state, server)) => {
                        let _ = ready.send(Ok((state, server.handle())));
                        let _ = server.await;
                    }
                    Err(e) => {
                        let _ = ready.send(Err(e));
                    }
                }
            });
        })?;
    let (state, handle) = started
        .recv()
        .map_err(|_| anyhow::anyhow!("the in-process server thread stopped"))??;
    Ok(InProcess {
        base_url,
        state,
        handle,
    })
}

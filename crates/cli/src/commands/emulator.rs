//! `astro-deploy emulator`: a local Astro control plane in the foreground.
//!
//! It prints one JSON line on stdout (base URL, organization, workspace, seeded Deployments and
//! tokens), so scripts can read it, then serves until interrupted.

use emulator::EmulatorConfig;

use crate::args::EmulatorArgs;
use crate::exit::Failure;

pub async fn run(args: EmulatorArgs) -> Result<(), Failure> {
    let config = EmulatorConfig {
        listen: args.listen,
        state_file: args.state,
        rollout_delay: args.rollout_delay,
        registry_host: args.registry,
    };
    let running = emulator::start(config).await.map_err(|error| {
        Failure::input("starting the emulator")
            .with_cause(&error)
            .hint("choose another address with --listen, or port 0 for any free port")
    })?;

    let info = serde_json::to_string(running.info())
        .map_err(|error| Failure::internal("rendering the emulator's info", error))?;
    println!("{info}");
    tracing::info!(
        "Astro emulator listening on {}; try: ASTRO_API_URL={} ASTRO_API_TOKEN=<apiToken> \
         astro-deploy deploy --deployment-id {}",
        running.base_url(),
        running.base_url(),
        running.info().deployments.dags_enabled
    );

    shutdown_signal().await;
    tracing::info!("stopping the emulator");
    running.shutdown().await;
    Ok(())
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut terminate) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = terminate.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

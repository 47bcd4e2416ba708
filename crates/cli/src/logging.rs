//! Logs on stderr through `tracing`: plain lines, no timestamps (CI logs carry their own).
//! On a terminal, each line is written above the progress bars, which are redrawn below it.

use std::io::{IsTerminal as _, Write};

use tracing_subscriber::EnvFilter;

use crate::args::GlobalArgs;

/// `ASTRO_DEPLOY_LOG` (a `tracing` filter such as `debug` or `astro_api=trace`) wins over the
/// flags.
pub fn init(args: &GlobalArgs) {
    let level = match (args.quiet, args.verbose) {
        (true, _) => "warn",
        (false, 0) => "info",
        (false, 1) => "debug",
        (false, _) => "trace",
    };
    let filter = EnvFilter::try_from_env("ASTRO_DEPLOY_LOG").unwrap_or_else(|_| {
        EnvFilter::new(format!(
            "warn,astro_deploy={level},deploy={level},astro_api={level},emulator={level}"
        ))
    });
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| AboveTheBars)
        .with_ansi(std::io::stderr().is_terminal())
        .without_time()
        .with_target(false)
        .init();
}

/// Stderr, with the bars lifted while a log line is written: tracing writes each event as one
/// buffer, so a line never lands inside a bar.
struct AboveTheBars;

impl Write for AboveTheBars {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        crate::report::bars().suspend(|| std::io::stderr().write(buf))
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

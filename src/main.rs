//! The provider binary: Terraform starts it, and it serves until Terraform shuts it down.

use std::process::ExitCode;
use std::sync::Arc;

use dbaas::plugin::{logging, serve};
use dbaas::provider::DbaasProvider;

/// Release builds are static (musl), whose own malloc made a plan of 200 data sources
/// about 10% slower than glibc's; dlmalloc is as fast here and stays as small (mimalloc
/// was faster but more than doubled the peak RSS).
#[cfg(target_env = "musl")]
#[global_allocator]
static ALLOCATOR: dlmalloc::GlobalDlmalloc = dlmalloc::GlobalDlmalloc;

fn main() -> ExitCode {
    if let Err(e) = serve::check_plugin_host() {
        eprintln!("{e}");
        return ExitCode::FAILURE;
    }
    logging::init();
    // A panic is reported once, as a log line and (for component code) as a diagnostic;
    // Rust's default hook would print a backtrace hint to the user's terminal.
    std::panic::set_hook(Box::new(|info| {
        let location = info.location().map(|l| format!("{}:{}", l.file(), l.line())).unwrap_or_default();
        tracing::error!(location = %location, "panic: {}", panic_text(info.payload()));
    }));
    // One thread serves every call: the work is waiting on the network, Terraform starts
    // the provider three or four times per run, and each worker thread cost its stack and
    // its own malloc arena (a plan's peak RSS fell by about 0.3 MiB). Heavy decoding goes
    // to the blocking pool (plugin::server), so it never holds up the other calls.
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("could not start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        ignore_interrupts();
        serve::serve(Arc::new(DbaasProvider::new())).await
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("terraform-provider-dbaas: {e}");
            ExitCode::FAILURE
        }
    }
}

fn panic_text(payload: &(dyn std::any::Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("unknown panic")
}

/// Terraform handles Ctrl-C itself (and tells us through StopProvider); the provider must
/// not die from the SIGINT the terminal sends the whole process group.
fn ignore_interrupts() {
    #[cfg(unix)]
    if let Ok(mut interrupts) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt()) {
        tokio::spawn(async move { while interrupts.recv().await.is_some() {} });
    }
}

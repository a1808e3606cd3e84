//! Entry point: parse and resolve the command line (`cli`), then run the TUI (`ui`) or one
//! headless command (`commands`). Every error ends the process with one line on stderr and
//! a non-zero status.

use std::io::IsTerminal;
use std::process::ExitCode;

use anyhow::Context;
use shatterlab::cli::{self, Invocation};
use shatterlab::commands::{self, grad::GradOptions};

fn main() -> ExitCode {
    shatterlab::fsio::guard_stdout();
    let cli = match cli::parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            // --help and --version
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            let text = e.render().to_string();
            let mut line: Vec<String> = text
                .lines()
                .map(str::trim)
                .filter(|l| {
                    !l.is_empty()
                        && !l.starts_with("For more information")
                        && !l.starts_with("Usage:")
                })
                .map(str::to_string)
                .collect();
            line.extend(cli::misplaced_flag_hint(&e));
            line.extend(cli::negative_value_hint(&e));
            eprintln!("{}", line.join(" "));
            return ExitCode::from(2);
        }
    };
    let outcome = cli::resolve(cli).and_then(|invocation| {
        let own_sigint = matches!(invocation, Invocation::Train(_) | Invocation::Study(_));
        shatterlab::shutdown::install(own_sigint)?;
        run(invocation)
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", format!("{e:#}").replace('\n', " "));
            ExitCode::FAILURE
        }
    }
}

fn run(invocation: Invocation) -> anyhow::Result<()> {
    match invocation {
        Invocation::Grad(lab, opts) => commands::grad::run(&lab, &opts),
        Invocation::Theory(lab, opts) => commands::theory::run(&lab, &opts),
        Invocation::Export(lab, opts) => commands::export::run(&lab, &opts),
        Invocation::Figures(lab, opts) => commands::figures::run(&lab, &opts),
        Invocation::Train(opts) => commands::train::run(&opts),
        Invocation::Study(opts) => commands::study::run(&opts),
        Invocation::Download(opts) => commands::data::download(&opts),
        Invocation::Print(document) => {
            use std::io::Write;
            std::io::stdout()
                .write_all(&document)
                .context("writing to stdout")
        }
        Invocation::Lab { lab, ui, no_tui } => {
            let capture = &ui.capture;
            if (no_tui || !std::io::stdout().is_terminal())
                && (capture.script.is_some() || capture.record.is_some())
            {
                anyhow::bail!(
                    "--script and --record need the terminal UI: stdout is not a terminal \
                     (or --no-tui was given)"
                );
            }
            if no_tui || !std::io::stdout().is_terminal() {
                let opts = GradOptions {
                    max_memory: ui.max_memory,
                    ..GradOptions::default()
                };
                commands::grad::run(&lab, &opts)
            } else {
                shatterlab::ui::run(lab, ui)
            }
        }
    }
}

//! Entry point: parse the command line, then run the TUI or a headless subcommand. Every
//! error ends the process with one line on stderr and a non-zero status.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use shatterlab::cli::{Cli, Command, DataCommand, GradArgs, LabArgs, run_grad, run_theory};
use shatterlab::output::Format;
use shatterlab::train::headless::{run_download, run_train};

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            // --help and --version
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            let text = e.render().to_string();
            let line: Vec<&str> = text
                .lines()
                .map(str::trim)
                .filter(|l| {
                    !l.is_empty()
                        && !l.starts_with("For more information")
                        && !l.starts_with("Usage:")
                })
                .collect();
            eprintln!("{}", line.join(" "));
            return ExitCode::from(2);
        }
    };
    if let Err(e) = shatterlab::shutdown::install() {
        eprintln!("error: {e:#}");
        return ExitCode::FAILURE;
    }
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", format!("{e:#}").replace('\n', " "));
            ExitCode::FAILURE
        }
    }
}

fn run(cli: &Cli) -> anyhow::Result<()> {
    let settings = cli.settings()?;
    match &cli.command {
        Some(Command::Grad(args)) => run_grad(&settings.lab, args),
        Some(Command::Theory(args)) => run_theory(&settings.lab, args),
        Some(Command::Train(args)) => run_train(&args.lab, args),
        Some(Command::Data(DataCommand::Download(args))) => run_download(args),
        None => {
            let headless = GradArgs {
                lab: LabArgs {
                    max_memory: cli.lab.max_memory,
                    ..LabArgs::default()
                },
                depths: Vec::new(),
                format: Format::Json,
                out: None,
            };
            if cli.no_tui || !std::io::stdout().is_terminal() {
                run_grad(&settings.lab, &headless)
            } else {
                shatterlab::ui::run(settings, &cli.ui)
            }
        }
    }
}

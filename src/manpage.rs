//! `shatterlab man`: one page. The synopsis and the lab's options come from the clap
//! definitions; the subcommands are listed with what they do (each one's flags are in its
//! `--help`, as no page of their own is installed); the terminal UI's keys come from the
//! binding table, so the page cannot disagree with the help overlay.

use clap_mangen::Man;
use roff::{Roff, bold, roman};

use crate::ui::command::Scope;
use crate::ui::keys::{BINDINGS, labels};

/// The page in roff.
pub fn render(cmd: clap::Command) -> std::io::Result<Vec<u8>> {
    let man = Man::new(cmd.clone());
    // Each section renders with roff's preamble; the page needs it once.
    let preamble = Roff::new().render();
    let mut page = Vec::new();
    man.render_title(&mut page)?;
    let mut rest = Vec::new();
    man.render_name_section(&mut rest)?;
    man.render_synopsis_section(&mut rest)?;
    man.render_description_section(&mut rest)?;
    man.render_options_section(&mut rest)?;
    rest.extend(subcommands(&cmd).render().into_bytes());
    rest.extend(keys().render().into_bytes());
    man.render_extra_section(&mut rest)?;
    man.render_version_section(&mut rest)?;
    let rest = String::from_utf8_lossy(&rest).replace(&preamble, "");
    page.extend(rest.into_bytes());
    Ok(page)
}

/// Every subcommand that runs something (`data download`, not `data`) with what it does.
fn subcommands(cmd: &clap::Command) -> Roff {
    let mut roff = Roff::new();
    roff.control("SH", ["SUBCOMMANDS"]);
    let mut found = Vec::new();
    runnable(cmd.get_name(), cmd, &mut found);
    for (name, sub) in found {
        roff.control("TP", []);
        roff.text([bold(name)]);
        if let Some(about) = sub.get_about() {
            roff.text([roman(about.to_string())]);
        }
    }
    roff.control("PP", []);
    roff.text([
        roman("Each subcommand's flags: "),
        bold(format!("{} SUBCOMMAND --help", cmd.get_name())),
        roman("."),
    ]);
    roff
}

/// The subcommands under `cmd` without subcommands of their own, by full name, in the
/// order `--help` lists them.
fn runnable<'a>(
    prefix: &str,
    cmd: &'a clap::Command,
    found: &mut Vec<(String, &'a clap::Command)>,
) {
    for sub in cmd
        .get_subcommands()
        .filter(|s| !s.is_hide_set() && s.get_name() != "help")
    {
        let name = format!("{prefix} {}", sub.get_name());
        if sub.has_subcommands() {
            runnable(&name, sub, found);
        } else {
            found.push((name, sub));
        }
    }
}

/// The terminal UI's keys by the tab they act on.
fn keys() -> Roff {
    let mut roff = Roff::new();
    roff.control("SH", ["KEYS"]);
    roff.text([roman(
        "In the terminal UI; ? shows the current tab's keys on screen.",
    )]);
    for (scope, heading) in [
        (Scope::Both, "Both tabs"),
        (Scope::Lab, "Lab tab"),
        (Scope::Train, "Training tab"),
    ] {
        roff.control("SS", [heading]);
        for binding in BINDINGS.iter().filter(|b| b.command.scope() == scope) {
            roff.control("TP", []);
            roff.text([bold(labels(binding))]);
            roff.text([roman(binding.help)]);
        }
    }
    roff
}

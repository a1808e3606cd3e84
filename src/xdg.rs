//! The app's directories under the XDG base-directory spec. The environment is read through
//! a function so tests need not touch the process's own.

use std::ffi::OsString;
use std::path::PathBuf;

/// `$<xdg_var>/shatterlab` when that variable holds an absolute path (the spec says relative
/// values are to be ignored), else `$HOME/<home_default>/shatterlab`; None without HOME.
pub fn app_dir(
    xdg_var: &str,
    home_default: &str,
    env: impl Fn(&str) -> Option<OsString>,
) -> Option<PathBuf> {
    let set = |name: &str| env(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    match set(xdg_var).filter(|p| p.is_absolute()) {
        Some(base) => Some(base.join("shatterlab")),
        None => set("HOME").map(|home| home.join(home_default).join("shatterlab")),
    }
}

/// An environment made of `vars`, for tests.
#[cfg(test)]
pub fn fake_env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<OsString> + 'a {
    move |name| {
        vars.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| OsString::from(v))
    }
}

//! The real binary in a pseudo-terminal (util-linux `script`), its output replayed into a
//! vt100 emulator: the panes appear, keys work, and `q` exits with status 0 after leaving
//! the alternate screen. Every wait polls the output against a generous deadline; nothing
//! sleeps.

use std::path::Path;
use std::process::{Child, ChildStdin, Command, ExitStatus};
use std::sync::mpsc;

mod common;

use common::pty::{DEADLINE, Screen, press, start};

const LEAVE_ALTERNATE_SCREEN: &str = "\x1b[?1049l";

#[test]
fn the_lab_runs_in_a_terminal_and_quits_cleanly() {
    let bin = env!("CARGO_BIN_EXE_shatterlab");
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("lab.log");
    let data = common::cifar_dir();
    let inner = format!(
        "stty rows 24 cols 80 && exec {bin} --depth 6 --width 24 --points 48 --nets 4 --seed 3 \
         --data-dir {} --runs-dir {} --log {}",
        data.display(),
        dir.path().join("runs").display(),
        log.display()
    );
    let (mut child, mut screen, mut keys) = start(&inner, &[]);
    let mut send = |k: &str| press(&mut keys, k);

    screen.wait_for(&[
        "gradient",
        "autocorrelation",
        "correlation",
        "activity",
        " 6/6 ",
    ]);
    assert!(
        screen.raw_contains("\x1b[?1049h"),
        "the lab uses the alternate screen"
    );
    send("?");
    screen.wait_for(&["reproduce this screen", "--seed 3"]);
    send("\x1b");
    screen.wait_until("the help closed", |s| {
        !s.text().contains("reproduce this screen")
    });
    send("s");
    screen.wait_for(&["res+BN", " 6/6 "]);
    // The training tab, its data found: a run starts, is stopped, and its log says so.
    send("t");
    // "· data DIR" once the data is found ("· no data" otherwise); DIR may wrap.
    screen.wait_for(&["CIFAR-10 runs", "tab defaults", "res+BN d6 s3", "· data"]);
    send("n");
    // The CPU defaults: 10 000 images / batch 64 = 156 steps an epoch, 5 epochs.
    screen.wait_for(&["●⣀1", "/780"]);
    send("x");
    screen.wait_for(&["stopped"]);
    let runs: Vec<_> = std::fs::read_dir(dir.path().join("runs"))
        .expect("the runs directory")
        .map(|e| e.expect("entry").path())
        .collect();
    assert_eq!(runs.len(), 1, "{runs:?}");
    let run_log = std::fs::read_to_string(&runs[0]).expect("run log");
    assert!(run_log.starts_with(r#"{"type":"config""#), "{run_log}");
    assert!(
        run_log.trim_end().ends_with(r#""state":"cancelled"}"#),
        "{run_log}"
    );
    // A second run is still training when the user quits: its log is closed as cancelled.
    send("n");
    screen.wait_until("run 2 training", |s| {
        let text = s.text();
        text.contains("●⣀2") && !text.contains("starting")
    });
    send("t");
    screen.wait_for(&["autocorrelation"]);
    send("q");

    let (done_tx, done) = mpsc::channel::<ExitStatus>();
    std::thread::spawn(move || {
        let _ = done_tx.send(child.wait().unwrap());
    });
    let status = done.recv_timeout(DEADLINE).expect("q quits");
    screen.wait_until("the alternate screen left", |s| {
        !s.vt.screen().alternate_screen()
    });
    assert!(status.success(), "exit status {status}");
    assert!(screen.raw_contains(LEAVE_ALTERNATE_SCREEN));
    assert!(
        !screen.text().contains("gradient"),
        "the main screen is back, nothing drawn on it"
    );
    let mut logs: Vec<_> = std::fs::read_dir(dir.path().join("runs"))
        .expect("the runs directory")
        .map(|e| std::fs::read_to_string(e.expect("entry").path()).expect("run log"))
        .collect();
    logs.sort();
    assert_eq!(logs.len(), 2);
    for run_log in &logs {
        assert!(
            run_log.trim_end().ends_with(r#""state":"cancelled"}"#),
            "{run_log}"
        );
    }
    let logged = std::fs::read_to_string(&log).expect("the lab logs to --log");
    assert!(
        logged.contains("session start") && logged.contains("sweep done"),
        "{logged}"
    );
}

/// The lab under a shell that records its pid, then its exit status and the terminal's
/// modes once it has gone.
fn start_watched(dir: &Path, env: &[(&str, &Path)]) -> (Child, Screen, ChildStdin) {
    let bin = env!("CARGO_BIN_EXE_shatterlab");
    let data = common::cifar_dir();
    let inner = format!(
        "stty rows 24 cols 80; echo $$ > {pid}; {bin} --depth 4 --width 16 --points 32 \
         --nets 2 --data-dir {data} --runs-dir {runs} --log {log}; echo EXIT=$?; stty -a",
        data = data.display(),
        runs = dir.join("runs").display(),
        log = dir.join("lab.log").display(),
        pid = dir.join("pid").display(),
    );
    start(&inner, env)
}

/// Starts a training run in the lab and waits until it trains.
fn train_a_run(screen: &mut Screen, keys: &mut ChildStdin) {
    screen.wait_for(&["gradient", " 4/4 "]);
    press(keys, "t");
    screen.wait_for(&["CIFAR-10 runs", "· data"]);
    press(keys, "n");
    screen.wait_until("run 1 training", |s| {
        let text = s.text();
        text.contains("●⣀1") && !text.contains("starting")
    });
}

/// After the lab has gone: its status, and the terminal back to normal (main screen, cursor
/// shown, cooked mode with echo), and the run log closed with an `end` record.
fn assert_left_cleanly(screen: &mut Screen, dir: &Path, status: u8, runs: usize) {
    screen.wait_until("the exit status and terminal modes", |s| {
        s.raw_contains(&format!("EXIT={status}")) && s.raw_contains("icanon")
    });
    assert!(
        !screen.vt.screen().alternate_screen(),
        "still on the alternate screen"
    );
    assert!(!screen.vt.screen().hide_cursor(), "cursor left hidden");
    let raw = String::from_utf8_lossy(&screen.raw);
    let modes = &raw[raw.rfind("EXIT=").unwrap()..];
    assert!(
        !modes.contains("-icanon") && !modes.contains("-echo "),
        "raw mode left set: {modes}"
    );
    let logs: Vec<String> = std::fs::read_dir(dir.join("runs"))
        .map(|d| {
            d.map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(logs.len(), runs);
    for log in logs {
        assert!(log.trim_end().ends_with(r#""state":"cancelled"}"#), "{log}");
    }
}

#[test]
fn stop_signals_restore_the_terminal_and_close_training_runs() {
    for (signal, number, runs) in [
        ("TERM", 15, 1),
        ("INT", 2, 0),
        ("HUP", 1, 0),
        ("QUIT", 3, 0),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let (mut child, mut screen, mut keys) = start_watched(dir.path(), &[]);
        if runs > 0 {
            train_a_run(&mut screen, &mut keys);
        } else {
            screen.wait_for(&["gradient", " 4/4 "]);
        }
        // The shell wrote its pid; the lab is its only child.
        let shell = std::fs::read_to_string(dir.path().join("pid")).unwrap();
        let lab = Command::new("pgrep")
            .args(["-P", shell.trim()])
            .output()
            .unwrap();
        let lab = String::from_utf8(lab.stdout).unwrap();
        let killed = Command::new("kill")
            .args([&format!("-{signal}"), lab.trim()])
            .status()
            .unwrap();
        assert!(killed.success());
        assert_left_cleanly(&mut screen, dir.path(), 128 + number, runs);
        drop(keys);
        child.wait().unwrap();
    }
}

#[test]
fn a_panic_restores_the_terminal_and_closes_training_runs() {
    let dir = tempfile::tempdir().unwrap();
    let trigger = dir.path().join("panic-now");
    let (mut child, mut screen, mut keys) =
        start_watched(dir.path(), &[("SHATTERLAB_DEBUG_PANIC", &trigger)]);
    train_a_run(&mut screen, &mut keys);
    std::fs::write(&trigger, "").unwrap();
    // Any key redraws, and the next frame panics.
    press(&mut keys, "t");
    assert_left_cleanly(&mut screen, dir.path(), 101, 1);
    assert!(screen.raw_contains("debug panic requested"));
    drop(keys);
    child.wait().unwrap();
}

/// Settings the memory limit cannot hold are refused before the terminal is touched: one
/// line, a failing status, no alternate screen.
#[test]
fn the_lab_refuses_settings_over_the_memory_limit_before_opening() {
    let bin = env!("CARGO_BIN_EXE_shatterlab");
    let inner =
        format!("stty rows 24 cols 80; {bin} --width 800 --nets 100 --max-memory 1M; echo EXIT=$?");
    let (_child, mut screen, _keys) = start(&inner, &[]);
    screen.wait_for(&["EXIT="]);
    let text = screen.text();
    assert!(text.contains("EXIT=1"), "{text}");
    for needle in ["refused", "width 800", "--max-memory"] {
        assert!(text.contains(needle), "{text:?} lacks {needle:?}");
    }
    assert!(
        !screen.raw_contains("\x1b[?1049h"),
        "the alternate screen was opened"
    );
}

/// A GPU a build without CUDA cannot use is refused before the terminal is touched: one
/// line saying what to do, a failing status, no alternate screen.
#[cfg(not(feature = "cuda"))]
#[test]
fn the_lab_refuses_cuda_in_a_cpu_build_before_opening() {
    let bin = env!("CARGO_BIN_EXE_shatterlab");
    let inner = format!("stty rows 24 cols 80; {bin} --device cuda; echo EXIT=$?");
    let (_child, mut screen, _keys) = start(&inner, &[]);
    screen.wait_for(&["EXIT="]);
    let text = screen.text();
    assert!(text.contains("EXIT=1"), "{text}");
    for needle in [
        "invalid device cuda:0",
        "this build has no CUDA",
        "--device cpu",
    ] {
        assert!(text.contains(needle), "{text:?} lacks {needle:?}");
    }
    assert!(
        !screen.raw_contains("\x1b[?1049h"),
        "the alternate screen was opened"
    );
}

/// The terminal hanging up (here: the pseudo-terminal's owner killed outright) ends the lab;
/// it must not live on without a screen. Regression: the SIGHUP thread printed with
/// `eprintln!`, which panics on the dead terminal, so the thread died and the lab stayed.
#[test]
fn the_lab_exits_when_its_terminal_hangs_up() {
    let bin = env!("CARGO_BIN_EXE_shatterlab");
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("pid");
    let inner = format!(
        "stty rows 24 cols 80; echo $$ > {pid}; exec {bin} --depth 4 --width 16 --points 32 \
         --nets 2 --log {log}",
        pid = pid_file.display(),
        log = dir.path().join("lab.log").display(),
    );
    let (mut script, mut screen, _keys) = start(&inner, &[]);
    screen.wait_for(&["gradient", " 4/4 "]);
    let pid: i32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
    let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) } as i32;
    assert!(pidfd >= 0, "pidfd_open({pid})");
    script.kill().unwrap();
    script.wait().unwrap();
    let mut ready = libc::pollfd {
        fd: pidfd,
        events: libc::POLLIN,
        revents: 0,
    };
    let deadline_ms = DEADLINE.as_millis() as i32;
    // SAFETY: one valid pollfd; the pidfd becomes readable when the process exits.
    let n = unsafe { libc::poll(&mut ready, 1, deadline_ms) };
    // SAFETY: closing the descriptor opened above.
    unsafe { libc::close(pidfd) };
    assert_eq!(
        n, 1,
        "the lab (pid {pid}) still runs after its terminal hung up"
    );
    let logged = std::fs::read_to_string(dir.path().join("lab.log")).unwrap();
    assert!(logged.contains("stopped by SIGHUP"), "{logged}");
}

//! Recording, scripts and screenshots end to end: the real binary runs a script in a
//! pseudo-terminal; its cast is parsed and replayed into a vt100 emulator, its snapshots
//! compared across two runs and against the replayed screen, its SVG parsed as XML. Every
//! wait follows the program's output; nothing sleeps or reads the clock.

use std::num::NonZeroU16;
use std::path::Path;
use std::process::Command;

use assert_cmd::prelude::*;
use predicates::prelude::*;

mod common;

use common::pty::{DEADLINE, press, start};

const LAB: &str = "--depth 6 --width 24 --points 48 --nets 4 --seed 3";

/// Runs `script` in `dir` with a recording and a final `--screenshot final.txt`; returns
/// once the lab has exited successfully.
fn run_script(dir: &Path, script: &str) {
    std::fs::write(dir.join("t.script"), script).unwrap();
    let bin = env!("CARGO_BIN_EXE_shatterlab");
    let inner = format!(
        "stty rows 24 cols 80 && cd {dir} && exec {bin} {LAB} --log lab.log --runs-dir runs \
         --script t.script --record s.cast --screenshot final.txt --shots-dir shots",
        dir = dir.display()
    );
    let (mut child, _screen, keys) = start(&inner, &[]);
    let (tx, done) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait().unwrap());
    });
    let status = done.recv_timeout(DEADLINE).expect("the script quits");
    drop(keys);
    assert!(status.success(), "exit status {status}");
}

/// The cast's lines as JSON: the header, then the events. Panics on a line that is not
/// one JSON value.
fn cast_lines(path: &Path) -> (serde_json::Value, Vec<(f64, String, String)>) {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.ends_with('\n'), "the last line is whole");
    let mut lines = text.lines();
    let header: serde_json::Value = serde_json::from_str(lines.next().unwrap()).unwrap();
    let events = lines
        .map(|l| {
            let v: (f64, String, String) =
                serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"));
            v
        })
        .collect();
    (header, events)
}

fn assert_valid_events(events: &[(f64, String, String)]) {
    assert!(!events.is_empty());
    for pair in events.windows(2) {
        assert!(pair[0].0 <= pair[1].0, "times go back: {pair:?}");
    }
    for (time, kind, _) in events {
        assert!(*time >= 0.0);
        assert!(kind == "o" || kind == "r", "{kind}");
    }
}

/// The rows of an SVG screenshot: each `<text>` element's characters put back on their
/// cells (x / cell width), rows keyed by baseline.
fn svg_rows(svg: &str) -> Vec<String> {
    let doc = roxmltree::Document::parse(svg).expect("well-formed XML");
    let root = doc.root_element();
    let cell_w: f64 = 8.4;
    let mut rows: std::collections::BTreeMap<i64, Vec<char>> = Default::default();
    for t in root.descendants().filter(|n| n.has_tag_name("text")) {
        let y: f64 = t.attribute("y").unwrap().parse().unwrap();
        let xs: Vec<usize> = t
            .attribute("x")
            .unwrap()
            .split(' ')
            .map(|x| (x.parse::<f64>().unwrap() / cell_w).round() as usize)
            .collect();
        let row = rows.entry((y * 10.0) as i64).or_default();
        for (x, c) in xs.into_iter().zip(t.text().unwrap_or("").chars()) {
            if row.len() <= x {
                row.resize(x + 1, ' ');
            }
            row[x] = c;
        }
    }
    rows.into_values()
        .map(|r| r.into_iter().collect::<String>().trim_end().to_string())
        .collect()
}

#[test]
fn a_script_is_recorded_and_its_screens_are_the_same_every_run() {
    let script = "resize 90 30\nwait sweep\nsnapshot start\nkeys s ]\nwait sweep\nkey a\n\
                  wait sweep\ncaption \"A/B: the skips flipped # in B\"\nsnapshot ab\nkey E\n\
                  key P\nquit\n";
    let runs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    for dir in &runs {
        run_script(dir.path(), script);
    }
    let read = |dir: &tempfile::TempDir, name: &str| {
        std::fs::read_to_string(dir.path().join("shots").join(name))
            .unwrap_or_else(|e| panic!("{name}: {e}"))
    };
    for name in [
        "start.txt",
        "start.ansi",
        "start.svg",
        "ab.txt",
        "ab.ansi",
        "ab.svg",
    ] {
        assert_eq!(read(&runs[0], name), read(&runs[1], name), "{name} differs");
    }
    let ab = read(&runs[0], "ab.txt");
    assert!(
        ab.contains("A · gradient") && ab.contains("B ±skips"),
        "{ab}"
    );
    assert!(
        ab.contains(" A/B: the skips flipped # in B"),
        "no caption: {ab}"
    );
    let status = ab.lines().find(|l| l.contains("seed 3")).unwrap();
    assert!(
        status.trim_end().ends_with("6/6"),
        "no compute time when scripted: {status}"
    );
    // `P` saved the screen under the first free name, `E` the panes' data.
    assert!(runs[0].path().join("shots/shatterlab-1.svg").is_file());
    let export: serde_json::Value =
        serde_json::from_str(&read(&runs[0], "shatterlab-export-1.json")).unwrap();
    let sides = export["lab"].as_array().unwrap();
    assert_eq!(sides.len(), 2, "the A/B view exports both sides");
    assert_eq!(sides[1]["settings"]["arch"], "ff");
    assert_eq!(sides[0]["depths"].as_array().unwrap().len(), 6);
    // ... and the current view as a figure: both sides, settings in the caption.
    let view = read(&runs[0], "shatterlab-export-1.svg");
    roxmltree::Document::parse(&view).expect("well-formed XML");
    assert!(view.contains("A: gradient of net 0") && view.contains("B: correlation"));
    assert!(view.contains("--seed 3"), "the caption names the settings");
    assert!(
        runs[0]
            .path()
            .join("shots/shatterlab-export-1.png")
            .is_file()
    );

    // The SVG holds the screen's text, cell for cell.
    let svg_text = svg_rows(&read(&runs[0], "ab.svg"));
    let lines: Vec<&str> = ab.lines().filter(|l| !l.trim().is_empty()).collect();
    let svg_lines: Vec<&str> = svg_text.iter().map(String::as_str).collect();
    assert_eq!(svg_lines, lines);

    // The cast: its header, then events in time order, each one JSON array on its line.
    let (header, events) = cast_lines(&runs[0].path().join("s.cast"));
    assert_eq!(header["version"], 2);
    assert_eq!(header["width"], 90);
    assert_eq!(header["height"], 30);
    assert!(header["timestamp"].as_u64().is_some());
    assert!(
        header["command"]
            .as_str()
            .unwrap()
            .contains("--script t.script")
    );
    assert_eq!(header["title"], "shatterlab");
    assert_valid_events(&events);

    // Replayed into a terminal emulator, the output ends on the screen the TUI saved.
    let mut vt = vt100::Parser::new(
        NonZeroU16::new(30).unwrap(),
        NonZeroU16::new(90).unwrap(),
        0,
    );
    for (_, kind, data) in &events {
        if kind == "o" {
            if data.contains("\x1b[?1049l") {
                break;
            }
            vt.process(data.as_bytes());
        }
    }
    let replayed: Vec<String> = vt
        .screen()
        .contents()
        .lines()
        .map(|l| l.trim_end().to_string())
        .collect();
    let final_text = std::fs::read_to_string(runs[0].path().join("final.txt")).unwrap();
    let saved: Vec<&str> = final_text.lines().collect();
    let replayed: Vec<&str> = replayed.iter().map(String::as_str).collect();
    assert_eq!(replayed, saved[..replayed.len()]);
    assert!(saved[replayed.len()..].iter().all(|l| l.is_empty()));
    assert!(final_text.contains("saved "), "{final_text}");
    // The caption is in the recording too.
    assert!(
        replayed
            .iter()
            .any(|l| l.contains("A/B: the skips flipped # in B"))
    );
    // The recording ends by leaving the alternate screen.
    assert!(events.iter().any(|e| e.2.contains("\x1b[?1049l")));
}

#[test]
fn a_killed_recording_is_valid_up_to_its_last_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("t.script"),
        "wait sweep\nresize 100 30\nkey P\nwait 600s\n",
    )
    .unwrap();
    let bin = env!("CARGO_BIN_EXE_shatterlab");
    let inner = format!(
        "stty rows 24 cols 80 && cd {dir} && echo $$ > pid && exec {bin} {LAB} --log lab.log \
         --script t.script --record s.cast --shots-dir shots",
        dir = dir.path().display()
    );
    let (mut child, mut screen, mut keys) = start(&inner, &[]);
    screen.wait_for(&["saved "]);
    // `exec`: the pid the shell wrote is the lab's.
    let pid = std::fs::read_to_string(dir.path().join("pid")).unwrap();
    let killed = Command::new("kill")
        .args(["-KILL", pid.trim()])
        .status()
        .unwrap();
    assert!(killed.success());
    press(&mut keys, "q");
    drop(keys);
    child.wait().unwrap();
    let (header, events) = cast_lines(&dir.path().join("s.cast"));
    assert_eq!(header["width"], 80);
    assert_valid_events(&events);
    assert!(
        events.iter().any(|e| e.1 == "r" && e.2 == "100x30"),
        "a script's resize is recorded"
    );
    // The screen saved after the resize has the new size.
    let shot = std::fs::read_to_string(dir.path().join("shots/shatterlab-1.txt")).unwrap();
    assert_eq!(shot.lines().count(), 30);
    assert!(shot.lines().any(|l| l.chars().count() > 80), "{shot}");
    assert!(
        !events.iter().any(|e| e.2.contains("\x1b[?1049l")),
        "the killed session never left the alternate screen"
    );
}

#[test]
fn bad_script_lines_are_reported_with_their_line_before_the_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("t.script");
    std::fs::write(&script, "wait sweep\n\n# fine so far\nkey v\n").unwrap();
    Command::cargo_bin("shatterlab")
        .unwrap()
        .arg("--script")
        .arg(&script)
        .assert()
        .failure()
        .stderr(
            predicate::str::contains(format!("{}:4", script.display()))
                .and(predicate::str::contains("unknown key `v`: expected one of")),
        );
}

#[test]
fn existing_outputs_are_kept_without_force() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("t.script");
    std::fs::write(&script, "snapshot s\nquit\n").unwrap();
    let shot = dir.path().join("final.svg");
    std::fs::write(&shot, "mine").unwrap();
    let run = |extra: &[&str]| {
        Command::cargo_bin("shatterlab")
            .unwrap()
            .current_dir(dir.path())
            .args(["--script", "t.script"])
            .args(extra)
            .assert()
            .failure()
    };
    run(&["--screenshot", "final.svg"]).stderr(predicate::str::contains(
        "final.svg already exists: pass --force",
    ));
    assert_eq!(std::fs::read_to_string(&shot).unwrap(), "mine");
    std::fs::write(dir.path().join("s.ansi"), "mine").unwrap();
    run(&[]).stderr(predicate::str::contains(
        "s.ansi already exists: pass --force",
    ));
    // With --force the files may be replaced: what stops this run is the missing terminal.
    run(&["--screenshot", "final.svg", "--force"])
        .stderr(predicate::str::contains("need the terminal UI"));
    run(&["--screenshot", "final.png"]).stderr(predicate::str::contains(
        "expected a file ending in .txt, .ansi or .svg",
    ));
}

#[test]
fn export_writes_the_panes_and_logged_runs_as_json_or_csv() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("runs")).unwrap();
    std::fs::write(
        dir.path().join("runs/r1.jsonl"),
        concat!(
            r#"{"type":"config","run":"r1","seed":0,"step":0,"config":{"lr":0.001,"batch":32}}"#,
            "\n",
            r#"{"type":"step","step":1,"epoch":0,"loss":2.3,"lr":0.001,"images_per_sec":9,"state":"running"}"#,
            "\n",
        ),
    )
    .unwrap();
    let export = |extra: &[&str]| {
        let mut cmd = Command::cargo_bin("shatterlab").unwrap();
        cmd.current_dir(dir.path())
            .args([
                "export", "--depth", "3", "--width", "8", "--points", "16", "--nets", "2",
            ])
            .args(extra);
        cmd.assert()
    };
    export(&["--out", "e.json"]).success();
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("e.json")).unwrap()).unwrap();
    let a = &doc["lab"][0];
    assert_eq!(a["settings"]["depth"], 3);
    assert_eq!(a["x"].as_array().unwrap().len(), 16);
    let d3 = &a["depths"][2];
    assert_eq!(d3["depth"], 3);
    assert_eq!(d3["trace"].as_array().unwrap().len(), 16);
    assert_eq!(
        d3["acf"].as_array().unwrap().len(),
        d3["acf_se"].as_array().unwrap().len()
    );
    for heat in ["heat_integrated", "heat_random"] {
        assert_eq!(d3[heat].as_array().unwrap().len(), 16 * 16, "{heat}");
    }
    assert!(d3["corr_far"].is_f64() && d3["integrated"]["corr_far"].is_f64());
    assert_eq!(doc["runs"][0]["settings"]["batch"], 32);
    assert_eq!(doc["runs"][0]["losses"][0][1], 2.3);

    // Kept without --force, replaced with it.
    std::fs::write(dir.path().join("e.json"), "mine").unwrap();
    export(&["--out", "e.json"])
        .failure()
        .stderr(predicate::str::contains(
            "e.json already exists: pass --force",
        ));
    assert_eq!(
        std::fs::read_to_string(dir.path().join("e.json")).unwrap(),
        "mine"
    );
    export(&["--out", "e.json", "--force"]).success();

    export(&["--out", "tables", "--format", "csv"]).success();
    let acf = std::fs::read_to_string(dir.path().join("tables/acf.csv")).unwrap();
    assert!(acf.starts_with("side,depth,lag,r,se\nA,1,0,1,"), "{acf}");
    let loss = std::fs::read_to_string(dir.path().join("tables/loss.csv")).unwrap();
    assert_eq!(loss, "run,step,loss\nr1,1,2.3\n");
    for table in shatterlab::export::TABLES {
        assert!(dir.path().join("tables").join(table).is_file(), "{table}");
    }
}

#[test]
fn figures_are_well_formed_svg_and_png_of_their_stated_size() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("runs")).unwrap();
    std::fs::write(
        dir.path().join("runs/r1.jsonl"),
        concat!(
            r#"{"type":"config","run":"r1","seed":4,"step":0,"config":{"seed":4}}"#,
            "\n",
            r#"{"type":"step","step":1,"epoch":0,"loss":2.3,"lr":0.001,"images_per_sec":9,"state":"running"}"#,
            "\n",
            r#"{"type":"step","step":2,"epoch":0,"loss":2.1,"lr":0.001,"images_per_sec":9,"state":"running"}"#,
            "\n",
        ),
    )
    .unwrap();
    let figures = |extra: &[&str]| {
        let mut cmd = Command::cargo_bin("shatterlab").unwrap();
        cmd.current_dir(dir.path())
            .args(["figures", "--out", "figs", "--runs", "runs"])
            .args([
                "--width", "16", "--points", "32", "--nets", "2", "--seed", "5",
            ])
            .args(extra);
        cmd.assert()
    };
    figures(&[]).success();
    let mut names: Vec<String> = std::fs::read_dir(dir.path().join("figs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names.len(), 14, "{names:?}");
    for name in names.iter().filter(|n| n.ends_with(".svg")) {
        let path = dir.path().join("figs").join(name);
        let svg = std::fs::read_to_string(&path).unwrap();
        let doc = roxmltree::Document::parse(&svg).unwrap_or_else(|e| panic!("{name}: {e}"));
        let root = doc.root_element();
        let size = |a: &str| root.attribute(a).unwrap().parse::<u32>().unwrap();
        let desc = root
            .descendants()
            .find(|n| n.has_tag_name("desc"))
            .and_then(|n| n.text())
            .unwrap_or_else(|| panic!("{name} has no <desc>"));
        assert!(desc.contains("seed"), "{name}: {desc}");
        let text: String = root
            .descendants()
            .filter(|n| n.is_text())
            .filter_map(|n| n.text())
            .collect();
        assert!(text.contains("seed"), "{name}: the caption is drawn");

        let png = std::fs::File::open(path.with_extension("png")).unwrap();
        let reader = png::Decoder::new(std::io::BufReader::new(png))
            .read_info()
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let info = reader.info();
        assert_eq!(
            (info.width, info.height),
            (size("width"), size("height")),
            "{name}"
        );
        let caption = info
            .utf8_text
            .iter()
            .find(|t| t.keyword == "Description")
            .and_then(|t| t.get_text().ok())
            .unwrap_or_default();
        assert!(caption.contains("seed"), "{name}: {caption}");
    }
    let fig2c = std::fs::read_to_string(dir.path().join("figs/fig2c-acf-resnet-beta.svg")).unwrap();
    assert!(fig2c.contains("β = 0.1") && fig2c.contains("seed 5"));
    // Kept without --force.
    let before = std::fs::read(dir.path().join("figs/covariance.png")).unwrap();
    figures(&[])
        .failure()
        .stderr(predicate::str::contains("already exists: pass --force"));
    assert_eq!(
        std::fs::read(dir.path().join("figs/covariance.png")).unwrap(),
        before
    );
}

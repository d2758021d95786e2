//! Progress of a long command: an indicatif bar on a terminal, plain lines otherwise.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

/// How often plain progress lines are printed.
const LINE_EVERY: Duration = Duration::from_millis(500);

/// Progress towards `total` units, shown on stderr.
pub enum Progress {
    /// stderr is a terminal.
    Bar(ProgressBar),
    /// stderr is a pipe or a file: a line now and then.
    Lines {
        label: String,
        total: u64,
        last: Option<Instant>,
    },
}

impl Progress {
    /// Starts showing progress of `label` towards `total` `unit`s.
    pub fn new(label: &str, total: u64, unit: &str) -> Self {
        if std::io::stderr().is_terminal() {
            let bar = ProgressBar::new(total);
            let template = format!("{{msg}} [{{bar:32}}] {{pos}}/{{len}} {unit} ({{elapsed}})");
            if let Ok(style) = ProgressStyle::with_template(&template) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar.set_message(label.to_owned());
            bar.enable_steady_tick(Duration::from_millis(100));
            Self::Bar(bar)
        } else {
            Self::Lines {
                label: label.to_owned(),
                total,
                last: None,
            }
        }
    }

    /// Reports `pos` units done.
    pub fn set(&mut self, pos: u64) {
        match self {
            Self::Bar(bar) => bar.set_position(pos),
            Self::Lines { label, total, last } => {
                if last.is_none_or(|t| t.elapsed() >= LINE_EVERY) {
                    *last = Some(Instant::now());
                    eprintln!("{label}: {pos}/{total}");
                }
            }
        }
    }

    /// Stops showing progress (the bar is cleared; a last line is printed).
    pub fn finish(self, pos: u64) {
        match self {
            Self::Bar(bar) => bar.finish_and_clear(),
            Self::Lines { label, total, .. } => eprintln!("{label}: {pos}/{total} done"),
        }
    }
}

//! Goal verdicts. Every goal a bench checks is recorded here as its line is printed, and
//! [`Verdicts::finish`] turns a miss into a failing exit status, so a missed goal cannot
//! pass unnoticed in CI or a script that only looks at `cargo bench`'s status.

use std::io::Write;
use std::process::ExitCode;

/// The verdict of every goal a bench has checked so far.
#[derive(Default)]
pub struct Verdicts {
    met: usize,
    missed: Vec<String>,
}

impl Verdicts {
    pub fn new() -> Verdicts {
        Verdicts::default()
    }

    /// Records one goal (`goal` names it in the summary) and returns the word its line
    /// prints: `met` or `MISSED`.
    pub fn record(&mut self, goal: &str, met: bool) -> &'static str {
        if met {
            self.met += 1;
            "met"
        } else {
            self.missed.push(goal.to_string());
            "MISSED"
        }
    }

    /// Prints one figure line and records its goal, if it has one (`met` is `None` for
    /// informational figures, which print `n/a` and count toward nothing):
    /// `<what>: <value> (<ratio>x baseline <baseline value>) goal <goal>: met|MISSED|n/a`.
    pub fn figure(
        &mut self,
        what: &str,
        value: f64,
        unit: &str,
        baseline: f64,
        goal_text: &str,
        met: Option<bool>,
    ) {
        let ratio = value / baseline;
        let verdict = match met {
            Some(met) => self.record(&format!("{what} {goal_text}"), met),
            None => "n/a",
        };
        println!(
            "{what}: {} {unit} ({ratio:.2}x baseline {} {unit}) goal {goal_text}: {verdict}",
            super::fmt_num(value),
            super::fmt_num(baseline)
        );
    }

    /// Prints `goals: <n> met, <m> missed (<the missed goals>)` and returns the exit status
    /// for `main`: failure if any goal was missed. It returns the status instead of calling
    /// `std::process::exit` so that `main`'s locals (temporary directories, running
    /// servers) are still dropped and cleaned up.
    pub fn finish(self) -> ExitCode {
        let missed = self.missed.len();
        if missed == 0 {
            println!("goals: {} met, 0 missed", self.met);
        } else {
            println!(
                "goals: {} met, {missed} missed ({})",
                self.met,
                self.missed.join("; ")
            );
        }
        let _ = std::io::stdout().flush();
        if missed == 0 {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        }
    }
}

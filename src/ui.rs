//! The only module that writes to the terminal: status and errors on stderr, data on stdout, prompts through dialoguer.

#![allow(clippy::print_stderr, clippy::print_stdout)]

use crate::answers::{Prompter, Value};
use crate::commands::new::Created;
use crate::template::{Question, QuestionKind, Template};

/// Reports a command's failure on stderr.
pub fn error(error: &dyn std::fmt::Display) {
    eprintln!("error: {error}");
}

/// Reports a created project and the next two commands.
pub fn created(created: &Created) {
    let dir = created.dir.display();
    eprintln!(
        "Created {dir} from template {} ({} files{}).",
        created.template,
        created.files,
        if created.git {
            ", first commit made"
        } else {
            ""
        }
    );
    eprintln!();
    eprintln!("Next:");
    eprintln!("  cd {dir}");
    eprintln!("  cargo test");
}

/// Lists templates and their questions on stdout.
pub fn templates(templates: &[Template]) {
    for t in templates {
        let info = &t.manifest.template;
        println!("{} {}: {}", info.id, info.version, info.description);
        for q in &t.manifest.questions {
            let kind = match q.kind {
                QuestionKind::String => "string".to_owned(),
                QuestionKind::Bool => "bool".to_owned(),
                QuestionKind::Choice => format!("one of {}", q.choices.join("|")),
            };
            let default = q
                .default
                .as_ref()
                .map_or_else(|| "required".to_owned(), |d| format!("default {d}"));
            let condition = q
                .condition
                .as_ref()
                .map_or_else(String::new, |c| format!(", when {c}"));
            println!(
                "  --define {}=<{kind}>  {} ({default}{condition})",
                q.name, q.prompt
            );
        }
    }
}

/// Asks questions on the terminal with dialoguer.
pub struct TerminalPrompter;

impl Prompter for TerminalPrompter {
    fn ask(&mut self, question: &Question, default: Option<&Value>) -> Option<Value> {
        let theme = dialoguer::theme::SimpleTheme;
        match question.kind {
            QuestionKind::Bool => {
                let mut c = dialoguer::Confirm::with_theme(&theme).with_prompt(&question.prompt);
                if let Some(Value::Bool(b)) = default {
                    c = c.default(*b);
                }
                c.interact_opt().ok().flatten().map(Value::Bool)
            }
            QuestionKind::Choice => {
                let position = default
                    .and_then(|d| question.choices.iter().position(|c| *c == d.to_string()))
                    .unwrap_or(0);
                dialoguer::Select::with_theme(&theme)
                    .with_prompt(&question.prompt)
                    .items(&question.choices)
                    .default(position)
                    .interact_opt()
                    .ok()
                    .flatten()
                    .map(|i| Value::String(question.choices[i].clone()))
            }
            QuestionKind::String => {
                let mut input =
                    dialoguer::Input::<String>::with_theme(&theme).with_prompt(&question.prompt);
                if let Some(d) = default {
                    input = input.default(d.to_string());
                }
                input.interact_text().ok().map(Value::String)
            }
        }
    }
}

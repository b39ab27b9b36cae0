//! Answers to a template's questions: from `--define`, an answers file, the environment, prompts and defaults, validated.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::template::{Manifest, Question, QuestionKind, evaluate_condition};

/// An answer's value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Value {
    /// A boolean answer.
    Bool(bool),
    /// A string or choice answer.
    String(String),
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Bool(b) => write!(f, "{b}"),
            Self::String(s) => f.write_str(s),
        }
    }
}

/// Validated answers, in a deterministic (sorted) order.
pub type Answers = BTreeMap<String, Value>;

/// Where answers come from, highest priority first (the prompt sits between environment and defaults).
#[derive(Debug, Clone, Default)]
pub struct AnswerSources {
    /// `--define key=value`, in command-line order.
    pub defines: Vec<(String, String)>,
    /// The table of an `--answers` TOML file.
    pub file: BTreeMap<String, toml::Value>,
    /// `PALISADE_ANSWER_<NAME>` variables, keyed by lowercase name.
    pub env: BTreeMap<String, String>,
    /// Answers recorded in a project (`palisade upgrade`): below `--define` and the file; an
    /// answer to a question the template no longer asks, or no longer asks here, is dropped.
    pub recorded: Answers,
}

/// Asks a question on a terminal.
pub trait Prompter {
    /// Asks `question`, offering `default`; `None` when the user aborted.
    fn ask(&mut self, question: &Question, default: Option<&Value>) -> Option<Value>;
}

/// Why answers could not be settled. Each message names the question and the flag to use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AnswerError {
    /// A `--define` or answers-file key names no question of the template.
    #[error("unknown answer {key:?} for template {template} (known: {known})")]
    Unknown {
        /// The key.
        key: String,
        /// The template id.
        template: String,
        /// The template's question names.
        known: String,
    },
    /// A `--define` is not `key=value`.
    #[error("--define {0:?} is not key=value")]
    MalformedDefine(String),
    /// An answer has the wrong type.
    #[error("answer {name}: expected {expected}, got {value:?}")]
    WrongType {
        /// The question.
        name: String,
        /// What was expected.
        expected: &'static str,
        /// What was given.
        value: String,
    },
    /// A choice is not one of the allowed values.
    #[error("answer {name}: {value:?} is not one of {choices}")]
    NotAChoice {
        /// The question.
        name: String,
        /// What was given.
        value: String,
        /// The allowed values.
        choices: String,
    },
    /// A string failed the question's validation.
    #[error("answer {name}: {value:?} is invalid: {message}")]
    Invalid {
        /// The question.
        name: String,
        /// What was given.
        value: String,
        /// The question's validation message.
        message: String,
    },
    /// A required answer is missing and there is no terminal to ask on.
    #[error("answer {name} is required: pass --define {name}=<value>")]
    Missing {
        /// The question.
        name: String,
    },
    /// An answer was given for a question whose condition is false.
    #[error("answer {name} does not apply here (it is asked only when {condition})")]
    NotApplicable {
        /// The question.
        name: String,
        /// Its condition.
        condition: String,
    },
    /// The user aborted a prompt.
    #[error("aborted at question {0}")]
    Aborted(String),
    /// A condition or validation in the template itself is broken.
    #[error("template {template}: {message}")]
    Template {
        /// The template id.
        template: String,
        /// What is wrong.
        message: String,
    },
}

impl AnswerSources {
    /// Collects `--define` pairs, failing on one without `=`.
    pub fn parse_defines(defines: &[String]) -> Result<Vec<(String, String)>, AnswerError> {
        defines
            .iter()
            .map(|d| {
                d.split_once('=')
                    .map(|(k, v)| (k.trim().to_owned(), v.to_owned()))
                    .ok_or_else(|| AnswerError::MalformedDefine(d.clone()))
            })
            .collect()
    }

    /// Reads `PALISADE_ANSWER_<NAME>` variables from an environment listing.
    pub fn env_from(vars: impl IntoIterator<Item = (String, String)>) -> BTreeMap<String, String> {
        vars.into_iter()
            .filter_map(|(k, v)| {
                k.strip_prefix("PALISADE_ANSWER_")
                    .map(|name| (name.to_ascii_lowercase(), v))
            })
            .collect()
    }
}

/// Settles every question of `manifest` in order. Questions whose condition is false get no answer.
pub fn resolve(
    manifest: &Manifest,
    sources: &AnswerSources,
    mut prompter: Option<&mut dyn Prompter>,
) -> Result<Answers, AnswerError> {
    let template = &manifest.template.id;
    let known: Vec<&str> = manifest.questions.iter().map(|q| q.name.as_str()).collect();
    let unknown_key = sources
        .defines
        .iter()
        .map(|(k, _)| k.as_str())
        .chain(sources.file.keys().map(String::as_str))
        .find(|k| !known.contains(k));
    if let Some(key) = unknown_key {
        return Err(AnswerError::Unknown {
            key: key.to_owned(),
            template: template.clone(),
            known: known.join(", "),
        });
    }
    let mut answers = Answers::new();
    for question in &manifest.questions {
        if let Some(condition) = &question.condition {
            let holds = evaluate_condition(condition, &answers).map_err(|message| {
                AnswerError::Template {
                    template: template.clone(),
                    message,
                }
            })?;
            if !holds {
                if sources.defines.iter().any(|(k, _)| *k == question.name)
                    || sources.file.contains_key(&question.name)
                {
                    return Err(AnswerError::NotApplicable {
                        name: question.name.clone(),
                        condition: condition.clone(),
                    });
                }
                continue;
            }
        }
        let given = sources
            .defines
            .iter()
            .rev()
            .find(|(k, _)| *k == question.name)
            .map(|(_, v)| parse_text(question, v))
            .or_else(|| {
                sources
                    .file
                    .get(&question.name)
                    .map(|v| from_toml(question, v))
            })
            .or_else(|| sources.recorded.get(&question.name).cloned().map(Ok))
            .or_else(|| {
                sources
                    .env
                    .get(&question.name)
                    .map(|v| parse_text(question, v))
            })
            .transpose()?;
        let default = question
            .default
            .as_ref()
            .map(|v| from_toml(question, v))
            .transpose()?;
        let value = match (given, prompter.as_deref_mut()) {
            (Some(v), _) => v,
            (None, Some(p)) => p
                .ask(question, default.as_ref())
                .ok_or_else(|| AnswerError::Aborted(question.name.clone()))?,
            (None, None) => default.ok_or_else(|| AnswerError::Missing {
                name: question.name.clone(),
            })?,
        };
        validate(question, &value, template)?;
        answers.insert(question.name.clone(), value);
    }
    Ok(answers)
}

fn parse_text(question: &Question, text: &str) -> Result<Value, AnswerError> {
    match question.kind {
        QuestionKind::Bool => match text {
            "true" => Ok(Value::Bool(true)),
            "false" => Ok(Value::Bool(false)),
            _ => Err(AnswerError::WrongType {
                name: question.name.clone(),
                expected: "true or false",
                value: text.to_owned(),
            }),
        },
        QuestionKind::String | QuestionKind::Choice => Ok(Value::String(text.to_owned())),
    }
}

fn from_toml(question: &Question, value: &toml::Value) -> Result<Value, AnswerError> {
    match (question.kind, value) {
        (QuestionKind::Bool, toml::Value::Boolean(b)) => Ok(Value::Bool(*b)),
        (QuestionKind::String | QuestionKind::Choice, toml::Value::String(s)) => {
            Ok(Value::String(s.clone()))
        }
        (QuestionKind::Bool, other) => Err(AnswerError::WrongType {
            name: question.name.clone(),
            expected: "a boolean",
            value: other.to_string(),
        }),
        (_, other) => Err(AnswerError::WrongType {
            name: question.name.clone(),
            expected: "a string",
            value: other.to_string(),
        }),
    }
}

/// Checks an answer against its question (type, choices, validation pattern).
pub fn validate(question: &Question, value: &Value, template: &str) -> Result<(), AnswerError> {
    match (question.kind, value) {
        (QuestionKind::Bool, Value::Bool(_)) => Ok(()),
        (QuestionKind::Choice, Value::String(s)) if question.choices.contains(s) => Ok(()),
        (QuestionKind::Choice, Value::String(s)) => Err(AnswerError::NotAChoice {
            name: question.name.clone(),
            value: s.clone(),
            choices: question.choices.join(", "),
        }),
        (QuestionKind::String, Value::String(s)) => {
            if question.reserved.contains(s) {
                return Err(AnswerError::Invalid {
                    name: question.name.clone(),
                    value: s.clone(),
                    message: "the name is reserved by the template".into(),
                });
            }
            let Some(pattern) = &question.validation else {
                return Ok(());
            };
            let regex = regex::Regex::new(&format!("^(?:{pattern})$")).map_err(|e| {
                AnswerError::Template {
                    template: template.to_owned(),
                    message: format!("question {}: {e}", question.name),
                }
            })?;
            if regex.is_match(s) {
                Ok(())
            } else {
                let message = question
                    .validation_message
                    .clone()
                    .unwrap_or_else(|| format!("must match {pattern}"));
                Err(AnswerError::Invalid {
                    name: question.name.clone(),
                    value: s.clone(),
                    message,
                })
            }
        }
        (_, v) => Err(AnswerError::WrongType {
            name: question.name.clone(),
            expected: if question.kind == QuestionKind::Bool {
                "true or false"
            } else {
                "a string"
            },
            value: v.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest() -> Manifest {
        toml::from_str(
            r#"
            [template]
            id = "t"
            version = "1.0.0"
            description = "test"
            [[questions]]
            name = "owner"
            type = "string"
            prompt = "Owner"
            [[questions]]
            name = "db"
            type = "choice"
            prompt = "Database"
            choices = ["a", "b"]
            default = "a"
            [[questions]]
            name = "pool"
            type = "bool"
            prompt = "Pool?"
            default = true
            condition = 'db == "b"'
            "#,
        )
        .unwrap()
    }

    struct Scripted(Vec<Value>);

    impl Prompter for Scripted {
        fn ask(&mut self, _question: &Question, _default: Option<&Value>) -> Option<Value> {
            (!self.0.is_empty()).then(|| self.0.remove(0))
        }
    }

    fn sources(defines: &[(&str, &str)]) -> AnswerSources {
        AnswerSources {
            defines: defines
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn a_required_answer_without_a_terminal_names_the_flag() {
        let error = resolve(&manifest(), &sources(&[]), None).unwrap_err();
        assert_eq!(
            error.to_string(),
            "answer owner is required: pass --define owner=<value>"
        );
    }

    #[test]
    fn priorities_conditions_and_prompts() {
        let mut env = sources(&[("owner", "from-define")]);
        env.env = AnswerSources::env_from([
            ("PALISADE_ANSWER_OWNER".to_owned(), "from-env".to_owned()),
            ("PATH".to_owned(), "x".to_owned()),
        ]);
        env.file
            .insert("db".into(), toml::Value::String("b".into()));
        let answers = resolve(&manifest(), &env, None).unwrap();
        assert_eq!(
            answers["owner"],
            Value::String("from-define".into()),
            "--define beats the environment"
        );
        assert_eq!(
            answers["db"],
            Value::String("b".into()),
            "the answers file beats the default"
        );
        assert_eq!(
            answers["pool"],
            Value::Bool(true),
            "a question whose condition holds takes its default"
        );

        let only_env = AnswerSources {
            env: env.env.clone(),
            ..Default::default()
        };
        let answers = resolve(&manifest(), &only_env, None).unwrap();
        assert_eq!(answers["owner"], Value::String("from-env".into()));
        assert!(
            !answers.contains_key("pool"),
            "a question whose condition is false gets no answer"
        );

        let mut prompter = Scripted(vec![
            Value::String("prompted".into()),
            Value::String("b".into()),
            Value::Bool(false),
        ]);
        let answers = resolve(&manifest(), &sources(&[]), Some(&mut prompter)).unwrap();
        assert_eq!(answers["owner"], Value::String("prompted".into()));
        assert_eq!(answers["pool"], Value::Bool(false));
        let mut aborted = Scripted(vec![]);
        assert_eq!(
            resolve(&manifest(), &sources(&[]), Some(&mut aborted)).unwrap_err(),
            AnswerError::Aborted("owner".into())
        );
    }
}

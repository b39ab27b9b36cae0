//! Rendering a template with answers into a `Plan`: Tera in strict mode, templated paths, conditional files. Deterministic.

use std::path::{Component, Path, PathBuf};

use serde::Serialize;
use tera::{Context, Tera};

use super::Template;
use crate::answers::{Answers, Value};
use crate::plan::{Plan, PlannedFile};
use crate::project::{self, ProjectMetadata};

/// Where the generated project gets `palisade-runtime` from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RuntimeSource {
    /// A local checkout (`path = "..."`).
    Path(String),
    /// A git repository at an optional revision.
    Git {
        /// The repository URL.
        url: String,
        /// A commit, tag or branch.
        rev: Option<String>,
    },
    /// A published version.
    Version(String),
}

impl RuntimeSource {
    /// The inside of the dependency's inline table, e.g. `path = "../runtime"`.
    pub fn toml_fields(&self) -> String {
        let q = |s: &str| toml_edit::Value::from(s).to_string().trim().to_owned();
        match self {
            Self::Path(p) => format!("path = {}", q(p)),
            Self::Git {
                url,
                rev: Some(rev),
            } => format!("git = {}, rev = {}", q(url), q(rev)),
            Self::Git { url, rev: None } => format!("git = {}", q(url)),
            Self::Version(v) => format!("version = {}", q(v)),
        }
    }
}

impl RuntimeSource {
    /// The command that installs the `palisade` CLI matching this runtime in a generated project's CI:
    /// from the same git repository, or the published release of `generator_version`.
    pub fn install_command(&self, generator_version: &str) -> String {
        match self {
            Self::Git { url, rev } => {
                let rev = rev
                    .as_ref()
                    .map_or_else(String::new, |r| format!(" --rev {r}"));
                format!("cargo install --locked --git {url}{rev} palisade")
            }
            Self::Path(_) | Self::Version(_) => {
                format!("cargo install --locked palisade --version ={generator_version}")
            }
        }
    }
}

/// Everything a render depends on; the same input gives the same bytes.
#[derive(Debug, Clone)]
pub struct RenderInput<'a> {
    /// The template.
    pub template: &'a Template,
    /// The project (crate) name.
    pub name: &'a str,
    /// Validated answers.
    pub answers: &'a Answers,
    /// The runtime dependency.
    pub runtime: &'a RuntimeSource,
    /// The generator's version, recorded in the project.
    pub generator_version: &'a str,
}

/// A render failed: a template bug, reported with the file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RenderError {
    /// Tera refused a file or path (syntax error, undefined variable).
    #[error("template {template}, {file}: {message}")]
    Tera {
        /// The template id.
        template: String,
        /// The file (as stored in the template).
        file: String,
        /// Tera's message with its causes.
        message: String,
    },
    /// A rendered path is empty, absolute or leaves the project.
    #[error(
        "template {template}, {file}: rendered path {path:?} is not a relative path inside the project"
    )]
    BadPath {
        /// The template id.
        template: String,
        /// The file.
        file: String,
        /// The rendered path.
        path: String,
    },
    /// Two files rendered to the same path.
    #[error("template {template}: two files render to {path}")]
    Collision {
        /// The template id.
        template: String,
        /// The path.
        path: String,
    },
    /// The generated `Cargo.toml` could not take the project record.
    #[error("template {template}, Cargo.toml: {message}")]
    Manifest {
        /// The template id.
        template: String,
        /// What went wrong.
        message: String,
    },
}

/// Evaluates a Tera boolean expression over `answers`.
pub fn evaluate_condition(expression: &str, answers: &Answers) -> Result<bool, String> {
    let context = context_of(answers);
    let source = format!("{{% if {expression} %}}true{{% else %}}false{{% endif %}}");
    Tera::one_off(&source, &context, false)
        .map(|s| s == "true")
        .map_err(|e| format!("condition {expression:?}: {}", chain(&e)))
}

/// Renders every file of the template for `input` into a plan, sorted by path.
pub fn render(input: &RenderInput<'_>) -> Result<Plan, RenderError> {
    let id = &input.template.manifest.template.id;
    let tera_error = |file: &str, e: &tera::Error| RenderError::Tera {
        template: id.clone(),
        file: file.to_owned(),
        message: chain(e),
    };

    let (mut tera, context) = prepare(input)?;
    let mut files = Vec::new();
    for file in input.template.files() {
        let stored = &file.path;
        if !included(input, stored).map_err(|message| RenderError::Tera {
            template: id.clone(),
            file: stored.clone(),
            message,
        })? {
            continue;
        }
        let rendered_path = if stored.contains("{{") || stored.contains("{%") {
            tera.render_str(stored, &context)
                .map_err(|e| tera_error(stored, &e))?
        } else {
            stored.clone()
        };
        let (path, is_template) = match rendered_path.strip_suffix(".tera") {
            Some(p) => (p.to_owned(), true),
            None => (rendered_path.clone(), false),
        };
        let path = safe_relative(&path).ok_or_else(|| RenderError::BadPath {
            template: id.clone(),
            file: stored.clone(),
            path: path.clone(),
        })?;
        let contents = if is_template {
            let text = std::str::from_utf8(&file.contents).map_err(|_| RenderError::Tera {
                template: id.clone(),
                file: stored.clone(),
                message: "a .tera file must be UTF-8".into(),
            })?;
            tera.add_raw_template(stored, text)
                .map_err(|e| tera_error(stored, &e))?;
            tera.render(stored, &context)
                .map_err(|e| tera_error(stored, &e))?
                .into_bytes()
        } else {
            file.contents.to_vec()
        };
        files.push(PlannedFile { path, contents });
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    if let Some(pair) = files.windows(2).find(|w| w[0].path == w[1].path) {
        return Err(RenderError::Collision {
            template: id.clone(),
            path: pair[0].path.display().to_string(),
        });
    }

    let metadata = ProjectMetadata {
        template: id.clone(),
        template_version: input.template.manifest.template.version.clone(),
        generator_version: input.generator_version.to_owned(),
        runtime: input.runtime.clone(),
        answers: input.answers.clone(),
    };
    if let Some(cargo) = files.iter_mut().find(|f| f.path == Path::new("Cargo.toml")) {
        let text = String::from_utf8_lossy(&cargo.contents).into_owned();
        cargo.contents = project::record(&text, &metadata)
            .map_err(|e| RenderError::Manifest {
                template: id.clone(),
                message: e.to_string(),
            })?
            .into_bytes();
    }
    Ok(Plan { files })
}

/// Renders paths that hold Tera expressions (migrations, wiring) with the same variables as the files.
pub fn render_paths(input: &RenderInput<'_>, paths: &[&str]) -> Result<Vec<String>, RenderError> {
    let (mut tera, context) = prepare(input)?;
    paths
        .iter()
        .map(|p| {
            tera.render_str(p, &context).map_err(|e| RenderError::Tera {
                template: input.template.manifest.template.id.clone(),
                file: format!("path {p}"),
                message: chain(&e),
            })
        })
        .collect()
}

/// One Tera instance and the context of a render: answers, name, runtime and derived variables.
fn prepare(input: &RenderInput<'_>) -> Result<(Tera, Context), RenderError> {
    let mut context = context_of(input.answers);
    context.insert("name", input.name);
    context.insert("crate_name", &input.name.replace('-', "_"));
    context.insert("runtime_dependency", &input.runtime.toml_fields());
    // The runtime's git repository, or empty: what a dependency policy must allow.
    let runtime_git = match input.runtime {
        RuntimeSource::Git { url, .. } => url.as_str(),
        _ => "",
    };
    context.insert("runtime_git", runtime_git);
    context.insert(
        "palisade_install",
        &input.runtime.install_command(input.generator_version),
    );
    context.insert(
        "template_version",
        &input.template.manifest.template.version.to_string(),
    );
    // One Tera instance for the whole render: building one registers every built-in filter,
    // which costs more than rendering a small path.
    let mut tera = Tera::default();
    tera.autoescape_on(vec![]);
    for variable in &input.template.manifest.variables {
        let value = tera
            .render_str(&variable.value, &context)
            .map_err(|e| RenderError::Tera {
                template: input.template.manifest.template.id.clone(),
                file: format!("variable {}", variable.name),
                message: chain(&e),
            })?;
        context.insert(&variable.name, &value);
    }

    Ok((tera, context))
}

fn included(input: &RenderInput<'_>, stored: &str) -> Result<bool, String> {
    for rule in &input.template.manifest.files {
        let rule_path = rule.path.trim_end_matches('/');
        let applies = stored == rule_path || stored.starts_with(&format!("{rule_path}/"));
        if applies && !evaluate_condition(&rule.condition, input.answers)? {
            return Ok(false);
        }
    }
    Ok(true)
}

fn safe_relative(path: &str) -> Option<PathBuf> {
    let p = PathBuf::from(path);
    let ok = !path.is_empty() && p.components().all(|c| matches!(c, Component::Normal(_)));
    ok.then_some(p)
}

fn context_of(answers: &Answers) -> Context {
    let mut context = Context::new();
    for (name, value) in answers {
        match value {
            Value::Bool(b) => context.insert(name, b),
            Value::String(s) => context.insert(name, s),
        }
    }
    context
}

/// Tera's error with its causes, which hold the useful part ("Variable `x` not found").
fn chain(error: &tera::Error) -> String {
    let mut message = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}

//! Everything git: repository set-up for new projects (and, with `palisade upgrade`, 3-way merges). The only user of git2.

use std::path::Path;

/// The identity used for the first commit when the user's git configuration has none.
pub const FALLBACK_AUTHOR: (&str, &str) = ("Palisade", "palisade@localhost");

/// Initializes a repository in `dir` on branch `main` and commits every file in it.
pub fn init_repository(dir: &Path, message: &str) -> Result<(), git2::Error> {
    let mut options = git2::RepositoryInitOptions::new();
    options.initial_head("main");
    let repo = git2::Repository::init_opts(dir, &options)?;
    let mut index = repo.index()?;
    index.add_all(["*"].iter(), git2::IndexAddOption::DEFAULT, None)?;
    index.write()?;
    let tree = repo.find_tree(index.write_tree()?)?;
    let signature = repo
        .signature()
        .or_else(|_| git2::Signature::now(FALLBACK_AUTHOR.0, FALLBACK_AUTHOR.1))?;
    repo.commit(Some("HEAD"), &signature, &signature, message, &tree, &[])?;
    Ok(())
}

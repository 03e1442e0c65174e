use thiserror::Error;

fn at(file: &str, line: &Option<usize>) -> String {
    match line {
        Some(line) => format!("{file}, line {line}"),
        None => file.to_string(),
    }
}

/// A configuration that cannot be used; the message names file, line and key.
#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("cannot read config file {file}: {source}")]
    Read {
        file: String,
        source: std::io::Error,
    },
    #[error("config error in {}: {message}", at(.file, .line))]
    Parse {
        file: String,
        line: Option<usize>,
        message: String,
    },
    #[error("config error in {}: key `{key}`: {reason}", at(.file, .line))]
    Invalid {
        file: String,
        line: Option<usize>,
        key: String,
        reason: String,
    },
}

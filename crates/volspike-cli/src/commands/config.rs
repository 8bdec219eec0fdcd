//! `volspike config check`: loads a configuration the way a service would
//! (defaults, `--config FILE`, then `VOLSPIKE__` variables from the process,
//! env files and `--env`), and fails on any unknown key, invalid value or
//! broken cross-field rule, naming the key and where it came from. The
//! compose stack's services are checked this way (scripts/check-deploy.sh).

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use volspike_runtime::ConfigLoader;
use volspike_runtime::config::{ENV_PREFIX, is_config_var};

#[derive(Debug, clap::Subcommand)]
pub enum ConfigCommand {
    /// Loads the configuration and reports every problem; exit status 0 when
    /// there is none.
    Check(CheckArgs),
}

#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// A file of KEY=VALUE lines (docker's env_file format), read after the
    /// process's variables; repeatable, later files win.
    #[arg(long, value_name = "FILE")]
    pub env_file: Vec<PathBuf>,
    /// A variable as KEY=VALUE, read last; repeatable.
    #[arg(long, value_name = "KEY=VALUE")]
    pub env: Vec<String>,
    /// Leave out the process's own environment (check a deployment's
    /// variables only).
    #[arg(long)]
    pub no_process_env: bool,
    /// The service the configuration is for (ingestor, featurizer,
    /// inference, drift): also checks that it names a Kafka broker.
    #[arg(long, value_parser = ["ingestor", "featurizer", "inference", "drift"])]
    pub service: Option<String>,
}

pub async fn run(c: ConfigCommand, config: Option<&Path>) -> anyhow::Result<()> {
    let ConfigCommand::Check(a) = c;
    let mut loader = ConfigLoader::new().file(config);
    let mut vars: Vec<(String, String)> = Vec::new();
    if !a.no_process_env {
        vars.extend(std::env::vars());
        loader = loader.env();
    }
    for file in &a.env_file {
        let text =
            std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
        let pairs = parse_env_file(&text).with_context(|| format!("in {}", file.display()))?;
        vars.extend(pairs.iter().cloned());
        loader = loader.vars(&file.display().to_string(), pairs);
    }
    let pairs = a
        .env
        .iter()
        .map(|kv| split_var(kv).with_context(|| format!("--env `{kv}`")))
        .collect::<anyhow::Result<Vec<_>>>()?;
    vars.extend(pairs.iter().cloned());
    loader = loader.vars("--env", pairs);
    let mut problems: Vec<String> = vars
        .iter()
        .filter(|(k, _)| k.to_ascii_uppercase().starts_with("VOLSPIKE") && !is_config_var(k))
        .map(|(k, _)| {
            format!("{k}: not read; volspike reads variables named {ENV_PREFIX}SECTION__KEY")
        })
        .collect();
    match loader.load() {
        Ok(cfg) => {
            if let Some(service) = &a.service
                && let Err(e) = cfg.kafka.broker(service)
            {
                problems.push(e.to_string());
            }
        }
        Err(e) => problems.extend(e.0),
    }
    if !problems.is_empty() {
        bail!(
            "{} problem(s) in the configuration:\n  {}",
            problems.len(),
            problems.join("\n  ")
        );
    }
    let ours = vars.iter().filter(|(k, _)| is_config_var(k)).count();
    println!(
        "configuration ok ({}, {ours} {ENV_PREFIX} variable(s))",
        config.map_or("built-in defaults".to_owned(), |p| p.display().to_string())
    );
    Ok(())
}

/// KEY=VALUE lines: blank lines and `#` comments skipped, an `export `
/// prefix allowed, a value in single quotes taken as is, in double quotes
/// with `\n`, `\"` and `\\` escapes (as docker compose reads env files).
fn parse_env_file(text: &str) -> anyhow::Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        out.push(split_var(line).with_context(|| format!("line {}", n + 1))?);
    }
    Ok(out)
}

fn split_var(kv: &str) -> anyhow::Result<(String, String)> {
    let Some((k, v)) = kv.split_once('=') else {
        bail!("not KEY=VALUE");
    };
    let k = k.trim();
    if k.is_empty() || k.contains(char::is_whitespace) {
        bail!("`{k}` is not a variable name");
    }
    let v = v.trim();
    let v = if let Some(inner) = v.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')) {
        inner.to_owned()
    } else if let Some(inner) = v.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
        let mut s = String::with_capacity(inner.len());
        let mut chars = inner.chars();
        while let Some(c) = chars.next() {
            match (c, c == '\\') {
                (_, true) => match chars.next() {
                    Some('n') => s.push('\n'),
                    Some(other) => s.push(other),
                    None => s.push('\\'),
                },
                (c, false) => s.push(c),
            }
        }
        s
    } else {
        v.to_owned()
    };
    Ok((k.to_owned(), v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_files_read_as_docker_compose_reads_them() {
        let text = "# a comment\n\nA=1\nexport B = two words \nC='x\\ny'\nD=\"p\\nq\\\"r\"\nE=\n";
        let got = parse_env_file(text).unwrap();
        let want = [
            ("A", "1"),
            ("B", "two words"),
            ("C", "x\\ny"),
            ("D", "p\nq\"r"),
            ("E", ""),
        ];
        assert_eq!(
            got,
            want.map(|(k, v)| (k.to_owned(), v.to_owned())).to_vec()
        );
        assert!(parse_env_file("no equals sign").is_err());
        assert!(parse_env_file("=value").is_err());
    }
}

//! skynet-style configuration: a Lua chunk of `key = value` lines.
//!
//! As in skynet, the file is Lua syntax, `include "file"` pulls in another file (relative to the
//! including one), and `$NAME` is replaced by the environment variable NAME before the chunk is
//! parsed. Every key becomes a string readable with `skynet.getenv`. Parsing runs in a throwaway
//! Lua state with nothing but `include` in scope.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, anyhow, bail};
use mlua::{Lua, Table, Value};

/// A parsed config: every key as a string.
#[derive(Debug, Default, Clone)]
pub(crate) struct Config {
    pub(crate) values: HashMap<String, String>,
}

impl Config {
    pub(crate) fn load(path: &Path) -> anyhow::Result<Config> {
        Config::load_in(&Lua::new(), path)
    }

    /// As [`Config::load`], in a state of the caller's (the fuzz target's, with limits set).
    pub(crate) fn load_in(lua: &Lua, path: &Path) -> anyhow::Result<Config> {
        let result = lua.create_table()?;
        include(lua, &result, path, 0)?;
        result.set_metatable(None)?;
        let mut values = HashMap::new();
        for pair in result.pairs::<Value, Value>() {
            let (key, value) = pair?;
            let Value::String(key) = key else {
                bail!("{}: config keys must be names", path.display());
            };
            let key = key.to_str()?.to_string();
            let text = match value {
                Value::String(s) => s.to_str()?.to_string(),
                Value::Integer(i) => i.to_string(),
                Value::Number(f) => f.to_string(),
                Value::Boolean(b) => b.to_string(),
                other => bail!(
                    "{}: key '{key}' has a {} value; only strings, numbers and booleans are allowed",
                    path.display(),
                    other.type_name()
                ),
            };
            values.insert(key, text);
        }
        Ok(Config { values })
    }

    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.values.get(key).map(String::as_str)
    }

    pub(crate) fn set(&mut self, key: &str, value: impl Into<String>) {
        self.values.insert(key.to_string(), value.into());
    }

    /// Integer key with a default; a malformed number is an error naming the key.
    pub(crate) fn int(&self, key: &str, default: i64) -> anyhow::Result<i64> {
        match self.get(key) {
            None => Ok(default),
            Some(text) => text
                .trim()
                .parse()
                .map_err(|_| anyhow!("config key '{key}' must be an integer, got '{text}'")),
        }
    }
}

/// The first of `patterns` (`;`-separated, `?` replaced by `name`) that names a file.
pub(crate) fn find_on_patterns(patterns: &str, name: &str) -> Option<PathBuf> {
    if name.is_empty() {
        return None;
    }
    patterns
        .split(';')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| PathBuf::from(p.replace('?', name)))
        .find(|p| p.is_file())
}

const MAX_INCLUDE_DEPTH: usize = 16;

fn include(lua: &Lua, result: &Table, path: &Path, depth: usize) -> anyhow::Result<()> {
    if depth > MAX_INCLUDE_DEPTH {
        bail!("{}: includes nested too deeply (a cycle?)", path.display());
    }
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read config {}", path.display()))?;
    let code = expand_env(&text).with_context(|| format!("config {}", path.display()))?;
    let dir: PathBuf = path.parent().map(Path::to_path_buf).unwrap_or_default();
    // Nested includes resolve against the including file's directory.
    let include_fn = {
        let result = result.clone();
        lua.create_function(move |lua, file: String| {
            let target = if Path::new(&file).is_absolute() { PathBuf::from(&file) } else { dir.join(&file) };
            include(lua, &result, &target, depth + 1).map_err(|e| mlua::Error::runtime(format!("{e:#}")))
        })?
    };
    // The chunk's globals are the result table itself, so later lines can read earlier keys;
    // `include` is visible through the metatable only and never becomes a key.
    let meta = lua.create_table()?;
    let index = lua.create_table()?;
    index.set("include", include_fn)?;
    meta.set("__index", index)?;
    result.set_metatable(Some(meta))?;
    let env = result.clone();
    lua.load(&code)
        .set_name(format!("@{}", path.display()))
        .set_environment(env)
        .exec()
        .map_err(|e| anyhow!("bad config {}: {}", path.display(), first_line(&e.to_string())))?;
    Ok(())
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or(text)
}

/// Replaces `$NAME` with the environment variable NAME; an unset variable is an error.
fn expand_env(text: &str) -> anyhow::Result<String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        let len = after.bytes().take_while(|b| b.is_ascii_alphanumeric() || *b == b'_').count();
        if len == 0 {
            out.push('$');
        } else {
            let name = &after[..len];
            let value =
                std::env::var(name).map_err(|_| anyhow!("environment variable ${name} is not set"))?;
            out.push_str(&value);
        }
        rest = &after[len..];
    }
    out.push_str(rest);
    Ok(out)
}

/// A non-negative integer (`1000000000`, `1e9`, `1_000_000`).
pub(crate) fn parse_count(text: &str) -> anyhow::Result<u64> {
    let t = text.trim().replace('_', "");
    if let Ok(n) = t.parse::<u64>() {
        return Ok(n);
    }
    match t.parse::<f64>() {
        Ok(f) if f >= 0.0 && f.fract() == 0.0 && f <= u64::MAX as f64 => Ok(f as u64),
        _ => Err(anyhow!("expected a non-negative integer")),
    }
}

/// A byte count with an optional binary suffix: `67108864`, `64M`, `64MiB`, `1G`, `512K`.
pub(crate) fn parse_bytes(text: &str) -> anyhow::Result<u64> {
    let t = text.trim();
    let split = t.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(t.len());
    let (number, suffix) = t.split_at(split);
    let unit: u64 = match suffix.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        other => bail!("unknown size suffix '{other}'"),
    };
    let n = parse_count(number)?;
    n.checked_mul(unit).ok_or_else(|| anyhow!("size too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("skybox-config-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn reads_keys_includes_and_env() {
        let d = dir("ok");
        // SAFETY: tests in this module are the only users of this variable name.
        unsafe { std::env::set_var("SKYBOX_TEST_ROOT", "/srv/game") };
        std::fs::write(d.join("common.cfg"), "thread = 4\nharbor = 0\n").unwrap();
        std::fs::write(
            d.join("main.cfg"),
            "include \"common.cfg\"\nroot = \"$SKYBOX_TEST_ROOT\"\nstart = \"main\" -- comment\nlua_path = root .. \"/?.lua\"\ndebug = true\n",
        )
        .unwrap();
        let c = Config::load(&d.join("main.cfg")).unwrap();
        assert_eq!(c.get("thread"), Some("4"));
        assert_eq!(c.get("root"), Some("/srv/game"));
        assert_eq!(c.get("lua_path"), Some("/srv/game/?.lua"));
        assert_eq!(c.get("debug"), Some("true"));
        assert_eq!(c.int("thread", 8).unwrap(), 4);
    }

    #[test]
    fn errors_name_the_problem() {
        let d = dir("bad");
        std::fs::write(d.join("syntax.cfg"), "thread = = 4\n").unwrap();
        let e = Config::load(&d.join("syntax.cfg")).unwrap_err().to_string();
        assert!(e.contains("syntax.cfg"), "{e}");
        std::fs::write(d.join("env.cfg"), "x = \"$SKYBOX_SURELY_UNSET_VAR\"\n").unwrap();
        let e = format!("{:#}", Config::load(&d.join("env.cfg")).unwrap_err());
        assert!(e.contains("SKYBOX_SURELY_UNSET_VAR"), "{e}");
        let e = format!("{:#}", Config::load(&d.join("missing.cfg")).unwrap_err());
        assert!(e.contains("cannot read config"), "{e}");
        std::fs::write(d.join("table.cfg"), "t = {}\n").unwrap();
        let e = format!("{:#}", Config::load(&d.join("table.cfg")).unwrap_err());
        assert!(e.contains("'t'"), "{e}");
        std::fs::write(d.join("num.cfg"), "thread = \"many\"\n").unwrap();
        assert!(Config::load(&d.join("num.cfg")).unwrap().int("thread", 8).is_err());
    }
}

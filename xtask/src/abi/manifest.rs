//! The reference manifests under `abi/`: what the ABI must be, written by hand from format.md
//! and c-api.md.
//!
//! A manifest is a small subset of TOML, read here without a TOML dependency: `[section]` and
//! `[struct.NAME]` headers, `key = value` lines whose values are integers, strings, one-line
//! arrays of strings or one-line inline tables of those, and `#` comments. Keys keep their file
//! order, which for struct fields is the declaration order the mismatch report relies on. The
//! file layout is described at the top of `abi/imagestruct-2.00.toml`.

use std::path::{Path, PathBuf};

/// One reference manifest.
#[derive(Debug, Clone)]
pub struct Manifest {
    /// Where it was read from.
    pub path: PathBuf,
    /// `default`, `writehistory` or `dao-compat`.
    pub variant: String,
    /// Macros a legacy header needs to describe this layout (`IMAGESTRUCT_WRITEHISTORY`, …).
    pub c_defines: Vec<String>,
    /// Plain C types and their size and alignment.
    pub types: Vec<TypeSpec>,
    /// The structs, in file order.
    pub structs: Vec<StructSpec>,
    /// The API functions with their legacy prototypes.
    pub functions: Vec<FunctionSpec>,
}

/// `sizeof` and `alignof` of a named C type.
#[derive(Debug, Clone)]
pub struct TypeSpec {
    pub name: String,
    pub size: u64,
    pub align: u64,
}

/// One struct: its size, alignment and fields in declaration order.
#[derive(Debug, Clone)]
pub struct StructSpec {
    pub name: String,
    pub size: u64,
    pub align: u64,
    pub fields: Vec<FieldSpec>,
}

/// One field, or one member of a union field (`path` = `"value.numl"`).
#[derive(Debug, Clone)]
pub struct FieldSpec {
    /// Member designator relative to the struct: `cnt0`, `value.numl`.
    pub path: String,
    /// From the start of the struct.
    pub offset: u64,
    pub size: u64,
    /// The C type, if it has a name a legacy header shares (anonymous unions have none).
    pub ctype: Option<String>,
    /// `padding = "shmim-private"`: bytes that are padding in the C struct (no C field, zero in
    /// legacy files) and that shmim's Rust layout names. Measured on the Rust side only; on the
    /// C side, the fields around it being at their offsets is what keeps it padding.
    pub shmim_private: bool,
}

impl FieldSpec {
    /// A member of a union field rather than a field of the struct itself.
    pub fn is_member(&self) -> bool {
        self.path.contains('.')
    }
}

/// One API function.
#[derive(Debug, Clone)]
pub struct FunctionSpec {
    pub name: String,
    /// A C function type, e.g. `errno_t (IMAGE *, const char *)`.
    pub prototype: String,
}

impl Manifest {
    /// Reads and checks the manifest at `path`.
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        Self::parse(path, &text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Parses manifest text; errors name the line (`line 12: …`) when they are about one.
    pub fn parse(path: &Path, text: &str) -> Result<Self, String> {
        let mut m = Manifest {
            path: path.to_path_buf(),
            variant: String::new(),
            c_defines: Vec::new(),
            types: Vec::new(),
            structs: Vec::new(),
            functions: Vec::new(),
        };
        let mut section = String::new();
        for (i, raw) in text.lines().enumerate() {
            let line_no = i + 1;
            let at = |e: String| format!("line {line_no}: {e}");
            let line = strip_comment(raw).trim();
            if line.is_empty() {
                continue;
            }
            if let Some(header) = line.strip_prefix('[') {
                let name = header
                    .strip_suffix(']')
                    .ok_or_else(|| at("unterminated section header".into()))?;
                section = name.trim().to_string();
                if let Some(s) = section.strip_prefix("struct.") {
                    m.structs.push(StructSpec {
                        name: s.to_string(),
                        size: 0,
                        align: 0,
                        fields: Vec::new(),
                    });
                } else if !["abi", "types", "functions"].contains(&section.as_str()) {
                    return Err(at(format!("unknown section [{section}]")));
                }
                continue;
            }
            let mut p = Cursor::new(line);
            let key = p.key().map_err(at)?;
            p.expect('=').map_err(at)?;
            let value = p.value().map_err(at)?;
            p.end().map_err(at)?;
            m.entry(&section, key, value).map_err(at)?;
        }
        m.check()?;
        Ok(m)
    }

    fn entry(&mut self, section: &str, key: String, value: Value) -> Result<(), String> {
        match section {
            "abi" => match key.as_str() {
                "version" => {
                    value.string()?;
                }
                "variant" => self.variant = value.string()?,
                "c_defines" => self.c_defines = value.strings()?,
                _ => return Err(format!("unknown key `{key}` in [abi]")),
            },
            "types" => {
                let t = value.table()?;
                self.types.push(TypeSpec {
                    name: key,
                    size: lookup_int(&t, "size")?,
                    align: lookup_int(&t, "align")?,
                });
            }
            "functions" => self.functions.push(FunctionSpec {
                name: key,
                prototype: value.string()?,
            }),
            _ => {
                let s = self.structs.last_mut().ok_or("a key outside any section")?;
                match key.as_str() {
                    "sizeof" => s.size = value.int()?,
                    "alignof" => s.align = value.int()?,
                    _ => {
                        let t = value.table()?;
                        let ctype = match t.iter().find(|(k, _)| k == "type") {
                            Some((_, v)) => Some(v.string()?),
                            None => None,
                        };
                        let shmim_private = match t.iter().find(|(k, _)| k == "padding") {
                            Some((_, v)) if v.string()? == "shmim-private" => true,
                            Some(_) => return Err("`padding` can only be \"shmim-private\"".into()),
                            None => false,
                        };
                        s.fields.push(FieldSpec {
                            path: key,
                            offset: lookup_int(&t, "offset")?,
                            size: lookup_int(&t, "size")?,
                            ctype,
                            shmim_private,
                        });
                    }
                }
            }
        }
        Ok(())
    }

    /// Internal consistency of a hand-written manifest: fields inside their struct, in
    /// declaration order without overlap, union members inside their union.
    fn check(&self) -> Result<(), String> {
        if self.variant.is_empty() {
            return Err("[abi] variant is missing".into());
        }
        for s in &self.structs {
            if s.size == 0 || s.align == 0 {
                return Err(format!("[struct.{}] needs sizeof and alignof", s.name));
            }
            let mut end = 0;
            let mut union: Option<&FieldSpec> = None;
            for f in &s.fields {
                let name = format!("{}.{}", s.name, f.path);
                if f.offset + f.size > s.size {
                    return Err(format!("{name} ends past sizeof {}", s.size));
                }
                if f.is_member() {
                    let u = union
                        .filter(|u| f.path.starts_with(&format!("{}.", u.path)))
                        .ok_or(format!("{name} does not follow its union"))?;
                    if f.offset < u.offset || f.offset + f.size > u.offset + u.size {
                        return Err(format!("{name} lies outside {}", u.path));
                    }
                    continue;
                }
                if f.offset < end {
                    return Err(format!("{name} overlaps the field before it"));
                }
                end = f.offset + f.size;
                union = (f.ctype.is_none() && !f.shmim_private).then_some(f);
            }
        }
        Ok(())
    }

    /// The struct named `name`.
    pub fn find_struct(&self, name: &str) -> Option<&StructSpec> {
        self.structs.iter().find(|s| s.name == name)
    }
}

fn lookup_int(t: &[(String, Value)], key: &str) -> Result<u64, String> {
    t.iter()
        .find(|(k, _)| k == key)
        .ok_or(format!("`{key}` is missing"))?
        .1
        .int()
}

/// A value of the TOML subset.
#[derive(Debug, Clone)]
enum Value {
    Int(u64),
    Str(String),
    Array(Vec<Value>),
    Table(Vec<(String, Value)>),
}

impl Value {
    fn int(&self) -> Result<u64, String> {
        match self {
            Value::Int(n) => Ok(*n),
            other => Err(format!("expected an integer, found {other:?}")),
        }
    }
    fn string(&self) -> Result<String, String> {
        match self {
            Value::Str(s) => Ok(s.clone()),
            other => Err(format!("expected a string, found {other:?}")),
        }
    }
    fn strings(&self) -> Result<Vec<String>, String> {
        match self {
            Value::Array(a) => a.iter().map(Value::string).collect(),
            other => Err(format!("expected an array of strings, found {other:?}")),
        }
    }
    fn table(self) -> Result<Vec<(String, Value)>, String> {
        match self {
            Value::Table(t) => Ok(t),
            other => Err(format!("expected an inline table, found {other:?}")),
        }
    }
}

/// `#` starts a comment unless it is inside a string.
fn strip_comment(line: &str) -> &str {
    let mut in_string = false;
    let mut escaped = false;
    for (i, c) in line.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if in_string => escaped = true,
            '"' => in_string = !in_string,
            '#' if !in_string => return &line[..i],
            _ => {}
        }
    }
    line
}

/// A cursor over one line.
struct Cursor<'a> {
    rest: &'a str,
}

impl<'a> Cursor<'a> {
    fn new(line: &'a str) -> Self {
        Cursor { rest: line }
    }

    fn skip_ws(&mut self) {
        self.rest = self.rest.trim_start();
    }

    fn peek(&mut self) -> Option<char> {
        self.skip_ws();
        self.rest.chars().next()
    }

    fn expect(&mut self, c: char) -> Result<(), String> {
        if self.peek() == Some(c) {
            self.rest = &self.rest[1..];
            Ok(())
        } else {
            Err(format!("expected `{c}` at `{}`", self.rest))
        }
    }

    fn end(&mut self) -> Result<(), String> {
        match self.peek() {
            None => Ok(()),
            Some(_) => Err(format!("unexpected `{}`", self.rest)),
        }
    }

    /// A bare key (`[A-Za-z0-9_-]+`) or a quoted one.
    fn key(&mut self) -> Result<String, String> {
        if self.peek() == Some('"') {
            return self.string();
        }
        let n = self
            .rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
            .unwrap_or(self.rest.len());
        if n == 0 {
            return Err(format!("expected a key at `{}`", self.rest));
        }
        let key = self.rest[..n].to_string();
        self.rest = &self.rest[n..];
        Ok(key)
    }

    /// A basic string with `\"` and `\\` escapes.
    fn string(&mut self) -> Result<String, String> {
        self.expect('"')?;
        let mut out = String::new();
        let mut chars = self.rest.char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '"' => {
                    self.rest = &self.rest[i + 1..];
                    return Ok(out);
                }
                '\\' => match chars.next() {
                    Some((_, e @ ('"' | '\\'))) => out.push(e),
                    _ => return Err("only \\\" and \\\\ escapes are supported".into()),
                },
                c => out.push(c),
            }
        }
        Err("unterminated string".into())
    }

    fn value(&mut self) -> Result<Value, String> {
        match self.peek() {
            Some('"') => self.string().map(Value::Str),
            Some('[') => {
                self.expect('[')?;
                let mut items = Vec::new();
                while self.peek() != Some(']') {
                    items.push(self.value()?);
                    if self.peek() == Some(',') {
                        self.expect(',')?;
                    }
                }
                self.expect(']')?;
                Ok(Value::Array(items))
            }
            Some('{') => {
                self.expect('{')?;
                let mut items = Vec::new();
                while self.peek() != Some('}') {
                    let k = self.key()?;
                    self.expect('=')?;
                    items.push((k, self.value()?));
                    if self.peek() == Some(',') {
                        self.expect(',')?;
                    }
                }
                self.expect('}')?;
                Ok(Value::Table(items))
            }
            Some(c) if c.is_ascii_digit() => {
                let n = self
                    .rest
                    .find(|c: char| !(c.is_ascii_digit() || c == '_'))
                    .unwrap_or(self.rest.len());
                let digits: String = self.rest[..n].chars().filter(|&c| c != '_').collect();
                self.rest = &self.rest[n..];
                digits.parse().map(Value::Int).map_err(|e| e.to_string())
            }
            _ => Err(format!("expected a value at `{}`", self.rest)),
        }
    }
}

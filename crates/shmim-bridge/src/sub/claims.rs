//! Local names taken by keys: one mirror, one key.
//!
//! `sub 'lab/**'` can see two keys ending in the same name (`labA/cam`, `labB/cam`). Both would
//! mirror into `cam`, each re-creating it or writing into a file the other replaced. The first
//! key to get a description claims the name; the other is refused with a log line naming the
//! key that has it (mirror it with its own `sub KEY --as NAME`). The claim goes with the key's
//! worker. Across processes, the mirror's mark does the same job (it names its key).

use std::collections::HashMap;
use std::sync::Mutex;

/// The local names claimed in one subscriber.
#[derive(Debug, Default)]
pub struct Claims(Mutex<HashMap<String, String>>);

impl Claims {
    /// Claims `name` for `key`; `Err(other key)` if another key has it.
    pub fn claim(&self, name: &str, key: &str) -> Result<(), String> {
        let mut m = self.0.lock().unwrap_or_else(|p| p.into_inner());
        match m.get(name) {
            Some(k) if k != key => Err(k.clone()),
            Some(_) => Ok(()),
            None => {
                m.insert(name.to_owned(), key.to_owned());
                Ok(())
            }
        }
    }

    /// Gives `name` back, if `key` has it.
    pub fn release(&self, name: &str, key: &str) {
        let mut m = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if m.get(name).is_some_and(|k| k == key) {
            m.remove(name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_belongs_to_the_first_key_until_it_gives_it_back() {
        let c = Claims::default();
        assert_eq!(c.claim("cam", "labA/cam"), Ok(()));
        assert_eq!(c.claim("cam", "labA/cam"), Ok(()));
        assert_eq!(c.claim("cam", "labB/cam"), Err("labA/cam".into()));
        c.release("cam", "labB/cam");
        assert!(
            c.claim("cam", "labB/cam").is_err(),
            "only the holder gives it back"
        );
        c.release("cam", "labA/cam");
        assert_eq!(c.claim("cam", "labB/cam"), Ok(()));
    }
}

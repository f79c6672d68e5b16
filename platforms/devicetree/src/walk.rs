//! Visiting every node: for tools that look at a whole tree (the `cargo xtask new-board`
//! scaffolder looks for UARTs, CPUs and the root's `compatible`). The firmware itself reads
//! only the nodes it needs (`discover`).

use heapless::String;

use crate::discover::MAX_PATH;
use crate::tree::{children, first_str, is_available, name, prop, Node};
use crate::{DeviceTree, DtError};

/// One node met by [`DeviceTree::walk`].
pub struct WalkNode<'n, 'a> {
    /// Absolute path (`/soc/serial@7e201000`); `/` for the root.
    pub path: &'n str,
    /// 0 for the root.
    pub depth: usize,
    node: &'n Node<'a>,
}

impl<'a> WalkNode<'_, 'a> {
    /// Raw value of property `p`.
    ///
    /// # Errors
    /// The structure block cannot be parsed here.
    pub fn prop(&self, p: &str) -> Result<Option<&'a [u8]>, DtError> {
        prop(self.node, p)
    }

    /// The first string of property `p`.
    ///
    /// # Errors
    /// As [`Self::prop`].
    pub fn str_prop(&self, p: &str) -> Result<Option<&'a str>, DtError> {
        Ok(self.prop(p)?.and_then(first_str))
    }

    /// Every string of a string-list property (`compatible`), skipping non-UTF-8 entries.
    ///
    /// # Errors
    /// As [`Self::prop`].
    pub fn strings(&self, p: &str) -> Result<impl Iterator<Item = &'a str>, DtError> {
        let v = self.prop(p)?.unwrap_or(&[]);
        Ok(v.split(|&c| c == 0).filter(|s| !s.is_empty()).filter_map(|s| core::str::from_utf8(s).ok()))
    }

    /// Linux `of_device_is_available`: no `status`, or `okay`/`ok`.
    ///
    /// # Errors
    /// As [`Self::prop`].
    pub fn available(&self) -> Result<bool, DtError> {
        is_available(self.node)
    }
}

impl DeviceTree<'_> {
    /// Calls `f` on every node, parents before children, in node order. Subtrees whose path
    /// would exceed [`MAX_PATH`] bytes are skipped (depth is bounded by validation).
    ///
    /// # Errors
    /// The first parser error, or the first error `f` returns.
    pub fn walk(&self, f: &mut dyn FnMut(&WalkNode<'_, '_>) -> Result<(), DtError>) -> Result<(), DtError> {
        let root = self.root()?;
        let mut path: String<MAX_PATH> = String::new();
        let _ = path.push('/');
        f(&WalkNode { path: &path, depth: 0, node: &root })?;
        path.clear();
        walk_children(&root, &mut path, 1, f)
    }
}

fn walk_children(
    node: &Node<'_>,
    path: &mut String<MAX_PATH>,
    depth: usize,
    f: &mut dyn FnMut(&WalkNode<'_, '_>) -> Result<(), DtError>,
) -> Result<(), DtError> {
    for c in children(node)? {
        let c = c?;
        let len = path.len();
        let cname = name(&c)?;
        if path.push('/').is_ok() && core::fmt::write(path, format_args!("{cname}")).is_ok() {
            f(&WalkNode { path, depth, node: &c })?;
            walk_children(&c, path, depth + 1, f)?;
        }
        path.truncate(len);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    extern crate std;
    use std::vec::Vec;

    use crate::DeviceTree;

    fn blob(name: &str) -> Vec<u8> {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/testdata/dtb").join(name);
        std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    }

    #[test]
    fn walks_every_node_parents_first() {
        let b = blob("arm64__broadcom__bcm2837-rpi-3-b.dtb");
        let dt = DeviceTree::new(&b).unwrap();
        let mut seen: Vec<(std::string::String, usize, Option<std::string::String>, bool)> = Vec::new();
        dt.walk(&mut |n| {
            let compat = n.strings("compatible")?.next().map(std::string::String::from);
            seen.push((n.path.into(), n.depth, compat, n.available()?));
            Ok(())
        })
        .unwrap();
        assert_eq!(seen[0].0, "/");
        assert_eq!(seen[0].2.as_deref(), Some("raspberrypi,3-model-b"));
        let pl011 = seen.iter().find(|s| s.0 == "/soc/serial@7e201000").expect("the PL011");
        assert_eq!((pl011.1, pl011.2.as_deref(), pl011.3), (2, Some("arm,pl011"), true));
        let cpus: Vec<_> = seen.iter().filter(|s| s.0.starts_with("/cpus/cpu@")).collect();
        assert_eq!(cpus.len(), 4);
        // Every node's parent came before it.
        for (i, s) in seen.iter().enumerate().skip(1) {
            let parent = s.0.rsplit_once('/').map(|(p, _)| if p.is_empty() { "/" } else { p }).unwrap();
            assert!(seen[..i].iter().any(|p| p.0 == parent), "{} before its parent", s.0);
        }
    }

    #[test]
    fn an_error_from_the_visitor_stops_the_walk() {
        let b = blob("qemu__aarch64-virt-1G.dtb");
        let dt = DeviceTree::new(&b).unwrap();
        let mut n = 0;
        let r = dt.walk(&mut |_| {
            n += 1;
            if n == 3 { Err(crate::DtError::Parser { what: "stop" }) } else { Ok(()) }
        });
        assert!(r.is_err());
        assert_eq!(n, 3);
    }
}

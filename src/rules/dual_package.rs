//! `duplicate-module/dual-package`: one package reached through both `import` and `require`,
//! where the two conditions resolve to different files (the dual package hazard).
//!
//! Node loads the ESM entry for `import` and the CommonJS entry for `require`: two instances of
//! the package with separate state. Silent when one entry loads the other (a thin ESM wrapper
//! around the CommonJS build), and when the import side's format is not certain (a TS file that
//! may be compiled to `require`).

use std::hash::Hash;
use std::path::PathBuf;

use rustc_hash::FxHashMap;

use super::{Rule, RuleContext, RuleMeta, ScanDigest};
use crate::diagnostic::{Diagnostic, Severity};
use crate::extract::ImportSite;
use crate::extract::{ImportKind, Span};
use crate::graph::{Edge, FileId, FormatCertainty, Module, ModuleFormat};
use crate::resolve::is_path_specifier;

pub struct DualPackage;

/// Related locations listed per diagnostic: every site of a widely used package would make the
/// output grow with the square of its import sites.
const MAX_RELATED: usize = 8;

static META: RuleMeta = RuleMeta {
    code: "duplicate-module/dual-package",
    default_severity: Some(Severity::Warning),
    summary: "A package loaded through both its ESM and its CommonJS entry: two instances.",
};

/// An import of a package as scanned: importer, index among its package imports, resolved file.
type SideEntry = (FileId, usize, FileId);

/// The package imports of every loaded module, by specifier and side (ESM first, CommonJS
/// second). Reads only what [`DualPackage::scan_digest`] covers, the format and the path.
#[derive(Default)]
struct PackageImports {
    by_specifier: FxHashMap<String, [Vec<SideEntry>; 2]>,
}

impl PackageImports {
    fn build(ctx: &RuleContext) -> Self {
        let mut imports = Self::default();
        for (importer, module) in ctx.scan() {
            imports.add(ctx, importer, module);
        }
        imports
    }

    fn add(&mut self, ctx: &RuleContext, importer: FileId, module: &Module) {
        for (specifier, side, entry) in side_entries(ctx, importer, module) {
            match self.by_specifier.get_mut(specifier) {
                Some(sides) => sides[side].push(entry),
                None => {
                    let mut sides: [Vec<SideEntry>; 2] = Default::default();
                    sides[side].push(entry);
                    self.by_specifier.insert(specifier.to_string(), sides);
                }
            }
        }
    }

    fn remove(&mut self, ctx: &RuleContext, importer: FileId, module: &Module) {
        for (specifier, side, _) in side_entries(ctx, importer, module) {
            if let Some(sides) = self.by_specifier.get_mut(specifier) {
                sides[side].retain(|e| e.0 != importer);
                if sides.iter().all(Vec::is_empty) {
                    self.by_specifier.remove(specifier);
                }
            }
        }
    }

    /// Specifiers imported on both sides that resolve to more than one file: the only ones that
    /// can be a hazard.
    fn two_sided(&self) -> impl Iterator<Item = (&str, &[Vec<SideEntry>; 2])> {
        self.by_specifier
            .iter()
            .filter(|(_, [import, require])| {
                // One file for both conditions: one instance, whatever the package folders.
                import.first().is_some_and(|&(_, _, first)| {
                    !require.is_empty() && !import.iter().chain(require).all(|e| e.2 == first)
                })
            })
            .map(|(specifier, sides)| (specifier.as_str(), sides))
    }
}

/// The package imports of one module that load a file: (specifier, side, entry).
fn side_entries<'m>(
    ctx: &RuleContext,
    importer: FileId,
    module: &'m Module,
) -> impl Iterator<Item = (&'m str, usize, SideEntry)> {
    let importer_is_esm =
        module.format == ModuleFormat::Esm && module.certainty == FormatCertainty::Certain;
    // `import()` uses the import conditions in any JavaScript file; TypeScript may compile it
    // (and static imports) to `require`, so TS files count only when ESM.
    let dynamic_is_import = !crate::resolve::is_typescript_file(ctx.path(importer));
    package_edges(module)
        .enumerate()
        .filter_map(move |(index, (edge, site))| {
            let target = edge.target.module()?;
            let side = match site.kind {
                ImportKind::Require | ImportKind::TsImportEquals => 1,
                ImportKind::Dynamic if importer_is_esm || dynamic_is_import => 0,
                ImportKind::Static | ImportKind::ReExport if importer_is_esm => 0,
                _ => return None,
            };
            Some((site.specifier.as_str(), side, (importer, index, target)))
        })
}

/// The files one side of a specifier resolves to in one package folder.
#[derive(Default, Clone, Copy)]
enum Targets {
    #[default]
    None,
    One(FileId),
    Many,
}

impl Targets {
    fn add(&mut self, target: FileId) {
        *self = match *self {
            Targets::None => Targets::One(target),
            Targets::One(one) if one == target => Targets::One(one),
            _ => Targets::Many,
        };
    }

    /// Whether the first import and the first require left after any filtering can be two
    /// files: not when both sides only ever load the same one.
    fn may_differ(import: &Targets, require: &Targets) -> bool {
        match (import, require) {
            (Targets::None, _) | (_, Targets::None) => false,
            (Targets::One(a), Targets::One(b)) => a != b,
            _ => true,
        }
    }
}

#[derive(Default)]
struct Sides {
    /// (importer, index among its package imports, resolved file)
    import: Vec<SideEntry>,
    require: Vec<SideEntry>,
}

impl Rule for DualPackage {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn scan_digest(&self, module: &Module, digest: &mut ScanDigest) {
        for (edge, site) in package_edges(module) {
            site.kind.hash(digest);
            site.specifier.hash(digest);
            edge.target.hash(digest);
        }
    }

    fn check_graph(&self, ctx: &RuleContext, out: &mut Vec<Diagnostic>) {
        let imports = ctx.scan_memo_updated(
            || PackageImports::build(ctx),
            |imports, change| {
                if let Some(before) = &change.before {
                    imports.remove(ctx, change.id, before);
                }
                if let Some(now) = ctx.scan_module(change.id) {
                    imports.add(ctx, change.id, now);
                }
                true
            },
        );
        // (package folder, specifier) → the two sides, from importers Node evaluates. Folders
        // are numbered once per resolved file: building paths per import site costs more than
        // the rest of the rule. The runner sorts the output.
        let mut folder_of: FxHashMap<FileId, Option<usize>> = FxHashMap::default();
        let mut folders: Vec<PathBuf> = Vec::new();
        let mut folder_numbers: FxHashMap<PathBuf, usize> = FxHashMap::default();
        let mut by_entry: FxHashMap<(usize, &str), Sides> = FxHashMap::default();
        let mut reached = Reached::default();
        let mut folder_of_target = |target: FileId| {
            *folder_of.entry(target).or_insert_with(|| {
                let dir = ctx.package_root(target)?.dir;
                let next = folders.len();
                Some(*folder_numbers.entry(dir.clone()).or_insert_with(|| {
                    folders.push(dir);
                    next
                }))
            })
        };
        for (specifier, sides) in imports.two_sided() {
            // Whether a folder can load two files depends on no importer: one file for both
            // sides there (a nested copy imported both ways) is one instance, so its sites need
            // no walk to find whether Node evaluates them.
            let mut targets: FxHashMap<usize, [Targets; 2]> = FxHashMap::default();
            for (side, entries) in sides.iter().enumerate() {
                for &(_, _, target) in entries {
                    if let Some(folder) = folder_of_target(target) {
                        targets.entry(folder).or_default()[side].add(target);
                    }
                }
            }
            for (side, entries) in sides.iter().enumerate() {
                let mut entries: Vec<(FileId, usize, FileId, usize)> = entries
                    .iter()
                    .filter_map(|&(importer, index, target)| {
                        let folder = folder_of_target(target)?;
                        let [import, require] = targets.get(&folder)?;
                        Targets::may_differ(import, require)
                            .then_some((importer, index, target, folder))
                    })
                    .filter(|(importer, ..)| reached.check(ctx, *importer))
                    .collect();
                entries.sort_by(|a, b| ctx.cmp_paths(a.0, b.0).then(a.1.cmp(&b.1)));
                for (importer, index, target, folder) in entries {
                    let sides = by_entry.entry((folder, specifier)).or_default();
                    let list = if side == 0 {
                        &mut sides.import
                    } else {
                        &mut sides.require
                    };
                    list.push((importer, index, target));
                }
            }
        }
        // Groups whose two sides load different files; each side gets a bit.
        let groups: Vec<(&PathBuf, &str, Sides, FileId, FileId)> = by_entry
            .into_iter()
            .filter_map(|((folder, specifier), sides)| {
                let dir = folders.get(folder)?;
                let esm = sides.import.first()?.2;
                let cjs = sides.require.first()?.2;
                (esm != cjs).then_some((dir, specifier, sides, esm, cjs))
            })
            .collect();
        if groups.is_empty() {
            return;
        }
        let mut loaded = SideBits::new(ctx, groups.len() * 2);
        for (k, (_, _, sides, _, _)) in groups.iter().enumerate() {
            for &(file, _, _) in &sides.import {
                loaded.seed(file, 2 * k);
            }
            for &(file, _, _) in &sides.require {
                loaded.seed(file, 2 * k + 1);
            }
        }
        let down = loaded.pass_up(ctx);
        // A site of one side is a hazard when a program that loads it also loads the other
        // side: a module evaluates (transitively) both. Unless one entry loads the other (a
        // wrapper): then there is one instance after all.
        let together = loaded.groups_evaluated_together();
        let wraps = |from: FileId, to: FileId| {
            ctx.dependency_closure(&[from], |_, s| s.is_runtime())
                .contains(&to)
        };
        let hazards: Vec<bool> = groups
            .iter()
            .enumerate()
            .map(|(k, &(_, _, _, esm, cjs))| {
                together[2 * k / 64] & (1 << (2 * k % 64)) != 0
                    && !wraps(esm, cjs)
                    && !wraps(cjs, esm)
            })
            .collect();
        if !hazards.contains(&true) {
            return;
        }
        loaded.pass_down(down);
        for (k, (dir, specifier, sides, esm, cjs)) in groups.into_iter().enumerate() {
            if !hazards[k] {
                continue;
            }
            let import_with_require = |f: FileId| loaded.has(f, 2 * k + 1);
            let require_with_import = |f: FileId| loaded.has(f, 2 * k);
            let name = crate::resolve::package_name_of(specifier)
                .unwrap_or(specifier)
                .to_string();
            let short = |f: FileId| {
                ctx.path(f)
                    .strip_prefix(dir)
                    .map(|p| p.display().to_string())
                    .unwrap_or_else(|_| ctx.display(f))
            };
            let message = format!(
                "package '{name}' is loaded twice: `import '{specifier}'` resolves to {} and `require('{specifier}')` to {}; the two instances do not share state (dual package hazard).",
                short(esm),
                short(cjs)
            );
            // Positions are not part of the scan: read them from the modules now.
            let span_of = |f: FileId, index: usize| {
                ctx.scan_module(f)
                    .and_then(|m| package_edges(m).nth(index))
                    .map(|(_, site)| site.span)
            };
            let all: Vec<(FileId, Span, &str)> = sides
                .import
                .iter()
                .map(|&(f, i, _)| (f, i, "imported here (ESM entry)"))
                .chain(
                    sides
                        .require
                        .iter()
                        .map(|&(f, i, _)| (f, i, "required here (CommonJS entry)")),
                )
                .filter_map(|(f, i, what)| Some((f, span_of(f, i)?, what)))
                .collect();
            for &(file, span, what) in &all {
                if !ctx.is_workspace(file) {
                    continue;
                }
                // This site is a hazard only in a program that also loads the other entry.
                let is_import = what.starts_with("imported");
                let loaded_with_other_side = |f: FileId, import_site: bool| {
                    if import_site {
                        import_with_require(f)
                    } else {
                        require_with_import(f)
                    }
                };
                if !loaded_with_other_side(file, is_import) {
                    continue;
                }
                let mut diagnostic =
                    ctx.diagnostic(META.code, Severity::Warning, file, span, message.clone());
                let mut hidden = 0usize;
                for &(other, other_span, other_what) in &all {
                    // Sites of either side that a program loading both sides loads.
                    let together =
                        loaded_with_other_side(other, other_what.starts_with("imported"));
                    if (other, other_span) != (file, span) && together {
                        if diagnostic.related.len() == MAX_RELATED {
                            hidden += 1;
                            continue;
                        }
                        diagnostic.related.push(ctx.related(
                            other,
                            other_span,
                            other_what.to_string(),
                        ));
                    }
                }
                if hidden > 0 {
                    diagnostic.message.push_str(&format!(
                        " ({hidden} more import and require sites of '{name}' are not listed)"
                    ));
                }
                out.push(diagnostic);
            }
        }
    }
}

/// Runtime imports of packages by name (not paths, not `#imports`): the sites this rule scans.
fn package_edges(module: &Module) -> impl Iterator<Item = (&Edge, &ImportSite)> {
    module
        .runtime_edges()
        .filter(|(_, site)| !is_path_specifier(&site.specifier) && !site.specifier.starts_with('#'))
}

/// A set of bits per module (one bit per side of each group), for the modules that evaluate
/// (transitively) an import site of some side. Computing all sides in one pass over those
/// modules, instead of two ancestor walks per package, makes the rule cost about one walk.
struct SideBits<'a> {
    words: usize,
    /// `FileId` index → slot, `u32::MAX` for none: a table, as every step looks one up.
    slot_of: Vec<u32>,
    modules: Vec<FileId>,
    /// The runtime importers of each slot's module, read once.
    importers: Vec<Option<&'a [FileId]>>,
    bits: Vec<u64>,
}

impl<'a> SideBits<'a> {
    fn new(ctx: &RuleContext<'a>, sides: usize) -> Self {
        Self {
            words: sides.div_ceil(64),
            slot_of: vec![u32::MAX; ctx.id_bound()],
            modules: Vec::new(),
            importers: Vec::new(),
            bits: Vec::new(),
        }
    }

    fn slot(&mut self, id: FileId) -> usize {
        match self.slot_of.get(id.index()) {
            Some(&slot) if slot != u32::MAX => slot as usize,
            _ => {
                let slot = self.modules.len();
                if let Some(entry) = self.slot_of.get_mut(id.index()) {
                    *entry = slot as u32;
                }
                self.modules.push(id);
                self.importers.push(None);
                self.bits.extend(std::iter::repeat_n(0, self.words));
                slot
            }
        }
    }

    fn seed(&mut self, id: FileId, bit: usize) {
        let slot = self.slot(id);
        self.bits[slot * self.words + bit / 64] |= 1 << (bit % 64);
    }

    fn has(&self, id: FileId, bit: usize) -> bool {
        self.slot_of
            .get(id.index())
            .filter(|slot| **slot != u32::MAX)
            .is_some_and(|&slot| {
                self.bits[slot as usize * self.words + bit / 64] & (1 << (bit % 64)) != 0
            })
    }

    /// ORs the bits of `from` into `to`; whether `to` gained any.
    fn merge(&mut self, from: usize, to: usize) -> bool {
        let mut gained = false;
        for w in 0..self.words {
            let bits = self.bits[from * self.words + w];
            let old = self.bits[to * self.words + w];
            if old | bits != old {
                self.bits[to * self.words + w] = old | bits;
                gained = true;
            }
        }
        gained
    }

    /// From the seeded sites, up: every module gets the sides of what it evaluates (it is an
    /// ancestor of them). Returns the runtime edges between modules with bits, as (importer
    /// slot, imported slot), for [`Self::pass_down`].
    ///
    /// Both passes read importer lists only, never a module's edges: the edges between modules
    /// with bits are the ones this pass saw. So an edit that adds or removes an import of a
    /// module that leads to no site leaves the result standing without a run.
    fn pass_up(&mut self, ctx: &RuleContext<'a>) -> Vec<(u32, u32)> {
        let mut down: Vec<(u32, u32)> = Vec::new();
        let mut queue: std::collections::VecDeque<usize> = (0..self.modules.len()).collect();
        let mut queued: Vec<bool> = vec![true; self.modules.len()];
        while let Some(slot) = queue.pop_front() {
            queued[slot] = false;
            let importers = match self.importers[slot] {
                Some(known) => known,
                None => {
                    let read = ctx.runtime_importers(self.modules[slot]);
                    self.importers[slot] = Some(read);
                    for &importer in read {
                        let to = self.slot(importer);
                        down.push((to as u32, slot as u32));
                    }
                    read
                }
            };
            for &importer in importers {
                let to = self.slot(importer);
                if to >= queued.len() {
                    queued.resize(to + 1, false);
                }
                if self.merge(slot, to) && !queued[to] {
                    queued[to] = true;
                    queue.push_back(to);
                }
            }
        }
        down
    }

    /// The groups (bit pairs `2k`, `2k + 1`) whose two sides some module evaluates together.
    /// After [`Self::pass_up`], a site of one side is loaded with the other side exactly when
    /// such a module is above it: no such module, no hazard.
    fn groups_evaluated_together(&self) -> Vec<u64> {
        let mut together = vec![0u64; self.words];
        for chunk in self.bits.chunks_exact(self.words.max(1)) {
            for (word, bits) in together.iter_mut().zip(chunk) {
                // Bit `2k` set where both `2k` and `2k + 1` are.
                *word |= bits & (bits >> 1) & 0x5555_5555_5555_5555;
            }
        }
        together
    }

    /// Down the edges of [`Self::pass_up`]: every module gets the sides of its ancestors (a
    /// program that loads an ancestor loads both).
    fn pass_down(&mut self, mut down: Vec<(u32, u32)>) {
        // The edges grouped by importer: `down[start[s]..start[s + 1]]` are what `s` imports.
        down.sort_unstable();
        let mut start: Vec<usize> = Vec::with_capacity(self.modules.len() + 1);
        let mut at = 0;
        for slot in 0..=self.modules.len() {
            while down
                .get(at)
                .is_some_and(|&(from, _)| (from as usize) < slot)
            {
                at += 1;
            }
            start.push(at);
        }
        let mut queue: std::collections::VecDeque<usize> = (0..self.modules.len()).collect();
        let mut queued: Vec<bool> = vec![true; self.modules.len()];
        while let Some(slot) = queue.pop_front() {
            queued[slot] = false;
            for &(_, to) in &down[start[slot]..start[slot + 1]] {
                let to = to as usize;
                if self.merge(slot, to) && !queued[to] {
                    queued[to] = true;
                    queue.push_back(to);
                }
            }
        }
    }
}

/// Which importers Node evaluates when it runs the workspace, remembered across the walks of one
/// run: a walk that finds no workspace module proves the same for every module it visited.
#[derive(Default)]
struct Reached {
    known: FxHashMap<FileId, bool>,
}

impl Reached {
    fn check(&mut self, ctx: &RuleContext, id: FileId) -> bool {
        if let Some(known) = self.known.get(&id) {
            return *known;
        }
        // Most importers are workspace modules: no walk.
        if ctx.is_workspace(id) {
            self.known.insert(id, true);
            return true;
        }
        // Each module seen, with the module it was reached from: a found path is remembered
        // whole, so later walks stop where it passed.
        let mut from: FxHashMap<FileId, FileId> = FxHashMap::default();
        from.insert(id, id);
        let mut stack = vec![id];
        let mut found = None;
        while let Some(current) = stack.pop() {
            if self.known.get(&current) == Some(&true) || ctx.is_workspace(current) {
                found = Some(current);
                break;
            }
            for &importer in ctx.runtime_importers(current) {
                if self.known.get(&importer) != Some(&false) && !from.contains_key(&importer) {
                    from.insert(importer, current);
                    stack.push(importer);
                }
            }
        }
        match found {
            Some(mut on_path) => {
                while let Some(&next) = from.get(&on_path) {
                    self.known.insert(on_path, true);
                    if next == on_path {
                        break;
                    }
                    on_path = next;
                }
                true
            }
            None => {
                self.known.extend(from.into_keys().map(|m| (m, false)));
                false
            }
        }
    }
}

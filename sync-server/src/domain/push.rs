//! What the relay checks of the changes a device pushes, before it stores any of them: well
//! formed chunks, every change by the pushing device itself, and no merge recorded (only the
//! relay merges). Which documents the device may write at all is checked before, by
//! `acl::can_write` in the sync session.

use aisle_core::automerge::{self, ActorId, AutoCommit, ChangeHash};
use aisle_core::doc::{CustomerDoc, DocId, hydrate_doc};
use aisle_core::model::{CustomerId, MergedProfile};
use aisle_core::replicate::ChangeCheck;
use aisle_core::{CoreError, Result};
use std::collections::BTreeMap;

/// A push by one device, whose Automerge actor is `author`.
pub struct DevicePush<'a> {
    pub author: &'a ActorId,
}

/// A customer document's merge fields, which only the relay writes: a device that could set
/// them would fold one customer into another (their notes and purchases with them) without
/// being a manager of both.
type MergeFields = (
    Option<CustomerId>,
    BTreeMap<String, MergedProfile>,
    BTreeMap<String, Vec<String>>,
);

/// `None` when the document is not a whole customer (new here, or changes waiting for others):
/// nothing of it is projected, and the projection refuses it if it never becomes one.
fn merge_fields(doc: &AutoCommit, id: &DocId) -> Option<MergeFields> {
    let customer = hydrate_doc::<CustomerDoc>(doc, id).ok()?;
    Some((
        customer.merged_into,
        customer.merged_from,
        customer.folded_heads,
    ))
}

impl ChangeCheck for DevicePush<'_> {
    /// The merge fields as stored, for customer documents.
    type Before = Option<MergeFields>;

    fn before(&self, doc: &DocId, stored: &AutoCommit, changes: &[u8]) -> Result<Self::Before> {
        check_chunks(doc, changes)?;
        // Compared by value afterwards: a tablet writing to a profile made before these fields
        // existed adds them empty, which changes nothing. A document new here may only start
        // unmerged.
        Ok(
            matches!(doc, DocId::Customer(_))
                .then(|| merge_fields(stored, doc).unwrap_or_default()),
        )
    }

    fn after(
        &self,
        doc: &DocId,
        before: Self::Before,
        loaded: &mut AutoCommit,
        heads_before: &[ChangeHash],
    ) -> Result<()> {
        let foreign = loaded
            .get_changes(heads_before)
            .iter()
            .any(|c| c.actor_id() != self.author);
        if foreign {
            return Err(CoreError::invalid(
                "changes",
                &format!("for {doc} include changes by another device"),
            ));
        }
        if let Some(before) = before
            && merge_fields(loaded, doc).is_some_and(|after| after != before)
        {
            return Err(CoreError::invalid(
                "changes",
                &format!("for {doc} record a merge, which only the relay makes"),
            ));
        }
        Ok(())
    }
}

/// Refuses bytes that are not entirely well-formed Automerge chunks with valid checksums.
/// Automerge's incremental load skips a bad tail with only a log line; from an untrusted peer
/// that must be an error instead.
fn check_chunks(doc: &DocId, bytes: &[u8]) -> Result<()> {
    if bytes.is_empty() {
        return Ok(());
    }
    let loaded = automerge::Automerge::load_with_options(
        bytes,
        automerge::LoadOptions::new()
            .on_partial_load(automerge::OnPartialLoad::Error)
            .verification_mode(automerge::VerificationMode::DontCheck),
    );
    match loaded {
        // Changes that build on ones only the target document has parse fine on their own.
        Ok(_) | Err(automerge::AutomergeError::MissingDeps) => Ok(()),
        Err(e) => Err(CoreError::invalid(
            "changes",
            &format!("for {doc} do not load: {e}"),
        )),
    }
}

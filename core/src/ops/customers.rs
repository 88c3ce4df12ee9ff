//! Customer operations: create, identify, read, and record what happens with a customer.

use rusqlite::OptionalExtension;
use std::collections::BTreeMap;

use crate::doc::{self, CustomerDoc, DocId};
use crate::error::{CoreError, Result};
use crate::model::{
    AssociateId, Cart, CartLine, CartStatus, Channel, ConsentPurpose, ConsentRecord, ConsentSource,
    CustomerId, CustomerProfile, Identifier, NfcLink, NfcUid, Note, ONLINE_CART, ProductSku,
    Purchase, SizePreference, StoreId, VariantSku, Visit, VisitSource, WishlistItem,
};
use crate::store::Store;
use crate::validate::{self, MAX_LINES, MAX_NOTE_CHARS};

impl Store {
    /// Every profile of this person: the customer `id` stands for now, then each profile merged
    /// into it (directly or through another). Erasure erases them all.
    pub fn same_person(&self, id: &CustomerId) -> Result<Vec<CustomerId>> {
        let survivor = self.current_id(id)?;
        let mut stmt = self.conn().prepare_cached(
            "WITH RECURSIVE merged(id) AS (
                 SELECT customer_id FROM customer_merges WHERE merged_into = ?1
                 UNION SELECT m.customer_id FROM customer_merges m JOIN merged ON m.merged_into = merged.id)
             SELECT id FROM merged ORDER BY id",
        )?;
        let mut out = vec![survivor.clone()];
        for id in stmt.query_map([survivor.as_str()], |r| r.get::<_, String>(0))? {
            out.push(CustomerId::parse(id?)?);
        }
        Ok(out)
    }

    /// The customer an identifier (`loyalty`, `nfc`, `email`, `phone`, `shop`; stored form)
    /// finds in the index, before following merges.
    pub fn lookup_identifier(&self, kind: &str, value: &str) -> Result<Option<CustomerId>> {
        let id: Option<String> = self
            .conn()
            .query_row(
                "SELECT customer_id FROM customer_identifiers WHERE kind = ?1 AND value = ?2",
                [kind, value],
                |r| r.get(0),
            )
            .optional()?;
        Ok(id.map(CustomerId::parse).transpose()?)
    }

    /// Finds the customer a scan, tap or typed identifier belongs to. Works offline: it reads
    /// only the local index.
    pub fn identify(&self, identifier: &Identifier) -> Result<CustomerId> {
        let (kind, value) = match identifier {
            Identifier::Loyalty(id) => ("loyalty", id.as_str().to_string()),
            Identifier::Nfc(uid) => ("nfc", uid.as_str().to_string()),
            Identifier::Email(email) => ("email", validate::normalize_email(email)?),
            Identifier::Phone(phone) => (
                "phone",
                validate::normalize_phone(phone, &self.default_country_code)?,
            ),
            Identifier::Shop(shop) => ("shop", validate::check_text("shop_customer_id", shop, 64)?),
        };
        let found = self
            .lookup_identifier(kind, &value)?
            .ok_or_else(|| CoreError::not_found("customer with that identifier", value))?;
        self.current_id(&found)
    }

    /// The customer an id stands for now: a profile merged into another redirects there.
    pub fn current_id(&self, id: &CustomerId) -> Result<CustomerId> {
        let mut current = id.clone();
        // Merges chain rarely; the bound stops a corrupt cycle from hanging the tablet.
        for _ in 0..8 {
            let next: Option<String> = self
                .conn()
                .prepare_cached("SELECT merged_into FROM customer_merges WHERE customer_id = ?1")?
                .query_row([current.as_str()], |r| r.get(0))
                .optional()?;
            match next {
                Some(next) => current = CustomerId::parse(next)?,
                None => return Ok(current),
            }
        }
        Err(CoreError::Corrupt {
            doc: format!("customer/{id}"),
            reason: "merged into a chain that does not end".into(),
        })
    }

    /// Everything known about one customer. Loads only that customer's document; an id merged
    /// into another customer opens that one.
    pub fn customer(&self, id: &CustomerId) -> Result<CustomerProfile> {
        let id = &self.current_id(id)?;
        let doc_id = DocId::Customer(id.clone());
        let doc = self
            .load_doc(&doc_id)?
            .ok_or_else(|| CoreError::not_found("customer", id))?;
        let customer: CustomerDoc = doc::hydrate_doc(&doc, &doc_id)?;
        doc::check_schema(customer.schema, &doc_id)?;
        Ok(customer.to_profile())
    }

    /// Loads, changes and commits one customer document.
    pub fn update_customer<T>(
        &mut self,
        id: &CustomerId,
        change: impl FnOnce(&mut CustomerDoc) -> Result<T>,
    ) -> Result<T> {
        // A screen opened before a merge arrived writes to the survivor.
        let doc_id = DocId::Customer(self.current_id(id)?);
        let mut write = self.begin_write(&doc_id, false)?;
        let mut customer: CustomerDoc = doc::hydrate_doc(&write.doc, &doc_id)?;
        doc::check_schema(customer.schema, &doc_id)?;
        let out = change(&mut customer)?;
        autosurgeon::reconcile(&mut write.doc, &customer)?;
        self.commit_writes(vec![write])?;
        Ok(out)
    }

    /// Records that the customer looked at a product (in store: picked up, tried on).
    pub fn record_view(
        &mut self,
        id: &CustomerId,
        product: &ProductSku,
        size: Option<&str>,
    ) -> Result<()> {
        let info = self.product_info(product)?;
        if let Some(size) = size
            && !info.sizes.iter().any(|s| s == size)
        {
            return Err(CoreError::invalid("size", "is not a size of this product"));
        }
        let writer = self.writer().to_string();
        let now = self.now();
        self.update_customer(id, |c| {
            c.tally_view(&writer, product, size, now);
            c.tally_affinity(&writer, None, Some(&info.style));
            Ok(())
        })
    }

    /// Adds a line to a cart. `cart` None starts a new in-store cart in `store`.
    /// Returns the cart id and the new line's id.
    pub fn add_cart_line(
        &mut self,
        id: &CustomerId,
        cart: Option<&str>,
        store: &StoreId,
        variant: &VariantSku,
        quantity: u32,
    ) -> Result<(String, String)> {
        let (cart, mut lines) =
            self.add_cart_lines_inner(id, cart, store, &[(variant.clone(), quantity)])?;
        Ok((cart, lines.remove(0)))
    }

    /// Adds several lines to an in-store cart in one change (pulling the online cart or the
    /// wishlist across). A new cart when `cart` is absent. Returns the cart id.
    pub fn add_cart_lines(
        &mut self,
        id: &CustomerId,
        cart: Option<&str>,
        store: &StoreId,
        lines: &[(VariantSku, u32)],
    ) -> Result<String> {
        Ok(self.add_cart_lines_inner(id, cart, store, lines)?.0)
    }

    fn add_cart_lines_inner(
        &mut self,
        id: &CustomerId,
        cart: Option<&str>,
        store: &StoreId,
        lines: &[(VariantSku, u32)],
    ) -> Result<(String, Vec<String>)> {
        if lines.is_empty() || lines.len() > MAX_LINES {
            return Err(CoreError::invalid(
                "lines",
                &format!("add 1 to {MAX_LINES} lines"),
            ));
        }
        let mut priced = Vec::with_capacity(lines.len());
        for (variant, quantity) in lines {
            validate::check_quantity(*quantity)?;
            let (product, price) = self.variant_product(variant)?;
            let colour = self.variant_colour(variant)?;
            priced.push((
                variant,
                *quantity,
                product,
                price,
                colour,
                self.ids.new_id(),
            ));
        }
        let cart_id = match cart {
            Some(c) => c.to_string(),
            None => self.ids.new_id(),
        };
        let now = self.now();
        let writer = self.writer().to_string();
        self.update_customer(id, |c| {
            let cart = match c.carts.get_mut(&cart_id) {
                Some(cart) if cart.channel == Channel::Store => cart,
                Some(_) => {
                    return Err(CoreError::invalid(
                        "cart",
                        "only in-store carts are edited here",
                    ));
                }
                None if cart.is_none() => c.carts.entry(cart_id.clone()).or_insert(Cart {
                    channel: Channel::Store,
                    store: Some(store.clone()),
                    status: CartStatus::Open,
                    created_at: now,
                    updated_at: now,
                    lines: BTreeMap::new(),
                }),
                None => return Err(CoreError::not_found("cart", &cart_id)),
            };
            if cart.lines.len() + priced.len() > MAX_LINES {
                return Err(CoreError::invalid("cart", "has too many lines"));
            }
            for (variant, quantity, product, price, _, line_id) in &priced {
                cart.lines.insert(
                    line_id.clone(),
                    CartLine {
                        variant: (*variant).clone(),
                        product: product.clone(),
                        quantity: *quantity,
                        unit_price_cents: *price,
                        added_at: now,
                    },
                );
            }
            cart.updated_at = now;
            for (_, _, _, _, colour, _) in &priced {
                c.tally_affinity(&writer, Some(colour), None);
            }
            Ok(())
        })?;
        Ok((cart_id, priced.into_iter().map(|p| p.5).collect()))
    }

    /// Swaps a line for another size or colour of the same product: the old line is removed
    /// and a new one added, so a concurrent quantity change on another tablet cannot revive
    /// the old variant. Returns the new line id.
    pub fn change_cart_line_variant(
        &mut self,
        id: &CustomerId,
        cart: &str,
        line: &str,
        variant: &VariantSku,
    ) -> Result<String> {
        let (product, price) = self.variant_product(variant)?;
        let new_line = self.ids.new_id();
        let now = self.now();
        self.update_customer(id, |c| {
            let cart = c
                .carts
                .get_mut(cart)
                .ok_or_else(|| CoreError::not_found("cart", cart))?;
            let old = cart
                .lines
                .remove(line)
                .ok_or_else(|| CoreError::not_found("cart line", line))?;
            if old.product != product {
                return Err(CoreError::invalid(
                    "variant",
                    "is a different product; add it as a new line",
                ));
            }
            cart.lines.insert(
                new_line.clone(),
                CartLine {
                    variant: variant.clone(),
                    product,
                    quantity: old.quantity,
                    unit_price_cents: price,
                    added_at: now,
                },
            );
            cart.updated_at = now;
            Ok(())
        })?;
        Ok(new_line)
    }

    /// Removes a cart line. A line removed on one tablet stays removed after merging with
    /// another tablet's edits to it.
    pub fn remove_cart_line(&mut self, id: &CustomerId, cart: &str, line: &str) -> Result<()> {
        let now = self.now();
        self.update_customer(id, |c| {
            let cart = c
                .carts
                .get_mut(cart)
                .ok_or_else(|| CoreError::not_found("cart", cart))?;
            if cart.lines.remove(line).is_none() {
                return Err(CoreError::not_found("cart line", line));
            }
            cart.updated_at = now;
            Ok(())
        })
    }

    pub fn set_cart_line_quantity(
        &mut self,
        id: &CustomerId,
        cart: &str,
        line: &str,
        quantity: u32,
    ) -> Result<()> {
        validate::check_quantity(quantity)?;
        let now = self.now();
        self.update_customer(id, |c| {
            let cart = c
                .carts
                .get_mut(cart)
                .ok_or_else(|| CoreError::not_found("cart", cart))?;
            let line = cart
                .lines
                .get_mut(line)
                .ok_or_else(|| CoreError::not_found("cart line", line))?;
            line.quantity = quantity;
            cart.updated_at = now;
            Ok(())
        })
    }

    /// Replaces the online cart as the web shop last saw it (ingested events call this).
    pub fn set_online_cart(
        &mut self,
        id: &CustomerId,
        lines: Vec<(String, VariantSku, u32)>,
        status: CartStatus,
        channel: Channel,
    ) -> Result<()> {
        if lines.len() > MAX_LINES {
            return Err(CoreError::invalid("cart", "has too many lines"));
        }
        let mut priced = BTreeMap::new();
        let now = self.now();
        for (line_id, variant, quantity) in lines {
            validate::check_quantity(quantity)?;
            validate::check_token("line_id", &line_id, 64)?;
            let (product, price) = self.variant_product(&variant)?;
            priced.insert(line_id, (variant, product, quantity, price));
        }
        self.update_customer(id, |c| {
            let cart = c.carts.entry(ONLINE_CART.to_string()).or_insert(Cart {
                channel,
                store: None,
                status,
                created_at: now,
                updated_at: now,
                lines: BTreeMap::new(),
            });
            // Keep each surviving line's original added_at; drop lines no longer in the cart.
            cart.lines.retain(|line_id, _| priced.contains_key(line_id));
            for (line_id, (variant, product, quantity, price)) in priced {
                let added_at = cart.lines.get(&line_id).map_or(now, |l| l.added_at);
                cart.lines.insert(
                    line_id,
                    CartLine {
                        variant,
                        product,
                        quantity,
                        unit_price_cents: price,
                        added_at,
                    },
                );
            }
            cart.status = status;
            cart.channel = channel;
            cart.updated_at = now;
            Ok(())
        })
    }

    pub fn add_to_wishlist(
        &mut self,
        id: &CustomerId,
        product: &ProductSku,
        channel: Channel,
    ) -> Result<()> {
        self.product_info(product)?;
        let now = self.now();
        self.update_customer(id, |c| {
            c.wishlist
                .entry(product.to_string())
                .or_insert(WishlistItem {
                    product: product.clone(),
                    added_at: now,
                    channel,
                });
            Ok(())
        })
    }

    pub fn remove_from_wishlist(&mut self, id: &CustomerId, product: &ProductSku) -> Result<()> {
        self.update_customer(id, |c| {
            c.wishlist
                .remove(product.as_str())
                .map(|_| ())
                .ok_or_else(|| CoreError::not_found("wishlist item", product))
        })
    }

    /// Records a purchase made elsewhere (online order, till import). Sales on this tablet go
    /// through [`Store::sell`], which records the purchase too. Idempotent by `purchase_id`.
    pub fn record_purchase(
        &mut self,
        id: &CustomerId,
        purchase_id: &str,
        purchase: Purchase,
    ) -> Result<()> {
        validate::check_token("purchase_id", purchase_id, 64)?;
        check_purchase(&purchase)?;
        let writer = self.writer().to_string();
        let mut sizes = Vec::new();
        for line in &purchase.lines {
            sizes.push(self.variant_size_pref(&line.variant)?);
        }
        self.update_customer(id, |c| {
            if c.purchases.contains_key(purchase_id) {
                return Ok(());
            }
            learn_sizes(c, &sizes, purchase.at);
            for (_, _, colour) in &sizes {
                c.tally_affinity(&writer, Some(colour), None);
            }
            c.purchases.insert(purchase_id.to_string(), purchase);
            Ok(())
        })
    }

    /// Records a visit (check-in at the kiosk, a card tap, or an associate greeting).
    pub fn record_visit(
        &mut self,
        id: &CustomerId,
        store: &StoreId,
        source: VisitSource,
    ) -> Result<String> {
        self.require_store(store)?;
        let visit_id = self.ids.new_id();
        let at = self.now();
        self.update_customer(id, |c| {
            c.visits.insert(
                visit_id.clone(),
                Visit {
                    store: store.clone(),
                    at,
                    source,
                },
            );
            Ok(())
        })?;
        Ok(visit_id)
    }

    /// Adds an associate's note. Returns the note id.
    pub fn add_note(
        &mut self,
        id: &CustomerId,
        text: &str,
        author: &AssociateId,
        store: Option<&StoreId>,
    ) -> Result<String> {
        let text = validate::check_text("note", text, MAX_NOTE_CHARS)?;
        let note_id = self.ids.new_id();
        let at = self.now();
        self.update_customer(id, |c| {
            c.notes.insert(
                note_id.clone(),
                Note {
                    text,
                    author: author.clone(),
                    store: store.cloned(),
                    at,
                },
            );
            Ok(())
        })?;
        Ok(note_id)
    }

    pub fn set_consent(
        &mut self,
        id: &CustomerId,
        purpose: ConsentPurpose,
        granted: bool,
        source: ConsentSource,
    ) -> Result<()> {
        let at = self.now();
        self.update_customer(id, |c| {
            c.consent.insert(
                purpose.as_key().to_string(),
                ConsentRecord {
                    granted,
                    at,
                    source,
                },
            );
            Ok(())
        })
    }

    /// Links an NFC card to the customer; a card already linked to someone else is refused.
    pub fn link_nfc_card(
        &mut self,
        id: &CustomerId,
        uid: &NfcUid,
        by: Option<&AssociateId>,
    ) -> Result<()> {
        if let Some(owner) = self.lookup_identifier("nfc", uid.as_str())?
            && owner != *id
        {
            return Err(CoreError::invalid(
                "nfc_uid",
                "card is linked to another customer",
            ));
        }
        let at = self.now();
        self.update_customer(id, |c| {
            c.nfc.insert(
                uid.to_string(),
                NfcLink {
                    uid: uid.clone(),
                    linked_at: at,
                    linked_by: by.cloned(),
                },
            );
            Ok(())
        })
    }

    pub fn set_size_preference(
        &mut self,
        id: &CustomerId,
        category: crate::model::Category,
        size: &str,
    ) -> Result<()> {
        let size = validate::check_text("size", size, 16)?;
        let at = self.now();
        self.update_customer(id, |c| {
            c.sizes.insert(
                category.as_key().to_string(),
                SizePreference {
                    size,
                    updated_at: at,
                },
            );
            Ok(())
        })
    }
}

pub fn check_purchase(purchase: &Purchase) -> Result<()> {
    if purchase.lines.is_empty() {
        return Err(CoreError::invalid("purchase", "has no lines"));
    }
    if purchase.lines.len() > MAX_LINES {
        return Err(CoreError::invalid("purchase", "has too many lines"));
    }
    for line in &purchase.lines {
        validate::check_quantity(line.quantity)?;
        if !(0..=validate::MAX_UNIT_PRICE_MINOR).contains(&line.unit_price_cents) {
            return Err(CoreError::invalid(
                "unit_price_cents",
                &format!(
                    "must be between 0 and {}",
                    validate::MAX_UNIT_PRICE_MINOR
                ),
            ));
        }
    }
    Ok(())
}

/// A bought size is the strongest size signal for its category.
pub fn learn_sizes(c: &mut CustomerDoc, sizes: &[(String, String, String)], at: i64) {
    for (category, size, _) in sizes {
        let newer = c.sizes.get(category).is_none_or(|p| p.updated_at <= at);
        if newer {
            c.sizes.insert(
                category.clone(),
                SizePreference {
                    size: size.clone(),
                    updated_at: at,
                },
            );
        }
    }
}

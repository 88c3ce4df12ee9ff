//! Bytes a device pushes as changes to a customer and to an inventory document, through the
//! relay's validation (`DevicePush`) into a real store: refused or applied, never a panic, and
//! the projections stay what the documents say.
#![no_main]

use aisle_core::doc::DocId;
use aisle_core::model::{CustomerId, Role};
use aisle_core::replicate::ChangeCheck;
use aisle_relay::domain::RelayDocs;
use aisle_relay::domain::push::DevicePush;
use libfuzzer_sys::fuzz_target;
use std::sync::{Mutex, OnceLock};

#[path = "demo_relay.rs"]
mod demo_relay;

struct World {
    demo: demo_relay::DemoRelay,
    customer: DocId,
    runs: u64,
}

fn world() -> &'static Mutex<World> {
    static WORLD: OnceLock<Mutex<World>> = OnceLock::new();
    WORLD.get_or_init(|| {
        let demo = demo_relay::demo_relay();
        let customer = demo.relay.doc_ids("customer").expect("customers")[0].clone();
        Mutex::new(World {
            demo,
            customer,
            runs: 0,
        })
    })
}

fuzz_target!(|input: (u8, &[u8])| {
    let (which, bytes) = input;
    let mut world = world().lock().unwrap_or_else(|e| e.into_inner());
    let doc = match which % 3 {
        0 => world.customer.clone(),
        1 => DocId::Inventory(aisle_core::model::StoreId::parse("LDN-CG").expect("a store id")),
        _ => DocId::Customer(
            CustomerId::parse("00000000-0000-4000-8000-000000000001").expect("an id"),
        ),
    };
    // Whoever the bytes say wrote them, the device is one actor.
    let author = aisle_core::automerge::ActorId::from([7u8; 16].as_slice());
    // A manager's tablet: the widest a device's push may reach.
    let check = DevicePush {
        author: &author,
        role: Role::Manager,
    };
    let _ = apply(&mut world.demo.relay, &doc, bytes, &check);
    world.runs += 1;
    // A full projection check reads every document: now and then, not on every run.
    if world.runs % 4096 == 0 {
        assert_eq!(
            world
                .demo
                .relay
                .check_projections()
                .expect("projections readable"),
            Vec::<String>::new()
        );
    }
});

fn apply(
    relay: &mut RelayDocs,
    doc: &DocId,
    bytes: &[u8],
    check: &impl ChangeCheck,
) -> aisle_core::Result<()> {
    relay.apply_changes(vec![(doc.clone(), bytes.to_vec())], check)?;
    Ok(())
}

//! A socket's event handlers, shared between the sockets of a namespace for as long as they
//! are the same (copy-on-write).
//!
//! Connection handlers usually register the same handlers on every socket
//! (`socket.on("chat", |..| ..)` with closures that capture nothing). A table per socket would
//! repeat the same few entries for every connection; instead, sockets that registered the
//! same stateless handlers for the same events, in the same order, point at one table. A
//! handler that carries state (captures something) gives its socket a table of its own.

use std::any::TypeId;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::message::{BoxedMessageHandler, MessageHandler, boxed};
use crate::core::sync::lock;

/// Event name to handler.
pub(crate) type HandlerTable = HashMap<String, BoxedMessageHandler>;

/// What [`SharedTables::insert`] took out, to be dropped once no lock is held: dropping a
/// handler drops what it captured, which is user code.
pub(crate) type Replaced = (Option<Arc<HandlerTable>>, Option<BoxedMessageHandler>);

/// How many shared tables one namespace remembers; past that, sockets build their own.
const MAX_TRANSITIONS: usize = 64;

/// The tables the sockets of one namespace share: the empty one, and each shared table
/// extended by one stateless handler.
#[derive(Default)]
pub(crate) struct SharedTables {
    empty: Arc<HandlerTable>,
    transitions: Mutex<Vec<Transition>>,
}

struct Transition {
    from: Arc<HandlerTable>,
    event: Box<str>,
    /// The handler's type (with its argument types): every value of a zero-sized type that
    /// needs no drop behaves the same, so one instance serves every socket.
    handler: TypeId,
    to: Arc<HandlerTable>,
}

impl SharedTables {
    /// The table of a socket that registered nothing.
    pub(crate) fn empty(&self) -> Arc<HandlerTable> {
        self.empty.clone()
    }

    /// Sets `table`'s handler of `event`: to a shared table when `table` is shared and
    /// `handler` is stateless, else in a table of the socket's own (copied from a shared one
    /// first if need be).
    pub(crate) fn insert<H, T>(
        &self,
        table: &mut Arc<HandlerTable>,
        event: String,
        handler: H,
    ) -> Replaced
    where
        H: MessageHandler<T>,
        T: 'static,
    {
        let stateless = std::mem::size_of::<H>() == 0 && !std::mem::needs_drop::<H>();
        if stateless {
            let key = TypeId::of::<(H, T)>();
            let mut transitions = lock(&self.transitions);
            let known = transitions
                .iter()
                .find(|t| Arc::ptr_eq(&t.from, table) && t.handler == key && *t.event == *event);
            if let Some(known) = known {
                return (Some(std::mem::replace(table, known.to.clone())), None);
            }
            let shared = Arc::ptr_eq(table, &self.empty)
                || transitions.iter().any(|t| Arc::ptr_eq(&t.to, table));
            if shared && transitions.len() < MAX_TRANSITIONS {
                let mut next = HandlerTable::clone(table);
                next.insert(event.clone(), boxed(handler));
                let next = Arc::new(next);
                transitions.push(Transition {
                    from: table.clone(),
                    event: event.into_boxed_str(),
                    handler: key,
                    to: next.clone(),
                });
                return (Some(std::mem::replace(table, next)), None);
            }
        }
        (None, Arc::make_mut(table).insert(event, boxed(handler)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stateless() {}

    #[test]
    fn sockets_share_a_table_until_one_differs() {
        let tables = SharedTables::default();
        let (mut a, mut b) = (tables.empty(), tables.empty());
        let _ = tables.insert(&mut a, "ping".into(), stateless);
        let _ = tables.insert(&mut b, "ping".into(), stateless);
        assert!(Arc::ptr_eq(&a, &b), "same stateless handler, same table");
        assert_eq!(a.len(), 1);

        // Another event: another shared table; the first stays as it was.
        let (mut c, first) = (b.clone(), b.clone());
        let _ = tables.insert(&mut c, "pong".into(), stateless);
        assert!(!Arc::ptr_eq(&c, &first));
        assert_eq!((first.len(), c.len()), (1, 2));

        // A handler with state: a table of the socket's own, the shared one untouched.
        let state = Arc::new(());
        let _ = tables.insert(&mut b, "ping".into(), move || drop(state.clone()));
        assert!(!Arc::ptr_eq(&a, &b));
        assert_eq!((a.len(), b.len()), (1, 1));
        // Registering more on an own table changes it in place.
        let before = Arc::as_ptr(&b);
        let _ = tables.insert(&mut b, "pong".into(), stateless);
        assert_eq!(Arc::as_ptr(&b), before);
        assert_eq!(b.len(), 2);
    }

    #[test]
    fn the_shared_tables_are_bounded() {
        let tables = SharedTables::default();
        for i in 0..2 * MAX_TRANSITIONS {
            let mut table = tables.empty();
            let _ = tables.insert(&mut table, format!("event {i}"), stateless);
        }
        assert_eq!(lock(&tables.transitions).len(), MAX_TRANSITIONS);
    }
}

//! The in-process subscription bus: every dispatched event, once, with its objects preloaded.
use std::sync::Arc;

use tokio::sync::broadcast;

use crate::db::entities::{event, order};
use crate::inventory::StockView;

/// One dispatched event with what subscribers show of it, loaded once for all of them.
#[derive(Debug)]
pub struct LiveEvent {
    pub event: event::Model,
    pub order: Option<order::Model>,
    /// Stock levels the event changed (counts, movements, reservations), as they are now.
    pub stock: Vec<StockView>,
}

#[derive(Clone)]
pub struct Bus {
    sender: broadcast::Sender<Arc<LiveEvent>>,
}

impl Bus {
    /// `buffer`: how many events a subscriber may fall behind before it is told it lagged.
    pub fn new(buffer: usize) -> Bus {
        let (sender, _) = broadcast::channel(buffer.max(1));
        Bus { sender }
    }

    pub fn publish(&self, event: Arc<LiveEvent>) {
        // No receivers is not an error: nobody is listening right now.
        let _ = self.sender.send(event);
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<LiveEvent>> {
        self.sender.subscribe()
    }
}

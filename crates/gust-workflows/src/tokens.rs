//! Task tokens: the `.waitForTaskToken` tasks waiting for SendTaskSuccess,
//! SendTaskFailure or SendTaskHeartbeat.

use std::collections::HashMap;

use parking_lot::Mutex;
use serde_json::Value;
use tokio::sync::mpsc;

/// What a client sent for a token.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum TokenMessage {
    /// SendTaskSuccess: the task's result.
    Success(Value),
    /// SendTaskFailure.
    Failure { error: String, cause: String },
    /// SendTaskHeartbeat.
    Heartbeat,
}

/// The tasks waiting, by token.
#[derive(Default)]
pub(crate) struct Tokens {
    waiting: Mutex<HashMap<String, mpsc::UnboundedSender<TokenMessage>>>,
}

/// A fresh token: 64 random hex digits and a prefix that says what it is.
pub(crate) fn new_token() -> String {
    format!(
        "gust-task-{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

impl Tokens {
    /// A task waits for `token`.
    pub fn register(&self, token: &str) -> mpsc::UnboundedReceiver<TokenMessage> {
        let (tx, rx) = mpsc::unbounded_channel();
        self.waiting.lock().insert(token.to_string(), tx);
        rx
    }

    /// The task no longer waits.
    pub fn forget(&self, token: &str) {
        self.waiting.lock().remove(token);
    }

    /// Hands a message to the task waiting for `token`; `false` if none waits.
    pub fn send(&self, token: &str, message: TokenMessage) -> bool {
        let waiting = self.waiting.lock();
        match waiting.get(token) {
            Some(tx) => tx.send(message).is_ok(),
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_message_reaches_only_the_task_that_waits_for_its_token() {
        let tokens = Tokens::default();
        let token = new_token();
        assert!(token.len() > 64);
        let mut rx = tokens.register(&token);
        assert!(!tokens.send("other", TokenMessage::Heartbeat));
        assert!(tokens.send(&token, TokenMessage::Heartbeat));
        assert_eq!(rx.recv().await, Some(TokenMessage::Heartbeat));
        tokens.forget(&token);
        assert!(!tokens.send(&token, TokenMessage::Heartbeat));
    }
}

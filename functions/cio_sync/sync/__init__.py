"""From member table changes to intents: the change diff and the messages between functions."""

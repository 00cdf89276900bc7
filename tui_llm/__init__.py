"""tui-llm: from 'I have this machine' to chatting with a local model that fits it."""

__version__ = "0.1.0"

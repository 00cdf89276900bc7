"""Subcommands of ``tui-llm``; see ``tui_llm.cli`` for the contract."""

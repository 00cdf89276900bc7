"""The prompt preview: the exact text the engine would read for the next reply.

It runs the same steps as a real reply (``Conversation.prepare``) on a copy of
the session, with the player's input added, and renders the request the way
the runner does; nothing is generated and the real session is not touched.
"""

from __future__ import annotations

import json
from copy import deepcopy
from dataclasses import dataclass
from typing import Any

from tui_llm.chat.conversation import Conversation


@dataclass(frozen=True)
class Preview:
    prompt: str  # the rendered prompt; a JSON list of messages where the runner cannot render
    sampler: dict[str, Any]
    template: str
    lore: tuple[str, ...]
    notice: str
    prompt_tokens: int
    budget: int
    rendered: bool = True  # False: role messages, which the server puts in its own template

    def to_dict(self) -> dict[str, Any]:
        return {"prompt": self.prompt, "sampler": self.sampler, "template": self.template,
                "lore": list(self.lore), "notice": self.notice,
                "prompt_tokens": self.prompt_tokens, "budget": self.budget,
                "rendered": self.rendered}


async def next_prompt(conversation: Conversation, text: str = "", as_action: bool = True) -> Preview:
    """What sending ``text`` now would give the engine (empty text: going on, where that applies)."""
    session = deepcopy(conversation.session)
    session.path = None
    shadow = Conversation(conversation.runner, session, conversation.current_sampler,
                          thinking=conversation.thinking)
    continuing = False
    if text.strip():
        session.add(shadow.input_role(as_action), text if session.mode == "story" else text.strip())
    else:
        continuing = session.last_reply is not None
    request, sampler, _fmt, assembly = await shadow.prepare(continuing)
    runner = conversation.runner
    prompt = request if isinstance(request, str) else await runner.render(request)
    rendered = prompt is not None
    if prompt is None:
        prompt = json.dumps(request, ensure_ascii=False, indent=1)
    return Preview(
        prompt=prompt, sampler=sampler.to_dict(), template=runner.template.name,
        lore=assembly.lore, notice=assembly.notice,
        prompt_tokens=assembly.prompt_tokens, budget=assembly.budget, rendered=rendered,
    )

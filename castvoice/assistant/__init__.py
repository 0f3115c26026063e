"""Talking with a character: language models, the persona from the film, and long-term memory.

    from castvoice.assistant import Conversation, get_llm
    chat = Conversation(workspace, "Diane", get_llm("ollama:llama3.2"))
    for piece in chat.reply("Who stole the lens?"):
        print(piece, end="", flush=True)
"""

from castvoice.assistant.chat import Conversation, reply
from castvoice.assistant.llm import LLMBackend, LLMSettings, Message, get_llm, load_settings
from castvoice.assistant.memory import Memory, MemoryStore
from castvoice.assistant.persona import Persona, load_persona, set_description

__all__ = ["Conversation", "reply", "LLMBackend", "LLMSettings", "Message", "get_llm", "load_settings", "Memory",
           "MemoryStore", "Persona", "load_persona", "set_description"]

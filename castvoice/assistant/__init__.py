"""Talking with a character: language models, the persona from the film, and long-term memory.

    from castvoice.assistant import Conversation, get_llm
    chat = Conversation(workspace, "Diane", get_llm("ollama:llama3.2"))
    for piece in chat.reply("Who stole the lens?"):
        print(piece, end="", flush=True)

    conversation  Conversation: one chat, its prompt kept within the model's window
    turn          take_turn: one exchange, the reply spoken while it is written
    audio         the character's voice, the sound device, spoken messages
    llm           the language model backends
    persona       who the character is; prompt: the prompt built around them
    memory        MemoryStore; facts and summary: what goes into it
"""

from castvoice.assistant.conversation import Conversation, reply
from castvoice.assistant.llm import get_llm
from castvoice.assistant.llm.base import LLMBackend, Message
from castvoice.assistant.llm.settings import LLMSettings, load_settings
from castvoice.assistant.memory import MemoryStore
from castvoice.assistant.persona import Persona, load_persona, set_description

__all__ = ["Conversation", "reply", "LLMBackend", "LLMSettings", "Message", "get_llm", "load_settings",
           "MemoryStore", "Persona", "load_persona", "set_description"]

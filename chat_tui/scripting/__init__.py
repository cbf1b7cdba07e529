"""The scripting commands' halves: the one-shot send, reading (history, tail) and their output.

Never imports Textual or Rich; the one-shot send does not import asyncio either.
"""
